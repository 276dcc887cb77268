package scenario

import (
	"bytes"
	"strings"
	"testing"
)

// Every built-in scenario lints clean (no errors, no warnings) against the
// default plant.
func TestLibraryLintsClean(t *testing.T) {
	var out bytes.Buffer
	n, err := WriteLint(&out, DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || !strings.Contains(out.String(), " 0 errors, 0 warnings") {
		t.Fatalf("library lint:\n%s", out.String())
	}
}
