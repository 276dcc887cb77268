package playbooks

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// plant is the default plant's devices and kinds (simulator/plantdef's
// default plant), as the lead's catalog will give them.
type plant map[string]string

func (p plant) Device(name string) (string, bool) {
	k, ok := p[name]
	return k, ok
}

var defaultPlant = plant{
	"plc-intake": "plc", "plc-treatment": "plc", "plc-distribution": "plc", "sis": "sis",
	"rtu-reservoir": "rtu", "hmi": "hmi", "ews": "ews", "historian": "historian",
}

// golden compares got with the golden file at path, or rewrites it with
// -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs (go test -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
