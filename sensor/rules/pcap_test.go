package rules_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otrange/otrange/internal/wiretest"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/alert/alerttest"
	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/analyze/pcapfeed"
	"github.com/otrange/otrange/sensor/rules"
)

var update = flag.Bool("update", false, "regenerate testdata/golden/*.alerts")

// sharedPcaps is ../shared/pcaps from the project root, for the benchmark.
const sharedPcaps = "../../../shared/pcaps"

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
	for _, pcap := range wiretest.Pcaps(t, "*.pcap") {
		name := strings.TrimSuffix(filepath.Base(pcap), ".pcap")
		t.Run(name, func(t *testing.T) {
			var policy *rules.Policy
			if strings.HasPrefix(name, "quickdraw-") {
				policy = qd
			}
			got := alerttest.Summary(runCapture(t, pcap, policy))
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
