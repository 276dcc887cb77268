package baseline_test

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otrange/otrange/internal/wiretest"
	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/analyze/pcapfeed"
	"github.com/otrange/otrange/sensor/baseline"
)

// records returns copies of a capture's records.
func records(t testing.TB, path string) []analyze.Record {
	t.Helper()
	var out []analyze.Record
	a := analyze.New(analyze.Config{Emit: func(r *analyze.Record) { out = append(out, *r) }})
	if _, err := pcapfeed.FeedFile(path, a); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPcapReplay learns each capture whole, then replays it shifted in
// time: the same traffic again raises nothing. zeek-modbusSmall is the
// benign polling capture the brief names; the others must hold too, since
// the replay repeats exactly what was learned.
func TestPcapReplay(t *testing.T) {
	for _, path := range wiretest.Pcaps(t, "*.pcap") {
		name := strings.TrimSuffix(filepath.Base(path), ".pcap")
		t.Run(name, func(t *testing.T) {
			recs := records(t, path)
			if len(recs) == 0 {
				t.Fatal("no records")
			}
			b, c := newBaseline(t, baseline.Options{LearnRecords: 1 << 40})
			for i := range recs {
				b.Observe(&recs[i])
			}
			b.EndLearning()
			m := b.Model()
			if len(m.Pairs) == 0 {
				t.Fatalf("nothing learned from %d records", len(recs))
			}
			// Replay: the gap between the two copies is one median-ish
			// step, the first interval of every stream.
			span := recs[len(recs)-1].Time.Sub(recs[0].Time)
			shift := span + span/time.Duration(len(recs)) + time.Millisecond
			for i := range recs {
				r := recs[i]
				r.Time = r.Time.Add(shift)
				b.Observe(&r)
			}
			if len(c.alerts) != 0 {
				t.Errorf("%d alerts on the replay:\n%s", len(c.alerts), c.dump())
			}
		})
	}
}

// TestPcapModbusSmall checks what is learned from zeek-modbusSmall (one
// host polling itself with FC 1 and FC 15, unit 1, tshark -Y mbtcp) and that
// a new write there is caught.
func TestPcapModbusSmall(t *testing.T) {
	recs := records(t, wiretest.Pcaps(t, "zeek-modbusSmall.pcap")[0])
	b, c := newBaseline(t, baseline.Options{LearnRecords: 1 << 40})
	for i := range recs {
		b.Observe(&recs[i])
	}
	b.EndLearning()
	m := b.Model()
	if len(m.Pairs) != 1 || m.Pairs[0].Protocol != "modbus" || len(m.Pairs[0].Functions) != 2 ||
		m.Pairs[0].Functions[0] != 1 || m.Pairs[0].Functions[1] != 15 || m.Requests != 16 {
		t.Fatalf("model %+v", m)
	}
	last := recs[len(recs)-1]
	r := last
	r.Dir, r.Time = analyze.Request, last.Time.Add(time.Second)
	r.Flow.Src, r.Flow.Dst = netipPair(recs)
	r.Modbus.Function, r.Modbus.Address, r.Modbus.Quantity = 15, 5000, 1
	b.Observe(&r)
	if got := c.byRule(); len(c.alerts) != 1 || got[baseline.RuleNewWrite] != 1 {
		t.Errorf("alerts %v:\n%s", got, c.dump())
	}
}

// netipPair returns the flow of the capture's first request.
func netipPair(recs []analyze.Record) (src, dst netip.AddrPort) {
	for _, r := range recs {
		if r.Dir == analyze.Request {
			return r.Flow.Src, r.Flow.Dst
		}
	}
	return
}
