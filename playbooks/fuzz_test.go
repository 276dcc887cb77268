package playbooks

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParse: Parse never panics; every finding has a position; a playbook
// that loads renders in both formats and can be worked through as a
// checklist whose adherence adds up.
func FuzzParse(f *testing.F) {
	lib, _ := fs.Glob(LibraryFS(), "library/*.yaml")
	for _, n := range lib {
		data, err := fs.ReadFile(LibraryFS(), n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	bad, _ := filepath.Glob("testdata/lint/*.yaml")
	for _, n := range bad {
		data, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pb, err := Parse("f.yaml", data, Options{Catalog: defaultPlant})
		if err != nil {
			e, ok := AsErrors(err)
			if !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if len(e.List) == 0 || len(e.List) > MaxDiagnostics {
				t.Fatalf("%d findings", len(e.List))
			}
			for _, d := range e.List {
				if d.File != "f.yaml" || d.Line < 1 || d.Col < 1 || d.Msg == "" || d.Warning {
					t.Fatalf("bad finding %+v", d)
				}
			}
			return
		}
		var b bytes.Buffer
		if err := RenderMarkdown(&b, pb); err != nil {
			t.Fatal(err)
		}
		if err := RenderHTML(&b, pb); err != nil {
			t.Fatal(err)
		}
		work(t, pb)
	})
}

// work checks, approves and decides every step of pb in order.
func work(t *testing.T, pb *Playbook) {
	ctx := context.Background()
	start := time.Unix(1e9, 0)
	cl, err := NewChecklist(pb, ChecklistConfig{Start: start, Executor: &recorder{}, Bindings: bindings})
	if err != nil {
		t.Fatalf("a loaded playbook cannot start a checklist: %v", err)
	}
	for i, ps := range pb.Steps() {
		s, when := ps.Step, start.Add(time.Duration(i)*time.Minute)
		switch {
		case s.Decision != nil:
			_, err = cl.Decide(s.ID, s.Decision.Branches[0].Next, s.Owner, when)
		case s.Gate != nil:
			if _, err = cl.Check(ctx, s.ID, RoleFacilitator, when); err == nil {
				_, err = cl.Approve(ctx, s.ID, s.Gate.Approver, when)
			}
		default:
			_, err = cl.Check(ctx, s.ID, s.Owner, when)
		}
		if err != nil && cl.Steps()[i].State != StateBypassed {
			t.Fatalf("step %s: %v", s.ID, err)
		}
	}
	a := cl.Adherence()
	if a.Done+a.Skipped+a.Bypassed+a.Waiting+a.Pending != a.Total || a.Done != a.Applicable || a.OutOfOrder != 0 {
		t.Fatalf("adherence does not add up: %+v", a)
	}
}
