package sensor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/capture"
	"github.com/otrange/otrange/sensor/rules"
)

const sharedPcaps = "../../shared/pcaps"

// sharedCaptures returns the shared captures; without the folder the test
// skips, unless CI=true.
func sharedCaptures(t testing.TB) []string {
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

// alertSummary renders alerts the way sensor/rules' golden files do: "rule_id
// count frames=..." lines sorted by rule id, the frames being the last
// evidence frame of each alert.
func alertSummary(alerts []alert.Alert) string {
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

// TestSharedCapturesGolden runs every shared capture end to end through the
// production path (capture file reader, decoder, TCP reassembly, analyzers,
// rules) and compares the alerts with sensor/rules' golden files, which were
// made over the same captures with a simple in-order follower: reassembly
// must neither lose nor invent anything on these captures. The Quickdraw
// captures are judged with the same policy file.
func TestSharedCapturesGolden(t *testing.T) {
	qd, err := rules.LoadPolicy("rules/testdata/quickdraw-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, pcap := range sharedCaptures(t) {
		name := strings.TrimSuffix(filepath.Base(pcap), ".pcap")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var policy *rules.Policy
			if strings.HasPrefix(name, "quickdraw-") {
				policy = qd
			}
			want, err := os.ReadFile(filepath.Join("rules", "testdata", "golden", name+".alerts"))
			if err != nil {
				t.Fatal(err)
			}
			var got []alert.Alert
			s, err := New(Config{Policy: policy, Sink: alert.SinkFunc(func(a alert.Alert) { got = append(got, a) })})
			if err != nil {
				t.Fatal(err)
			}
			src, err := capture.OpenFile(pcap)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if err := s.Run(context.Background(), src); err != nil {
				t.Fatal(err)
			}
			if sum := alertSummary(got); sum != string(want) {
				t.Errorf("alerts differ from sensor/rules' golden file:\nwant:\n%sgot:\n%s", want, sum)
			}
			st := s.Stats()
			if st.Packets == 0 || st.Records == 0 || st.DecodeErrors != 0 || st.Panics != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}
