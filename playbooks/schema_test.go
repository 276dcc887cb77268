package playbooks

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestSchemaInSync keeps schema.json's enumerations and keys in step with
// the loader: each enumeration against the Go list, each object's keys
// against the keys the loader knows (read from its unknown-key error).
func TestSchemaInSync(t *testing.T) {
	raw, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	get := func(path ...string) any {
		var v any = schema
		for _, p := range path {
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("schema: %s is not an object", strings.Join(path, "."))
			}
			v = m[p]
		}
		return v
	}
	strs := func(v any) []string {
		l, _ := v.([]any)
		out := make([]string, len(l))
		for i, x := range l {
			out[i], _ = x.(string)
		}
		return out
	}
	keys := func(v any) []string {
		m, _ := v.(map[string]any)
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	step := get("$defs", "step", "properties")
	procRule := get("$defs", "step", "allOf").([]any)[0].(map[string]any)["then"].(map[string]any)
	for _, tc := range []struct {
		name      string
		got, want []string
	}{
		{"phases", strs(get("properties", "phases", "items", "properties", "phase", "enum")), toStrings(Phases)},
		{"standard roles", strs(get("$defs", "standardRole", "enum")), StandardRoles},
		{"audiences", strs(step.(map[string]any)["communicate"].(map[string]any)["properties"].(map[string]any)["audience"].(map[string]any)["enum"]), toStrings(Audiences)},
		{"actions", keys(get("$defs", "action", "properties")), sorted(toStrings(ActionKinds))},
		{"modes", strs(get("$defs", "action", "properties", "set_mode", "properties", "mode", "enum")), Modes},
		{"conditions", strs(get("properties", "answers", "properties", "conditions", "items", "examples")), Conditions},
		{"operations approvers", strs(procRule["properties"].(map[string]any)["gate"].(map[string]any)["properties"].(map[string]any)["approver"].(map[string]any)["enum"]), operationsRoles},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s: schema %v, loader %v", tc.name, tc.got, tc.want)
		}
	}

	// Object keys: provoke the loader's unknown-key error at each level.
	known := regexp.MustCompile(`unknown key "zz" \(known: ([a-z_, ]+)\)`)
	loaderKeys := func(src string) []string {
		_, err := Parse("k.yaml", []byte(src), Options{})
		m := known.FindStringSubmatch(err.Error())
		if m == nil {
			t.Fatalf("no unknown-key error for %q: %v", src, err)
		}
		return strings.Split(m[1], ", ")
	}
	stepYAML := "phases: [{phase: contain, steps: [{%s}]}]"
	for _, tc := range []struct {
		name   string
		src    string
		schema any
	}{
		{"playbook", "zz: 1", get("properties")},
		{"reference", "references: [{zz: 1}]", get("properties", "references", "items", "properties")},
		{"answers", "answers: {zz: 1}", get("properties", "answers", "properties")},
		{"role", "roles: [{zz: 1}]", get("properties", "roles", "items", "properties")},
		{"phase", "phases: [{zz: 1}]", get("properties", "phases", "items", "properties")},
		{"step", strings.Replace(stepYAML, "%s", "zz: 1", 1), step},
		{"gate", strings.Replace(stepYAML, "%s", "gate: {zz: 1}", 1), get("$defs", "step", "properties", "gate", "properties")},
		{"decision", strings.Replace(stepYAML, "%s", "decision: {zz: 1}", 1), get("$defs", "step", "properties", "decision", "properties")},
		{"branch", strings.Replace(stepYAML, "%s", "decision: {branches: [{zz: 1}]}", 1),
			get("$defs", "step", "properties", "decision", "properties", "branches", "items", "properties")},
		{"communicate", strings.Replace(stepYAML, "%s", "communicate: {zz: 1}", 1), get("$defs", "step", "properties", "communicate", "properties")},
		{"block_host", strings.Replace(stepYAML, "%s", "action: {block_host: {zz: 1}}", 1), get("$defs", "hostParams", "properties")},
		{"set_mode", strings.Replace(stepYAML, "%s", "action: {set_mode: {zz: 1}}", 1), get("$defs", "action", "properties", "set_mode", "properties")},
		{"restart_device", strings.Replace(stepYAML, "%s", "action: {restart_device: {zz: 1}}", 1), get("$defs", "deviceParams", "properties")},
	} {
		if got, want := keys(tc.schema), loaderKeys(tc.src); !slices.Equal(got, want) {
			t.Errorf("%s keys: schema %v, loader %v", tc.name, got, want)
		}
	}
}

func toStrings[T ~string](l []T) []string {
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = string(x)
	}
	return out
}

func sorted(l []string) []string {
	l = slices.Clone(l)
	slices.Sort(l)
	return l
}

// TestReadmeExample: the format example in README.md loads.
func TestReadmeExample(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	i := strings.Index(s, "```yaml\n")
	if i < 0 {
		t.Fatal("no yaml example in README.md")
	}
	s = s[i+len("```yaml\n"):]
	s = s[:strings.Index(s, "```")]
	pb, err := Parse("README.md", []byte(s), Options{Catalog: defaultPlant})
	if err != nil {
		t.Fatal(err)
	}
	if len(pb.Steps()) != 4 {
		t.Errorf("%d steps", len(pb.Steps()))
	}
}
