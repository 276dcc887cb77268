package plantdef

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/otrange/otrange/internal/yamlstrict"
	"gopkg.in/yaml.v3"
)

// DecodeStrict decodes n into v (a non-nil pointer), strictly: unknown keys,
// duplicate keys, wrong types, durations without a unit, non-finite numbers,
// anchors and aliases are errors. Every problem is collected, each at its
// line and column in file, and returned sorted as an ErrorList.
//
// Struct fields are matched by their `yaml:"name"` tag (the lower-cased field
// name without one; "-" skips a field). time.Duration takes a Go duration
// string ("100ms"); types implementing yaml.Unmarshaler or
// encoding.TextUnmarshaler (such as netip.Addr) decode themselves. A
// yaml.Node field keeps the subtree as it is, for a later DecodeStrict.
func DecodeStrict(file string, n *yaml.Node, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("plantdef: DecodeStrict needs a non-nil pointer, got %T", v)
	}
	c := &collector{file: file}
	d := &decoder{c: c}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			c.node(n, "empty document")
			return c.err()
		}
		n = n.Content[0]
	}
	d.decode(n, rv.Elem(), "")
	return c.err()
}

type decoder struct {
	c *collector
	// paths holds the value node of every decoded path ("devices[2].modbus.unit")
	// when not nil, so that later checks can report at the right place; bad
	// marks the scalar paths that failed to decode, so that later checks do
	// not report them twice.
	paths map[string]*yaml.Node
	bad   map[string]bool
}

func (d *decoder) errCount() int { return len(d.c.errs) + d.c.dropped }

var (
	nodeType     = reflect.TypeFor[yaml.Node]()
	durationType = reflect.TypeFor[time.Duration]()
	unmarshaler  = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarsh  = reflect.TypeFor[encoding.TextUnmarshaler]()
	marshalerT   = reflect.TypeFor[yaml.Marshaler]()
	textMarshalT = reflect.TypeFor[encoding.TextMarshaler]()
)

