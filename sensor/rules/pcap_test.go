package rules_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/analyze/pcapfeed"
	"github.com/otrange/otrange/sensor/rules"
)

var update = flag.Bool("update", false, "regenerate testdata/golden/*.alerts")

const sharedPcaps = "../../../shared/pcaps"

// pcaps returns the shared captures; without the folder the test skips,
// unless CI=true.
func pcaps(t testing.TB) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(sharedPcaps, "*.pcap"))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no captures in %s: CI must have them", sharedPcaps)
		}
		t.Skipf("no captures in %s (the shared folder beside the checkout is absent); skipping", sharedPcaps)
	}
	return files
}

// runCapture feeds a capture through the analyzer and the engine and
// returns the alerts.
func runCapture(t testing.TB, path string, policy *rules.Policy) []alert.Alert {
	t.Helper()
	var alerts []alert.Alert
	e, err := rules.New(rules.Config{Policy: policy, Sink: alert.SinkFunc(func(a alert.Alert) { alerts = append(alerts, a) })})
	if err != nil {
		t.Fatal(err)
	}
	a := analyze.New(analyze.Config{Emit: e.Evaluate})
	if _, err := pcapfeed.FeedFile(path, a); err != nil {
		t.Fatal(err)
	}
	return alerts
}

// summary renders "rule_id count frames=..." lines, sorted by rule id; the
// frames are the last evidence frame of each alert.
func summary(alerts []alert.Alert) string {
	frames := map[string][]string{}
	for _, a := range alerts {
		f := a.Evidence.Frames
		frames[a.RuleID] = append(frames[a.RuleID], fmt.Sprint(f[len(f)-1]))
	}
	ids := make([]string, 0, len(frames))
	for id := range frames {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "%s %d frames=%s\n", id, len(frames[id]), strings.Join(frames[id], ","))
	}
	return b.String()
}

// TestCaptures runs every shared capture through the rules and compares the
// alerts (rule ids, counts, frames) with testdata/golden/NAME.alerts. The
// Quickdraw captures are judged with testdata/quickdraw-policy.yaml, the
// others without a policy. See testdata/golden/README.md for why each
// capture raises what it raises.
func TestCaptures(t *testing.T) {
	qd, err := rules.LoadPolicy("testdata/quickdraw-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, pcap := range pcaps(t) {
		name := strings.TrimSuffix(filepath.Base(pcap), ".pcap")
		t.Run(name, func(t *testing.T) {
			var policy *rules.Policy
			if strings.HasPrefix(name, "quickdraw-") {
				policy = qd
			}
			got := summary(runCapture(t, pcap, policy))
			golden := filepath.Join("testdata", "golden", name+".alerts")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("golden file: %v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("alerts differ from %s:\nwant:\n%sgot:\n%s", golden, want, got)
			}
		})
	}
}
