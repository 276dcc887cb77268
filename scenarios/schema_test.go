package scenario

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// schema.json is what Schema generates (go test -run TestSchemaFile -update
// rewrites it).
func TestSchemaFile(t *testing.T) {
	got := Schema()
	var v map[string]any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	if *update {
		if err := os.WriteFile("schema.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("schema.json is stale: run go test -run TestSchemaFile -update ./scenarios")
	}
}

// An independent validator (python3-jsonschema, draft 2020-12) accepts
// every library scenario and rejects files with unknown keys, a missing
// time, or parameters of the wrong shape.
func TestSchemaValidates(t *testing.T) {
	if err := exec.Command("python3", "-c", "import yaml, jsonschema").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 with yaml and jsonschema is required in CI: %v", err)
		}
		t.Skip("python3 with yaml and jsonschema not available")
	}
	script := `
import json, sys, yaml, jsonschema
# YAML 1.2 booleans only (PyYAML follows YAML 1.1, where the key "on" is true).
class Loader(yaml.SafeLoader): pass
Loader.yaml_implicit_resolvers = {k: [(t, r) for t, r in v if t != "tag:yaml.org,2002:bool"] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Loader.add_implicit_resolver("tag:yaml.org,2002:bool", __import__("re").compile(r"^(?:true|false)$"), list("tf"))
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    doc = yaml.load(open(path), Loader=Loader)
    errs = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
    print(path, "ok" if not errs else "invalid: " + errs[0].message[:100])
`
	lib, _ := filepath.Glob("library/*.yaml")
	bad := []string{"testdata/bad/unknown-keys.yaml", "testdata/bad/timing.yaml", "testdata/bad/wrong-types.yaml", "testdata/bad/unknown-action.yaml"}
	out, err := exec.Command("python3", append([]string{"-c", script, "schema.json"}, append(lib, bad...)...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("validator: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, verdict, _ := strings.Cut(line, " ")
		wantOK := strings.HasPrefix(path, "library/")
		if (verdict == "ok") != wantOK {
			t.Errorf("%s: %s", path, verdict)
		}
	}
}
