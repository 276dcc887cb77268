package scenario

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The strict decoder: it walks a yaml.Node tree into Go values by
// reflection and reports every problem at its line and column instead of
// stopping at the first. Unknown keys, duplicate keys, wrong types,
// durations without a unit, non-finite numbers, anchors, aliases and merge
// keys are errors. Fields are matched by their `yaml:"name"` tag. An
// interface-typed field (Step.Params) is not decoded: its node is kept in
// raw, keyed by path, for a second pass once the action is known.

type decoder struct {
	c *collector
	// paths holds the node of every decoded path ("phases[0].steps[2].target"),
	// so that checks after decoding report at the right place.
	paths map[string]*yaml.Node
	// keys holds the key node of every mapping entry, by the path of its value.
	keys map[string]*yaml.Node
	// raw holds the nodes of interface-typed fields, decoded later.
	raw map[string]*yaml.Node
	// failed marks the paths whose node could not be decoded at all, so
	// that later checks do not pile "missing" findings on top.
	failed map[string]bool
}

// fail reports a problem with the node at path itself.
func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.failed[path] = true
	d.c.node(n, format, args...)
}

func newDecoder(c *collector) *decoder {
	return &decoder{c: c, paths: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}, raw: map[string]*yaml.Node{}, failed: map[string]bool{}}
}

// nodeDecoder is implemented by types that decode themselves from a node
// (a technique written as "T0836" or as {id: T0836, v19: ...}).
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

var (
	durationType    = reflect.TypeFor[Duration]()
	nodeDecoderType = reflect.TypeFor[nodeDecoder]()
)

// describe names what a node holds, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
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

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		d.fail(n, path, "aliases (*%s) are not supported", n.Value)
		return
	}
	if n.Anchor != "" {
		d.fail(n, path, "anchors (&%s) are not supported", n.Anchor)
		return
	}
	if n.Tag != "" && !strings.HasPrefix(n.Tag, "!!") && !strings.HasPrefix(n.Tag, "tag:yaml.org,2002:") && n.Tag != "!" {
		d.fail(n, path, "custom tag %s is not supported", n.Tag)
		return
	}
	d.paths[path] = n
	t := v.Type()
	if t.Kind() == reflect.Interface {
		d.raw[path] = n
		return
	}
	if v.CanAddr() && reflect.PointerTo(t).Implements(nodeDecoderType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			v.SetZero()
			return
		}
		d.fail(n, path, "missing value: expected %s", want(t))
		return
	}
	if t.Kind() == reflect.Pointer {
		e := reflect.New(t.Elem())
		d.decode(n, e.Elem(), path)
		v.Set(e)
		return
	}
	if t == durationType {
		if dur, ok := d.duration(n); ok {
			v.SetInt(int64(dur))
		}
		return
	}
	switch t.Kind() {
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.fail(n, path, "expected true or false, got %s", describe(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.fail(n, path, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := d.integer(n)
		if !ok {
			return
		}
		if v.OverflowInt(i) {
			d.fail(n, path, "%d is out of range for this field", i)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, ok := d.integer(n)
		if !ok {
			return
		}
		if i < 0 || v.OverflowUint(uint64(i)) {
			d.fail(n, path, "%d is out of range for this field (0 to %d)", i, maxUint(t))
			return
		}
		v.SetUint(uint64(i))
	case reflect.Float32, reflect.Float64:
		f, ok := number(n)
		if !ok {
			d.fail(n, path, "expected a number, got %s", describe(n))
			return
		}
		if v.OverflowFloat(f) {
			d.fail(n, path, "%g is out of range", f)
			return
		}
		v.SetFloat(f)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			d.fail(n, path, "expected a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, e := range n.Content {
			d.decode(e, s.Index(i), index(path, i))
		}
		v.Set(s)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			d.fail(n, path, "unsupported map key type %s", t.Key())
			return
		}
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "expected a mapping, got %s", describe(n))
			return
		}
		m := reflect.MakeMapWithSize(t, len(n.Content)/2)
		d.mapping(n, path, func(k string, kn, vn *yaml.Node) {
			e := reflect.New(t.Elem()).Elem()
			d.decode(vn, e, join(path, k))
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		})
		v.Set(m)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "expected a mapping, got %s", describe(n))
			return
		}
		fields := fieldsOf(t)
		d.mapping(n, path, func(k string, kn, vn *yaml.Node) {
			i, ok := fields.index[k]
			if !ok {
				d.c.node(kn, "unknown key %q%s", k, suggest(k, fields.names))
				return
			}
			d.decode(vn, v.Field(i), join(path, k))
		})
	default:
		d.fail(n, path, "unsupported Go type %s", t)
	}
}

