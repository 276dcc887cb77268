package playbooks

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otrange/otrange/sensor/rules"
)

// TestLintCommand: Lint over the fixture folder prints every finding of
// every file and counts the errors (not the warnings).
func TestLintCommand(t *testing.T) {
	var b bytes.Buffer
	n, err := Lint(&b, []string{"testdata/lint"}, Options{Catalog: defaultPlant})
	if err != nil {
		t.Fatal(err)
	}
	golds, _ := filepath.Glob("testdata/lint/*.err")
	wantErrs, wantWarns := 0, 0
	for _, g := range golds {
		data, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if !strings.Contains(b.String(), l+"\n") {
				t.Errorf("Lint output lacks %q", l)
			}
			if strings.Contains(l, ": warning: ") {
				wantWarns++
			} else {
				wantErrs++
			}
		}
	}
	if n != wantErrs {
		t.Errorf("Lint counted %d errors, the golden files hold %d", n, wantErrs)
	}
	if !strings.HasSuffix(b.String(), "warning(s)\n") || !strings.Contains(b.String(), " error(s), ") {
		t.Errorf("no summary line: %q", b.String()[max(0, b.Len()-80):])
	}
	if _, err := Lint(&b, []string{"testdata/no-such-dir"}, Options{}); err == nil {
		t.Error("a missing path was not an error")
	}
	b.Reset()
	if n, err := Lint(&b, []string{"library"}, Options{Catalog: defaultPlant, Rules: rules.IDs()}); n != 0 || err != nil {
		t.Errorf("library: %d errors, %v:\n%s", n, err, b.String())
	}
}

func TestWriteList(t *testing.T) {
	pbs := library(t)
	var b bytes.Buffer
	if err := WriteList(&b, pbs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != len(pbs)+1 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("list:\n%s", b.String())
	}
	for i, pb := range pbs {
		if !strings.HasPrefix(lines[i+1], pb.ID+" ") || !strings.HasSuffix(lines[i+1], pb.Title) {
			t.Errorf("line %q for %s", lines[i+1], pb.ID)
		}
	}
	b.Reset()
	if err := WriteShow(&b, pbs[0]); err != nil || !strings.HasPrefix(b.String(), "# "+pbs[0].Title) {
		t.Errorf("show: %v\n%s", err, b.String())
	}
}

func BenchmarkParseLibrary(b *testing.B) {
	for b.Loop() {
		if _, err := Library(Options{Catalog: defaultPlant}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	pbs, err := Library(Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		Match(pbs, []string{"T0855", "T0836", "T0816"}, []string{"modbus.write.unauthorized"}, []string{"tank overflow"})
	}
}

func BenchmarkRenderHTML(b *testing.B) {
	pbs, err := Library(Options{})
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := RenderHTML(&buf, pbs[0]); err != nil {
			b.Fatal(err)
		}
	}
}
