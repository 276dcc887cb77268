package playbooks

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// diagnosticLine is the form of every finding.
var diagnosticLine = regexp.MustCompile(`^testdata/lint/[a-z-]+\.yaml:[1-9][0-9]*:[1-9][0-9]*: .+$`)

// TestLint loads every file of testdata/lint and compares all its findings
// (errors, or the warnings of a file that loads) with its .err golden file.
func TestLint(t *testing.T) {
	files, err := filepath.Glob("testdata/lint/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no lint fixtures: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			pb, err := Load(f, Options{Catalog: defaultPlant})
			var out string
			if err != nil {
				e, ok := AsErrors(err)
				if !ok {
					t.Fatalf("Load returned %T, not *Errors: %v", err, err)
				}
				if len(e.List) == 0 {
					t.Fatal("an *Errors with no findings")
				}
				out = e.Error()
			} else {
				lines := make([]string, len(pb.Warnings))
				for i, w := range pb.Warnings {
					lines[i] = w.String()
				}
				out = strings.Join(lines, "\n")
			}
			for _, l := range strings.Split(out, "\n") {
				if !diagnosticLine.MatchString(l) {
					t.Errorf("finding not in file:line:col form: %q", l)
				}
			}
			golden(t, strings.TrimSuffix(f, ".yaml")+".err", []byte(out+"\n"))
		})
	}
}

// TestLintCatalog: without a catalog, device names are checked by form
// only; with one, against the plant.
func TestLintCatalog(t *testing.T) {
	src := `id: cat
title: Catalog
summary: Devices are checked against the plant when a catalog is given.
references: [{title: NIST SP 800-82r3, url: "https://csrc.nist.gov/pubs/sp/800/82/r3/final"}]
answers: {techniques: [T0816]}
roles: [{id: ot_engineer, decides: x}, {id: plant_manager, decides: y}]
phases:
  - phase: eradicate
    steps:
      - id: restart
        title: Restart
        owner: ot_engineer
        do: x
        gate: {approver: plant_manager, confirm: ok}
        action: {restart_device: {device: plc-elsewhere}}
`
	if _, err := Parse("cat.yaml", []byte(src), Options{}); err != nil {
		t.Errorf("without a catalog: %v", err)
	}
	_, err := Parse("cat.yaml", []byte(src), Options{Catalog: defaultPlant})
	want := `cat.yaml:15:43: no device named "plc-elsewhere" in the plant`
	if err == nil || err.Error() != want {
		t.Errorf("with the catalog: got %v, want %s", err, want)
	}
}

// TestLintBounds: a file over MaxFileSize is refused before parsing, and
// the findings of a file are capped at MaxDiagnostics with the rest counted.
func TestLintBounds(t *testing.T) {
	_, err := Parse("big.yaml", make([]byte, MaxFileSize+1), Options{})
	if err == nil || !strings.Contains(err.Error(), "big.yaml:1:1: file is larger than") {
		t.Errorf("big file: %v", err)
	}
	var b strings.Builder
	b.WriteString("id: many\n")
	for i := 0; i < MaxDiagnostics+50; i++ {
		b.WriteString("k")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(strings.Repeat("y", i/26))
		b.WriteString(": 1\n")
	}
	_, err = Parse("many.yaml", []byte(b.String()), Options{})
	e, ok := AsErrors(err)
	if !ok {
		t.Fatalf("err = %v", err)
	}
	if len(e.List) != MaxDiagnostics || e.Dropped == 0 {
		t.Errorf("kept %d findings, dropped %d; want %d kept and some dropped", len(e.List), e.Dropped, MaxDiagnostics)
	}
	if !strings.HasSuffix(e.Error(), "more") {
		t.Error("the error text does not say findings were dropped")
	}
}