func maxUint(t reflect.Type) uint64 {
	return math.MaxUint64 >> (64 - t.Bits())
}

// mapping calls f for each entry of a mapping node, after checking that keys
// are plain strings and not repeated.
func (d *decoder) mapping(n *yaml.Node, path string, f func(k string, kn, vn *yaml.Node)) {
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind != yaml.ScalarNode || kn.ShortTag() != "!!str" {
			if kn.Kind == yaml.ScalarNode && kn.ShortTag() == "!!merge" {
				d.c.node(kn, "merge keys (<<) are not supported")
			} else {
				d.c.node(kn, "a key must be a plain string, got %s", describe(kn))
			}
			continue
		}
		if first, dup := seen[kn.Value]; dup {
			d.c.node(kn, "duplicate key %q (first at line %d)", kn.Value, first.Line)
			continue
		}
		seen[kn.Value] = kn
		d.keys[join(path, kn.Value)] = kn
		f(kn.Value, kn, vn)
	}
}

func (d *decoder) integer(n *yaml.Node) (int64, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.c.node(n, "expected an integer, got %s", describe(n))
		return 0, false
	}
	var i int64
	if err := n.Decode(&i); err != nil {
		d.c.node(n, "integer %s is out of range", n.Value)
		return 0, false
	}
	return i, true
}

// number reads an integer or floating-point scalar as a finite float64.
func number(n *yaml.Node) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		return 0, false
	}
	var f float64
	if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// MaxDuration bounds every duration in a scenario.
const MaxDuration = 24 * time.Hour

func (d *decoder) duration(n *yaml.Node) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode {
		d.c.node(n, "expected a duration such as 90s or 2m, got %s", describe(n))
		return 0, false
	}
	if tag := n.ShortTag(); tag == "!!int" || tag == "!!float" {
		d.c.node(n, "duration %s has no unit: write e.g. %ss or %sm", n.Value, n.Value, n.Value)
		return 0, false
	}
	if n.ShortTag() != "!!str" {
		d.c.node(n, "expected a duration such as 90s or 2m, got %s", describe(n))
		return 0, false
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.c.node(n, "bad duration %q: use a number with a unit (ms, s, m, h), e.g. 90s", n.Value)
		return 0, false
	}
	if dur < 0 || dur > MaxDuration {
		d.c.node(n, "duration %s is out of range (0 to %s)", n.Value, Duration(MaxDuration))
		return 0, false
	}
	return dur, true
}

// want names the YAML value a Go type expects.
func want(t reflect.Type) string {
	if t == durationType {
		return "a duration"
	}
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

type structFields struct {
	index map[string]int
	names []string // in declaration order
}

func fieldsOf(t reflect.Type) structFields {
	f := structFields{index: map[string]int{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name := strings.ToLower(sf.Name)
		if tag, ok := sf.Tag.Lookup("yaml"); ok {
			tag, _, _ = strings.Cut(tag, ",")
			if tag == "-" {
				continue
			}
			if tag != "" {
				name = tag
			}
		}
		f.index[name] = i
		f.names = append(f.names, name)
	}
	return f
}

// suggest proposes the closest valid name, or lists the valid names.
func suggest(k string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := distance(k, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	s := slices.Clone(names)
	slices.Sort(s)
	return " (valid: " + strings.Join(s, ", ") + ")"
}

// distance is the Levenshtein distance, for short names only.
func distance(a, b string) int {
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

// reflectValue returns the addressable value p points to.
func reflectValue(p any) reflect.Value { return reflect.ValueOf(p).Elem() }
