package yamlstrict

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSuggest(t *testing.T) {
	names := []string{"target", "after", "action"}
	tests := []struct {
		name, key, want string
	}{
		{"one edit", "targt", `; did you mean "target"?`},
		{"two edits", "acton_", `; did you mean "action"?`},
		{"too far: sorted list", "zzz", " (valid: action, after, target)"},
		{"too long to compare", strings.Repeat("a", 65), " (valid: action, after, target)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Suggest(tc.key, names, "valid"); got != tc.want {
				t.Errorf("Suggest(%q) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
	if !slices.Equal(names, []string{"target", "after", "action"}) {
		t.Errorf("Suggest sorted the caller's names: %v", names)
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "abc", 0},
		{"abc", "abd", 1},
		{"kitten", "sitting", 3},
		{"", "four", 4},
		{strings.Repeat("x", 65), "x", 99},
	}
	for _, tc := range tests {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestSyntaxError(t *testing.T) {
	tests := []struct {
		name, msg string
		line      int
		text      string
		ok        bool
	}{
		{"with line", "yaml: line 7: mapping values are not allowed in this context", 7, "mapping values are not allowed in this context", true},
		{"without line", "yaml: control characters are not allowed", 1, "control characters are not allowed", false},
		{"not from yaml", "something else", 1, "something else", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line, text, ok := SyntaxError(tc.msg)
			if line != tc.line || text != tc.text || ok != tc.ok {
				t.Errorf("SyntaxError(%q) = %d, %q, %v; want %d, %q, %v", tc.msg, line, text, ok, tc.line, tc.text, tc.ok)
			}
		})
	}
}

func parse(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	return doc.Content[0]
}

func TestMapping(t *testing.T) {
	n := parse(t, "a: 1\nb: 2\na: 3\n1: x\n<<: {c: 4}\n")
	var problems, keys []string
	report := func(n *yaml.Node, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%d:%d: ", n.Line, n.Column)+fmt.Sprintf(format, args...))
	}
	Mapping(n, report, func(k string, kn, vn *yaml.Node) { keys = append(keys, k) })
	if want := []string{"a", "b"}; !slices.Equal(keys, want) {
		t.Errorf("keys = %q, want %q", keys, want)
	}
	want := []string{
		`3:1: duplicate key "a" (first at line 1)`,
		"4:1: a key must be a plain string, got integer 1",
		"5:1: merge keys (<<) are not supported",
	}
	if !slices.Equal(problems, want) {
		t.Errorf("problems = %q, want %q", problems, want)
	}
}

func TestIntegerAndNumber(t *testing.T) {
	var problems []string
	report := func(n *yaml.Node, format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	if i, ok := Integer(parse(t, "42"), report); !ok || i != 42 {
		t.Errorf("Integer(42) = %d, %v", i, ok)
	}
	if _, ok := Integer(parse(t, "18446744073709551615"), report); ok {
		t.Error("Integer took a value beyond int64")
	}
	if _, ok := Integer(parse(t, "1.5"), report); ok {
		t.Error("Integer took 1.5")
	}
	want := []string{"integer 18446744073709551615 is out of range", "expected an integer, got number 1.5"}
	if !slices.Equal(problems, want) {
		t.Errorf("problems = %q, want %q", problems, want)
	}
	if f, ok := Number(parse(t, "2.5")); !ok || f != 2.5 {
		t.Errorf("Number(2.5) = %g, %v", f, ok)
	}
	for _, src := range []string{".nan", ".inf", `"3"`} {
		if _, ok := Number(parse(t, src)); ok {
			t.Errorf("Number(%s) accepted it", src)
		}
	}
}

func TestFieldsOf(t *testing.T) {
	type s struct {
		Name    string
		Port    int    `yaml:"port,omitempty"`
		Skipped string `yaml:"-"`
		hidden  int
		Flow    string `yaml:",flow"`
	}
	_ = s{}.hidden
	f := FieldsOf(reflect.TypeFor[s]())
	if want := []string{"name", "port", "flow"}; !slices.Equal(f.Names, want) {
		t.Errorf("Names = %q, want %q", f.Names, want)
	}
	if f.Index["port"] != 1 || f.Index["flow"] != 4 {
		t.Errorf("Index = %v", f.Index)
	}
	if !f.OmitEmpty["port"] || f.OmitEmpty["name"] || f.OmitEmpty["flow"] {
		t.Errorf("OmitEmpty = %v", f.OmitEmpty)
	}
}
