package scenario

import (
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/otrange/otrange/internal/yamlstrict"
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
			d.fail(n, path, "expected true or false, got %s", yamlstrict.Describe(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.fail(n, path, "expected true or false, got %s", yamlstrict.Describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := yamlstrict.Integer(n, d.c.node)
		if !ok {
			return
		}
		if v.OverflowInt(i) {
			d.fail(n, path, "%d is out of range for this field", i)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, ok := yamlstrict.Integer(n, d.c.node)
		if !ok {
			return
		}
		if i < 0 || v.OverflowUint(uint64(i)) {
			d.fail(n, path, "%d is out of range for this field (0 to %d)", i, maxUint(t))
			return
		}
		v.SetUint(uint64(i))
	case reflect.Float32, reflect.Float64:
		f, ok := yamlstrict.Number(n)
		if !ok {
			d.fail(n, path, "expected a number, got %s", yamlstrict.Describe(n))
			return
		}
		if v.OverflowFloat(f) {
			d.fail(n, path, "%g is out of range", f)
			return
		}
		v.SetFloat(f)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			d.fail(n, path, "expected a string, got %s", yamlstrict.Describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "expected a list, got %s", yamlstrict.Describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, e := range n.Content {
			d.decode(e, s.Index(i), yamlstrict.Index(path, i))
		}
		v.Set(s)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			d.fail(n, path, "unsupported map key type %s", t.Key())
			return
		}
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "expected a mapping, got %s", yamlstrict.Describe(n))
			return
		}
		m := reflect.MakeMapWithSize(t, len(n.Content)/2)
		d.mapping(n, path, func(k string, kn, vn *yaml.Node) {
			e := reflect.New(t.Elem()).Elem()
			d.decode(vn, e, yamlstrict.Join(path, k))
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		})
		v.Set(m)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "expected a mapping, got %s", yamlstrict.Describe(n))
			return
		}
		fields := yamlstrict.FieldsOf(t)
		d.mapping(n, path, func(k string, kn, vn *yaml.Node) {
			i, ok := fields.Index[k]
			if !ok {
				d.c.node(kn, "unknown key %q%s", k, suggest(k, fields.Names))
				return
			}
			d.decode(vn, v.Field(i), yamlstrict.Join(path, k))
		})
	default:
		d.fail(n, path, "unsupported Go type %s", t)
	}
}

func maxUint(t reflect.Type) uint64 {
	return math.MaxUint64 >> (64 - t.Bits())
}

// mapping calls f for each entry of a mapping node, after checking that keys
// are plain strings and not repeated, and records each key's node.
func (d *decoder) mapping(n *yaml.Node, path string, f func(k string, kn, vn *yaml.Node)) {
	yamlstrict.Mapping(n, d.c.node, func(k string, kn, vn *yaml.Node) {
		d.keys[yamlstrict.Join(path, k)] = kn
		f(k, kn, vn)
	})
}

// MaxDuration bounds every duration in a scenario.
const MaxDuration = 24 * time.Hour

func (d *decoder) duration(n *yaml.Node) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode {
		d.c.node(n, "expected a duration such as 90s or 2m, got %s", yamlstrict.Describe(n))
		return 0, false
	}
	if tag := n.ShortTag(); tag == "!!int" || tag == "!!float" {
		d.c.node(n, "duration %s has no unit: write e.g. %ss or %sm", n.Value, n.Value, n.Value)
		return 0, false
	}
	if n.ShortTag() != "!!str" {
		d.c.node(n, "expected a duration such as 90s or 2m, got %s", yamlstrict.Describe(n))
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
	return yamlstrict.Want(t)
}

// suggest proposes the closest valid name, or lists the valid names.
func suggest(k string, names []string) string { return yamlstrict.Suggest(k, names, "valid") }

// reflectValue returns the addressable value p points to.
func reflectValue(p any) reflect.Value { return reflect.ValueOf(p).Elem() }
