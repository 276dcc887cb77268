// Package yamlstrict holds the pieces that the strict YAML decoders of
// scenarios, plant definitions and playbooks share: naming what a node holds,
// walking a mapping with its key checks, reading integers and numbers,
// matching struct fields by their yaml tag, proposing the closest valid name
// and reading the line out of a yaml.v3 syntax error. Each decoder keeps its
// own walk and its own findings; this package only reports through the
// function it is given.
package yamlstrict

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Report records a problem at a node's line and column.
type Report func(n *yaml.Node, format string, args ...any)

// Describe names what a node holds, for "expected X, got Y" messages.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		switch n.ShortTag() {
		case "!!str":
			return strconv.Quote(v)
		case "!!int":
			return "integer " + v
		case "!!float":
			return "number " + v
		case "!!bool":
			return "boolean " + v
		case "!!null":
			return "nothing"
		default:
			return n.ShortTag() + " " + strconv.Quote(v)
		}
	}
	return "an unknown node"
}

// Join is the path of key below path ("phases[0].steps").
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Index is the path of the i-th entry of the list at path ("phases[0]").
func Index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// Mapping calls f for each entry of a mapping node, after checking that keys
// are plain strings and not repeated; a key that is not is reported and
// skipped.
func Mapping(n *yaml.Node, report Report, f func(k string, kn, vn *yaml.Node)) {
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind != yaml.ScalarNode || kn.ShortTag() != "!!str" {
			if kn.Kind == yaml.ScalarNode && kn.ShortTag() == "!!merge" {
				report(kn, "merge keys (<<) are not supported")
			} else {
				report(kn, "a key must be a plain string, got %s", Describe(kn))
			}
			continue
		}
		if first, dup := seen[kn.Value]; dup {
			report(kn, "duplicate key %q (first at line %d)", kn.Value, first.Line)
			continue
		}
		seen[kn.Value] = kn
		f(kn.Value, kn, vn)
	}
}

// Integer reads an integer scalar that fits in an int64, reporting anything
// else.
func Integer(n *yaml.Node, report Report) (int64, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		report(n, "expected an integer, got %s", Describe(n))
		return 0, false
	}
	var i int64
	if err := n.Decode(&i); err != nil {
		report(n, "integer %s is out of range", n.Value)
		return 0, false
	}
	return i, true
}

// Number reads an integer or floating-point scalar as a finite float64.
func Number(n *yaml.Node) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		return 0, false
	}
	var f float64
	if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// Want names the YAML value a Go type of a basic kind expects. Callers
// check their own special types (durations, text values) first.
func Want(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	}
	return "a value"
}

// Fields are the keys of a struct type: an exported field's `yaml:"name"`
// tag, or its lower-cased name without one; a "-" tag leaves it out.
type Fields struct {
	Index     map[string]int  // field index by key
	Names     []string        // keys in declaration order
	OmitEmpty map[string]bool // keys tagged ",omitempty"
}

// FieldsOf lists the keys of struct type t.
func FieldsOf(t reflect.Type) Fields {
	f := Fields{Index: map[string]int{}, OmitEmpty: map[string]bool{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name := strings.ToLower(sf.Name)
		if tag, ok := sf.Tag.Lookup("yaml"); ok {
			tag, opts, _ := strings.Cut(tag, ",")
			if tag == "-" {
				continue
			}
			if tag != "" {
				name = tag
			}
			f.OmitEmpty[name] = opts == "omitempty"
		}
		f.Index[name] = i
		f.Names = append(f.Names, name)
	}
	return f
}

// Suggest proposes the name closest to k, at most two edits away, as
// `; did you mean "name"?`, or else lists the names sorted, as
// ` (label: a, b)`.
func Suggest(k string, names []string, label string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := Distance(k, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	s := slices.Clone(names)
	slices.Sort(s)
	return " (" + label + ": " + strings.Join(s, ", ") + ")"
}

// Distance is the Levenshtein distance, for short names only: either longer
// than 64 bytes counts as far (99).
func Distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// SyntaxError splits one message of a yaml.v3 error into the line it names
// and its text. ok is false when the message names no line; line is then 1
// and text is the message without its "yaml: " prefix.
func SyntaxError(msg string) (line int, text string, ok bool) {
	if m := syntaxLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		return line, m[2], true
	}
	return 1, strings.TrimPrefix(msg, "yaml: "), false
}