func scalarType(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct, reflect.Slice, reflect.Map, reflect.Pointer, reflect.Interface:
		return t == durationType || t == nodeType
	}
	return true
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {

	if n.Anchor != "" {
		d.c.node(n, "anchors (&%s) are not supported", n.Anchor)
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag != "" && !strings.HasPrefix(n.Tag, "!!") &&
		!strings.HasPrefix(n.Tag, "tag:yaml.org,2002:") && n.Tag != "!" {
		d.c.node(n, "custom tag %s is not supported", n.Tag)
		return
	}
	t := v.Type()
	if d.paths != nil {
		d.paths[path] = n
		before := d.errCount()
		defer func() {
			if d.errCount() > before && (n.Kind == yaml.ScalarNode || scalarType(t)) {
				d.bad[path] = true
			}
		}()
	}
	if n.Kind == yaml.AliasNode {
		d.c.node(n, "aliases (*%s) are not supported", n.Value)
		return
	}
	if t == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if v.CanAddr() && t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(unmarshaler) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			var l ErrorList
			if errors.As(err, &l) {
				for _, e := range l {
					d.c.at(e.Line, e.Column, "%s", e.Msg)
				}
				return
			}
			d.c.node(n, "%v", err)
		}
		return
	}
	isNull := n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
	if isNull {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			v.SetZero()
			return
		}
		d.c.node(n, "missing value: expected %s", want(t))
		return
	}
	if t.Kind() == reflect.Pointer {
		e := reflect.New(t.Elem())
		d.decode(n, e.Elem(), path)
		v.Set(e)
		return
	}
	if t == durationType {
		d.duration(n, v)
		return
	}
	if reflect.PointerTo(t).Implements(textUnmarsh) && v.CanAddr() {
		if n.Kind != yaml.ScalarNode {
			d.c.node(n, "expected %s, got %s", want(t), yamlstrict.Describe(n))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.c.node(n, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.c.node(n, "expected true or false, got %s", yamlstrict.Describe(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.c.node(n, "expected true or false, got %s", yamlstrict.Describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := yamlstrict.Integer(n, d.c.node)
		if !ok {
			return
		}
		if v.OverflowInt(i) {
			d.c.node(n, "%d is out of range", i)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, ok := yamlstrict.Integer(n, d.c.node)
		if !ok {
			return
		}
		if i < 0 || v.OverflowUint(uint64(i)) {
			d.c.node(n, "%d is out of range", i)
			return
		}
		v.SetUint(uint64(i))
	case reflect.Float32, reflect.Float64:
		f, ok := yamlstrict.Number(n)
		if !ok {
			d.c.node(n, "expected a number, got %s", yamlstrict.Describe(n))
			return
		}
		if v.OverflowFloat(f) {
			d.c.node(n, "%g is out of range", f)
			return
		}
		v.SetFloat(f)
	case reflect.String:
		if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!str" && n.ShortTag() != "!!null" {
			d.c.node(n, "expected a string, got %s; quote it: %q", yamlstrict.Describe(n), n.Value)
			return
		}
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			d.c.node(n, "expected a string, got %s", yamlstrict.Describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.c.node(n, "expected a list, got %s", yamlstrict.Describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, e := range n.Content {
			d.decode(e, s.Index(i), yamlstrict.Index(path, i))
		}
		v.Set(s)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			d.c.node(n, "unsupported map key type %s", t.Key())
			return
		}
		if n.Kind != yaml.MappingNode {
			d.c.node(n, "expected a mapping, got %s", yamlstrict.Describe(n))
			return
		}
		m := reflect.MakeMapWithSize(t, len(n.Content)/2)
		yamlstrict.Mapping(n, d.c.node, func(k string, kn, vn *yaml.Node) {
			e := reflect.New(t.Elem()).Elem()
			d.decode(vn, e, yamlstrict.Join(path, k))
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		})
		v.Set(m)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.c.node(n, "expected a mapping, got %s", yamlstrict.Describe(n))
			return
		}
		fields := yamlstrict.FieldsOf(t)
		yamlstrict.Mapping(n, d.c.node, func(k string, kn, vn *yaml.Node) {
			i, ok := fields.Index[k]
			if !ok {
				d.c.node(kn, "unknown key %q%s", k, yamlstrict.Suggest(k, fields.Names, "valid keys"))
				return
			}
			d.decode(vn, v.Field(i), yamlstrict.Join(path, k))
		})
	case reflect.Interface:
		if t.NumMethod() != 0 {
			d.c.node(n, "unsupported Go type %s", t)
			return
		}
		if x, ok := d.generic(n, path); ok {
			v.Set(reflect.ValueOf(&x).Elem())
		}
	default:
		d.c.node(n, "unsupported Go type %s", t)
	}
}

// generic decodes into map[string]any, []any, string, int, float64 or bool,
// with the same checks on keys, anchors and aliases.
func (d *decoder) generic(n *yaml.Node, path string) (any, bool) {
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		yamlstrict.Mapping(n, d.c.node, func(k string, kn, vn *yaml.Node) {
			var x any
			d.decode(vn, reflect.ValueOf(&x).Elem(), yamlstrict.Join(path, k))
			m[k] = x
		})
		return m, true
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, e := range n.Content {
			d.decode(e, reflect.ValueOf(&s[i]).Elem(), yamlstrict.Index(path, i))
		}
		return s, true
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str", "!!int", "!!bool":
			var x any
			if err := n.Decode(&x); err != nil {
				d.c.node(n, "%v", err)
				return nil, false
			}
			return x, true
		case "!!float":
			if f, ok := yamlstrict.Number(n); ok {
				return f, true
			}
			d.c.node(n, "expected a finite number, got %s", yamlstrict.Describe(n))
			return nil, false
		}
	}
	d.c.node(n, "unsupported value %s", yamlstrict.Describe(n))
	return nil, false
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.c.node(n, "expected a duration such as 100ms or 5s, got %s", yamlstrict.Describe(n))
		return
	}
	if tag := n.ShortTag(); tag == "!!int" || tag == "!!float" {
		d.c.node(n, "duration %s has no unit: write e.g. %sms or %ss", n.Value, n.Value, n.Value)
		return
	}
	if n.ShortTag() != "!!str" {
		d.c.node(n, "expected a duration such as 100ms or 5s, got %s", yamlstrict.Describe(n))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.c.node(n, "bad duration %q: use a number with a unit (ns, us, ms, s, m, h), e.g. 100ms", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

// want names the YAML value a Go type expects.
func want(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration"
	case reflect.PointerTo(t).Implements(textUnmarsh):
		return "a value"
	}
	return yamlstrict.Want(t)
}

// encode turns v into a YAML node: the inverse of decode for the types it
// supports. Zero values of omitempty fields, nil pointers and empty nodes are
// left out; mappings and lists holding only
// scalars are written in flow style.
func encode(v reflect.Value) (*yaml.Node, error) {
	t := v.Type()
	if t == nodeType {
		n := v.Interface().(yaml.Node)
		return &n, nil
	}
	if t.Implements(marshalerT) {
		x, err := v.Interface().(yaml.Marshaler).MarshalYAML()
		if err != nil {
			return nil, err
		}
		return encode(reflect.ValueOf(x))
	}
	if t == durationType {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: formatDuration(time.Duration(v.Int()))}, nil
	}
	if t.Implements(textMarshalT) {
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return nil, err
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: string(b)}, nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return encode(v.Elem())
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		n := new(yaml.Node)
		if err := n.Encode(v.Interface()); err != nil {
			return nil, err
		}
		return n, nil
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := range v.Len() {
			e, err := encode(v.Index(i))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, e)
		}
		flowIfScalars(n, n.Content)
		return n, nil
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		var vals []*yaml.Node
		for _, k := range keys {
			e, err := encode(v.MapIndex(k))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k.String()}, e)
			vals = append(vals, e)
		}
		flowIfScalars(n, vals)
		return n, nil
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		fs := yamlstrict.FieldsOf(t)
		var vals []*yaml.Node
		for _, name := range fs.Names {
			fv := v.Field(fs.Index[name])
			if fv.IsZero() && (fs.OmitEmpty[name] || fv.Kind() == reflect.Pointer || fv.Type() == nodeType) {
				continue
			}
			e, err := encode(fv)
			if err != nil {
				return nil, err
			}
			if e.Kind == 0 {
				continue
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, e)
			vals = append(vals, e)
		}
		flowIfScalars(n, vals)
		return n, nil
	}
	return nil, fmt.Errorf("plantdef: cannot encode %s", t)
}

// formatDuration writes 1m rather than 1m0s, 168h rather than 168h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func flowIfScalars(n *yaml.Node, vals []*yaml.Node) {
	if len(vals) == 0 {
		n.Style = yaml.FlowStyle
		return
	}
	for _, e := range vals {
		if e.Kind != yaml.ScalarNode && !(e.Kind == yaml.SequenceNode && e.Style == yaml.FlowStyle) {
			return
		}
	}
	n.Style = yaml.FlowStyle
}

// marshalNode writes a node as YAML with two-space indentation.
func marshalNode(n *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
