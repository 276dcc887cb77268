package playbooks

import (
	"testing"

	scenario "github.com/otrange/otrange/scenarios"
)

// TestMatchScenarios: for each scenario of the library (issue 6), the
// playbook that best answers its expected detections (rule and technique
// ids) and consequences is the right one. A new scenario fails this test
// until it is given its playbook here.
func TestMatchScenarios(t *testing.T) {
	pbs := library(t)
	want := map[string]string{
		"ot-recon":          "rogue-device-scan",
		"frostygoop-writes": "plc-unauthorized-write",
		"oldsmar-setpoint":  "plc-unauthorized-write",
		"industroyer-dnp3":  "dnp3-outstation-restart",
		"blind-operators":   "dnp3-outstation-restart",
		"pipedream-ews":     "ews-program-download",
		"triton-sis":        "sis-tampering",
		"ekans-ransomware":  "loss-of-view",
	}
	scs, err := scenario.Library()
	if err != nil {
		t.Fatalf("scenario library: %v", err)
	}
	if len(scs) < len(want) {
		t.Fatalf("%d scenarios in the library, want at least %d", len(scs), len(want))
	}
	for _, sc := range scs {
		t.Run(sc.ID, func(t *testing.T) {
			var techniques, rules, conditions []string
			for _, ps := range sc.AllSteps() {
				e := ps.Step.Expect
				if e == nil {
					continue
				}
				for _, d := range e.Detections {
					if d.Rule != "" {
						rules = append(rules, d.Rule)
					}
					if d.Technique != "" {
						techniques = append(techniques, d.Technique)
					}
				}
				for _, c := range e.Consequences {
					if c.Condition != "none" {
						conditions = append(conditions, c.Condition)
					}
				}
			}
			wantID, ok := want[sc.ID]
			if !ok {
				t.Fatalf("scenario %s has no expected playbook in this test", sc.ID)
			}
			got := Match(pbs, techniques, rules, conditions)
			if len(got) == 0 {
				t.Fatalf("no playbook matched techniques %v, rules %v, conditions %v", techniques, rules, conditions)
			}
			if got[0].ID != wantID {
				t.Errorf("best match %s (score %d), want %s; all: %+v", got[0].ID, got[0].Score, wantID, got)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Score > got[i-1].Score {
					t.Errorf("not ranked: %s (%d) after %s (%d)", got[i].ID, got[i].Score, got[i-1].ID, got[i-1].Score)
				}
			}
		})
	}
}

func TestMatchScoring(t *testing.T) {
	pbs := library(t)
	if got := Match(pbs, nil, nil, nil); len(got) != 0 {
		t.Errorf("nothing seen, matched %v", got)
	}
	if got := Match(pbs, []string{"T9999"}, []string{"no.such.rule"}, []string{"fog"}); len(got) != 0 {
		t.Errorf("unknown ids matched %v", got)
	}
	// Case and spacing are folded; a rule weighs 3, a condition 2, a technique 1.
	got := Match(pbs, []string{"t0855"}, []string{"MODBUS.WRITE.UNAUTHORIZED"}, []string{" Tank  Overflow "})
	if len(got) == 0 || got[0].ID != "plc-unauthorized-write" || got[0].Score != 3+2+1 {
		t.Fatalf("got %+v, want plc-unauthorized-write with score 6", got)
	}
	m := got[0]
	if len(m.Rules) != 1 || len(m.Conditions) != 1 || len(m.Techniques) != 1 || m.Playbook == nil {
		t.Errorf("matched parts %+v", m)
	}
	// Equal scores: the playbook whose answers were more fully seen first.
	// T0816 is answered by three playbooks whose answers weigh 8
	// (sis-tampering), 12 (ews-program-download) and 28
	// (dnp3-outstation-restart).
	got = Match(pbs, []string{"T0816"}, nil, nil)
	if len(got) != 3 {
		t.Fatalf("T0816 matched %d playbooks, want 3: %+v", len(got), got)
	}
	if got[0].ID != "sis-tampering" || got[1].ID != "ews-program-download" || got[2].ID != "dnp3-outstation-restart" {
		t.Errorf("tie order %s, %s, %s; want sis-tampering, ews-program-download, dnp3-outstation-restart",
			got[0].ID, got[1].ID, got[2].ID)
	}
}
