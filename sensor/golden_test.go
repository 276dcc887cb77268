package sensor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otrange/otrange/internal/wiretest"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/alert/alerttest"
	"github.com/otrange/otrange/sensor/capture"
	"github.com/otrange/otrange/sensor/rules"
)

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
	for _, pcap := range wiretest.Pcaps(t, "*.pcap") {
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
			if sum := alerttest.Summary(got); sum != string(want) {
				t.Errorf("alerts differ from sensor/rules' golden file:\nwant:\n%sgot:\n%s", want, sum)
			}
			st := s.Stats()
			if st.Packets == 0 || st.Records == 0 || st.DecodeErrors != 0 || st.Panics != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}
