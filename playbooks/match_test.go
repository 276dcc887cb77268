package playbooks

import (
	"testing"
)

// TestMatchScenarios: for each library scenario's expected detections and
// consequences (the eight of the scenario library, issue 6), the best
// playbook is the right one. The detections are the scenarios' expected
// rule ids and technique ids; rule ids other than modbus.write.unauthorized
// are the names the library expects the sensor's rules to take.
func TestMatchScenarios(t *testing.T) {
	pbs := library(t)
	for _, tc := range []struct {
		scenario                      string
		techniques, rules, conditions []string
		want                          string
	}{
		{"ot-recon", []string{"T0846", "T0888", "T0861"}, []string{"net.scan", "modbus.scan.function_codes", "modbus.identify"}, nil,
			"rogue-device-scan"},
		{"frostygoop-register-writes", []string{"T0855", "T0836"}, []string{"modbus.write.unauthorized"}, []string{"tank overflow"},
			"plc-unauthorized-write"},
		{"oldsmar-setpoint-via-hmi", []string{"T0836", "T0831"}, nil, []string{"unsafe water"},
			"plc-unauthorized-write"},
		{"industroyer-dnp3", []string{"T0855", "T0806", "T0816"}, []string{"dnp3.restart.cold"}, []string{"device offline", "pressure low"},
			"dnp3-outstation-restart"},
		{"blinding-the-operators", []string{"T0878", "T0815", "T0804"}, []string{"dnp3.unsolicited.disable"}, []string{"loss of view"},
			"dnp3-outstation-restart"},
		{"pipedream-ews", []string{"T0843", "T0858", "T0816"}, nil, []string{"device offline"},
			"ews-program-download"},
		{"triton-sis", []string{"T0880", "T0858", "T0843"}, nil, []string{"sis trip"},
			"sis-tampering"},
		{"ekans-ransomware", []string{"T0881", "T0828", "T0829"}, nil, []string{"loss of view", "device offline"},
			"loss-of-view"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			got := Match(pbs, tc.techniques, tc.rules, tc.conditions)
			if len(got) == 0 {
				t.Fatal("no playbook matched")
			}
			if got[0].ID != tc.want {
				t.Errorf("best match %s (score %d), want %s; all: %+v", got[0].ID, got[0].Score, tc.want, got)
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
	// (sis-tampering), 12 (ews-program-download) and 25
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
