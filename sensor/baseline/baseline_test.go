package baseline_test

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/baseline"
)

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

type collector struct {
	mu     sync.Mutex
	alerts []alert.Alert
}

func (c *collector) Emit(a alert.Alert) {
	c.mu.Lock()
	c.alerts = append(c.alerts, a)
	c.mu.Unlock()
}

func (c *collector) byRule() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, a := range c.alerts {
		out[a.RuleID]++
	}
	return out
}

func (c *collector) dump() string {
	var b strings.Builder
	for _, a := range c.alerts {
		b.WriteString(a.RuleID + ": " + a.Message + "\n")
	}
	return b.String()
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func mbReq(at time.Time, client, server string, unit, fc uint8, addr, qty uint16, values ...uint16) *analyze.Record {
	r := &analyze.Record{Time: at, Frame: 7, Protocol: analyze.ProtoModbus, Dir: analyze.Request, Valid: true, Len: 12,
		Flow: analyze.Flow{Src: ap(client), Dst: ap(server)}}
	r.Modbus.UnitID, r.Modbus.Function, r.Modbus.Address, r.Modbus.Quantity = unit, fc, addr, qty
	r.Modbus.NValues = copy(r.Modbus.Values[:], values)
	return r
}

const (
	hmi  = "10.0.2.1:40000"
	plc1 = "10.0.1.1:502"
	plc2 = "10.0.1.2:502"
	rtu  = "10.0.1.5:20000"
)

// event is one request at a time.
type event struct {
	at time.Time
	r  *analyze.Record
}

// plant generates benign traffic from start for d: an HMI polling two PLCs
// (FC 3 and FC 1 every second, FC 4 every 5 s) and a DNP3 outstation (class
// 0 poll every 2 s), with every interval jittered uniformly by ±jitter, and
// an operator writing setpoint 5 of PLC 1 (values 40..60) now and then.
func plant(seed uint64, start time.Time, d time.Duration, jitter float64) []event {
	rnd := rand.New(rand.NewPCG(seed, 1))
	var evs []event
	stream := func(period time.Duration, mk func(at time.Time) *analyze.Record) {
		at := start.Add(time.Duration(rnd.Float64() * float64(period)))
		for at.Before(start.Add(d)) {
			evs = append(evs, event{at, mk(at)})
			at = at.Add(time.Duration(float64(period) * (1 + jitter*(2*rnd.Float64()-1))))
		}
	}
	stream(time.Second, func(at time.Time) *analyze.Record { return mbReq(at, hmi, plc1, 1, 3, 0, 10) })
	stream(time.Second, func(at time.Time) *analyze.Record { return mbReq(at, hmi, plc1, 1, 1, 0, 16) })
	stream(time.Second, func(at time.Time) *analyze.Record { return mbReq(at, "10.0.2.1:40001", plc2, 1, 3, 100, 20) })
	stream(5*time.Second, func(at time.Time) *analyze.Record { return mbReq(at, "10.0.2.1:40001", plc2, 1, 4, 0, 8) })
	stream(2*time.Second, func(at time.Time) *analyze.Record {
		r := &analyze.Record{Time: at, Protocol: analyze.ProtoDNP3, Dir: analyze.Request, Valid: true,
			Flow: analyze.Flow{Src: ap("10.0.2.1:41000"), Dst: ap(rtu)}}
		r.DNP3.HasApp, r.DNP3.AppFunction, r.DNP3.LinkSrc, r.DNP3.LinkDst = true, 1, 1, 10
		r.DNP3.Objects[0] = analyze.DNP3Object{Group: 60, Variation: 1, Qualifier: 0x06}
		r.DNP3.NObjects = 1
		return r
	})
	// Operator writes: at random (exponential gaps, 45 s on average).
	for at := start.Add(17 * time.Second); at.Before(start.Add(d)); at = at.Add(time.Duration((5 + 40*rnd.ExpFloat64()) * float64(time.Second))) {
		evs = append(evs, event{at, mbReq(at, hmi, plc1, 1, 6, 5, 1, uint16(40+rnd.IntN(21)))})
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	return evs
}

func feed(b *baseline.Baseline, evs []event) {
	for _, e := range evs {
		b.Observe(e.r)
	}
}

func newBaseline(t testing.TB, opts baseline.Options) (*baseline.Baseline, *collector) {
	t.Helper()
	c := &collector{}
	opts.Sink = c
	b, err := baseline.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return b, c
}

// learned returns a model learned over 20 minutes of benign traffic.
var learned = sync.OnceValue(func() *baseline.Model {
	c := &collector{}
	b, err := baseline.New(baseline.Options{Sink: c, LearnFor: 20 * time.Minute})
	if err != nil {
		panic(err)
	}
	feed(b, plant(1, t0, 20*time.Minute, 0.2))
	b.EndLearning()
	if len(c.alerts) != 0 {
		panic("alerts while learning")
	}
	return b.Model()
})

func TestBenignNoAlerts(t *testing.T) {
	for _, jitter := range []float64{0, 0.1, 0.2} {
		b, c := newBaseline(t, baseline.Options{LearnFor: 20 * time.Minute})
		feed(b, plant(1, t0, 20*time.Minute, 0.2))
		if !b.Learning() {
			t.Fatal("learning ended early")
		}
		// More of the same, with another random sequence: learning ends on
		// the first record after 20 minutes.
		feed(b, plant(2, t0.Add(20*time.Minute), time.Hour, jitter))
		if b.Learning() {
			t.Fatal("still learning")
		}
		if len(c.alerts) != 0 {
			t.Errorf("jitter %.0f%%: %d alerts on benign traffic:\n%s", jitter*100, len(c.alerts), c.dump())
		}
		if st := b.Stats(); st.Learned == 0 || st.Alerts != 0 {
			t.Errorf("stats %+v", st)
		}
	}
}

func TestModelContents(t *testing.T) {
	m := learned()
	if len(m.Pairs) != 3 {
		t.Fatalf("%d pairs: %+v", len(m.Pairs), m.Pairs)
	}
	p := m.Pairs[0] // 10.0.2.1 → 10.0.1.1 modbus
	if p.Client.String() != "10.0.2.1" || p.Server.String() != "10.0.1.1" || p.Protocol != "modbus" ||
		!slices.Equal(p.Functions, []int{1, 3, 6}) {
		t.Errorf("pair %+v", p)
	}
	wantAreas := []baseline.Area{
		{Unit: 1, Table: "coils", Access: "read", Ranges: [][2]uint32{{0, 15}}},
		{Unit: 1, Table: "holding_registers", Access: "read", Ranges: [][2]uint32{{0, 9}}},
		{Unit: 1, Table: "holding_registers", Access: "write", Ranges: [][2]uint32{{5, 5}}},
	}
	if !reflect.DeepEqual(p.Areas, wantAreas) {
		t.Errorf("areas %+v", p.Areas)
	}
	if len(p.Values) != 1 || p.Values[0].Address != 5 || p.Values[0].Min < 40 || p.Values[0].Max > 60 {
		t.Errorf("values %+v", p.Values)
	}
	for _, s := range p.Streams {
		switch s.Function {
		case 1, 3:
			if !s.Regular || s.MeanS < 0.95 || s.MeanS > 1.05 || s.StddevS > 0.15 {
				t.Errorf("stream %+v", s)
			}
		case 6:
			if s.Regular {
				t.Errorf("operator writes called regular: %+v", s)
			}
		}
	}
	d := m.Pairs[2]
	if d.Protocol != "dnp3" || !slices.Equal(d.Functions, []int{1}) || len(d.Areas) != 1 || d.Areas[0].Table != "g60" || d.Areas[0].Unit != 10 {
		t.Errorf("dnp3 pair %+v", d)
	}
}

func TestDeviations(t *testing.T) {
	end := t0.Add(20 * time.Minute)
	cases := []struct {
		name  string
		rule  string
		sev   alert.Severity
		tech  []string
		feed  func(b *baseline.Baseline) // runs alongside benign traffic from end
		check func(t *testing.T, a alert.Alert)
	}{
		{"new pair reading", baseline.RuleNewPair, alert.Medium, []string{"T0846"}, func(b *baseline.Baseline) {
			for i := range 10 {
				b.Observe(mbReq(end.Add(time.Duration(i)*3*time.Second), "10.66.0.1:5000", plc1, 1, 3, 0, 10))
			}
		}, func(t *testing.T, a alert.Alert) {
			if a.SrcAddr != "10.66.0.1" || a.DstAddr != "10.0.1.1" || a.Function != "ReadHoldingRegisters" {
				t.Errorf("%+v", a)
			}
		}},
		{"new pair writing", baseline.RuleNewPair, alert.High, []string{"T0855", "T1692.001"}, func(b *baseline.Baseline) {
			b.Observe(mbReq(end.Add(time.Second), "10.66.0.1:5000", plc2, 1, 6, 100, 1, 9))
			b.Observe(mbReq(end.Add(2*time.Second), "10.66.0.1:5000", plc2, 1, 3, 100, 1))
		}, nil},
		{"new function", baseline.RuleNewFunction, alert.Medium, []string{"T0855", "T1692.001"}, func(b *baseline.Baseline) {
			b.Observe(mbReq(end.Add(time.Second), hmi, plc1, 1, 8, 0, 0))
			b.Observe(mbReq(end.Add(2*time.Second), hmi, plc1, 1, 8, 0, 0))
		}, func(t *testing.T, a alert.Alert) {
			if a.Function != "Diagnostics" || !strings.Contains(a.Message, "(8)") {
				t.Errorf("%+v", a)
			}
		}},
		{"new read function", baseline.RuleNewFunction, alert.Medium, []string{"T0888"}, func(b *baseline.Baseline) {
			b.Observe(mbReq(end.Add(time.Second), hmi, plc1, 1, 43, 0, 0))
		}, nil},
		{"new dnp3 function", baseline.RuleNewFunction, alert.Medium, []string{"T0855", "T1692.001"}, func(b *baseline.Baseline) {
			r := &analyze.Record{Time: end.Add(time.Second), Protocol: analyze.ProtoDNP3, Dir: analyze.Request, Valid: true,
				Flow: analyze.Flow{Src: ap("10.0.2.1:41000"), Dst: ap(rtu)}}
			r.DNP3.HasApp, r.DNP3.AppFunction, r.DNP3.LinkSrc, r.DNP3.LinkDst = true, 13, 1, 10
			b.Observe(r)
		}, func(t *testing.T, a alert.Alert) {
			if a.Function != "COLD_RESTART" || *a.Unit != 10 {
				t.Errorf("%+v", a)
			}
		}},
		{"new write register", baseline.RuleNewWrite, alert.High, []string{"T0836", "T0855", "T1692.001"}, func(b *baseline.Baseline) {
			b.Observe(mbReq(end.Add(time.Second), hmi, plc1, 1, 6, 100, 1, 50))
			b.Observe(mbReq(end.Add(3*time.Second), hmi, plc1, 1, 6, 100, 1, 50))
		}, func(t *testing.T, a alert.Alert) {
			if *a.Address != 100 || *a.Unit != 1 {
				t.Errorf("%+v", a)
			}
		}},
		{"write beside the learned register", baseline.RuleNewWrite, alert.High, []string{"T0836", "T0855", "T1692.001"}, func(b *baseline.Baseline) {
			b.Observe(mbReq(end.Add(2*time.Second), hmi, plc1, 1, 6, 4, 1, 50)) // 5 was learned, 4 was not
		}, nil},
		{"value out of range", baseline.RuleValueRange, alert.High, []string{"T0836", "T0855", "T1692.001"}, func(b *baseline.Baseline) {
			b.Observe(mbReq(end.Add(time.Second), hmi, plc1, 1, 6, 5, 1, 1000))
			b.Observe(mbReq(end.Add(5*time.Second), hmi, plc1, 1, 6, 5, 1, 0))
		}, func(t *testing.T, a alert.Alert) {
			if *a.Value != 1000 || *a.Address != 5 {
				t.Errorf("%+v", a)
			}
		}},
		{"polling much faster", baseline.RulePollRhythm, alert.Medium, []string{}, func(b *baseline.Baseline) {
			for i := range 100 {
				b.Observe(mbReq(end.Add(time.Duration(i)*200*time.Millisecond), "10.0.2.1:40001", plc2, 1, 3, 100, 20))
			}
		}, func(t *testing.T, a alert.Alert) {
			if !strings.Contains(a.Message, "faster") {
				t.Errorf("%+v", a)
			}
		}},
		{"polling much slower", baseline.RulePollRhythm, alert.Medium, []string{}, func(b *baseline.Baseline) {
			for i := range 20 {
				b.Observe(mbReq(end.Add(time.Duration(i)*3500*time.Millisecond), "10.0.2.1:40001", plc2, 1, 3, 100, 20))
			}
		}, func(t *testing.T, a alert.Alert) {
			if !strings.Contains(a.Message, "slower") {
				t.Errorf("%+v", a)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, c := newBaseline(t, baseline.Options{Model: learned()})
			if b.Learning() {
				t.Fatal("a loaded model is learning")
			}
			benign := plant(3, end, 2*time.Minute, 0.2)
			// The fast and slow streams replace the benign one.
			if tc.rule == baseline.RulePollRhythm {
				benign = slices.DeleteFunc(benign, func(e event) bool {
					return e.r.Flow.Dst == ap(plc2) && e.r.Modbus.Function == 3
				})
			}
			tc.feed(b)
			feed(b, benign)
			got := c.byRule()
			if len(c.alerts) != 1 || got[tc.rule] != 1 {
				t.Fatalf("alerts %v, want one %s:\n%s", got, tc.rule, c.dump())
			}
			a := c.alerts[0]
			if a.Severity != tc.sev || !slices.Equal(a.Techniques, tc.tech) || a.Techniques == nil || a.Sensor != "otrange" ||
				a.Evidence.FlowID == "" || a.ID == "" {
				t.Errorf("alert %+v", a)
			}
			if tc.check != nil {
				tc.check(t, a)
			}
		})
	}
}

func TestPollStopAndResume(t *testing.T) {
	end := t0.Add(20 * time.Minute)
	b, c := newBaseline(t, baseline.Options{Model: learned(), Window: time.Minute})
	benign := plant(4, end, 10*time.Minute, 0.2)
	stopAt := end.Add(2 * time.Minute)
	resumeAt := end.Add(5 * time.Minute)
	// Coils of PLC 1 go silent for three minutes.
	benign = slices.DeleteFunc(benign, func(e event) bool {
		return e.r.Modbus.Function == 1 && !e.at.Before(stopAt) && e.at.Before(resumeAt)
	})
	var stoppedAt, lastPoll time.Time
	for _, e := range benign {
		if e.r.Modbus.Function == 1 && e.at.Before(stopAt) {
			lastPoll = e.at
		}
		b.Observe(e.r)
		if stoppedAt.IsZero() && len(c.alerts) > 0 {
			stoppedAt = e.at
		}
	}
	if got := c.byRule(); len(c.alerts) != 1 || got[baseline.RulePollRhythm] != 1 {
		t.Fatalf("alerts %v:\n%s", got, c.dump())
	}
	// Silence limit: max(5 × 1 s, 10 s), checked once a second.
	if d := stoppedAt.Sub(lastPoll); d < 10*time.Second || d > 12*time.Second {
		t.Errorf("stop noticed %v after the last poll", d)
	}
	a := c.alerts[0]
	if !strings.Contains(a.Message, "stopped") || !slices.Equal(a.Techniques, []string{"T0815", "T0804", "T1691.002"}) ||
		a.Function != "ReadCoils" || a.DstAddr != "10.0.1.1" || a.DstPort != 502 {
		t.Errorf("%+v", a)
	}
	// Advance alone notices a stop on a quiet network; the resumed stream
	// is re-armed.
	last := benign[len(benign)-1].at
	b.Advance(last.Add(time.Minute))
	if n := len(c.alerts); n != 1+5 { // every regular stream stops, the resumed one again
		t.Errorf("%d alerts after a quiet minute:\n%s", n, c.dump())
	}
}

func TestSuppressionWindow(t *testing.T) {
	end := t0.Add(20 * time.Minute)
	b, c := newBaseline(t, baseline.Options{Model: learned(), Window: time.Minute})
	for i := range 10 { // every 20 s for 200 s
		b.Observe(mbReq(end.Add(time.Duration(i)*20*time.Second), "10.66.0.1:5000", plc1, 1, 3, 0, 10))
	}
	if n := c.byRule()[baseline.RuleNewPair]; n != 4 { // 0, 60, 120, 180 s
		t.Errorf("%d alerts, want 4 (one per minute):\n%s", n, c.dump())
	}
	if st := b.Stats(); st.Suppressed != 6 {
		t.Errorf("stats %+v", st)
	}
}

func TestLearnByCount(t *testing.T) {
	b, c := newBaseline(t, baseline.Options{LearnRecords: 3})
	for i := range 3 {
		b.Observe(mbReq(t0.Add(time.Duration(i)*time.Second), hmi, plc1, 1, 3, 0, 10))
	}
	// Responses and anomalies are not learned nor counted.
	resp := mbReq(t0.Add(3*time.Second), plc1, hmi, 1, 3, 0, 10)
	resp.Dir = analyze.Response
	b.Observe(resp)
	if !b.Learning() {
		t.Fatal("learning ended before the 4th request")
	}
	b.Observe(mbReq(t0.Add(4*time.Second), hmi, plc2, 1, 3, 0, 10))
	if b.Learning() || c.byRule()[baseline.RuleNewPair] != 1 {
		t.Errorf("learning %v alerts %v", b.Learning(), c.byRule())
	}
}

func TestModelRoundTrip(t *testing.T) {
	m := learned()
	path := filepath.Join(t.TempDir(), "model.json")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := baseline.ReadModelFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("round trip differs")
	}
	b, _ := newBaseline(t, baseline.Options{Model: back})
	if again := b.Model(); !reflect.DeepEqual(again, m) {
		var x, y bytes.Buffer
		again.Write(&x)
		m.Write(&y)
		t.Errorf("loaded model differs:\n%s\nwant\n%s", x.String(), y.String())
	}
}

func TestReadModelErrors(t *testing.T) {
	var good bytes.Buffer
	if err := learned().Write(&good); err != nil {
		t.Fatal(err)
	}
	g := good.String()
	cases := map[string]string{
		"unknown field":     strings.Replace(g, `"version": 1`, `"version": 1, "extra": 2`, 1),
		"version":           strings.Replace(g, `"version": 1`, `"version": 2`, 1),
		"protocol":          strings.Replace(g, `"protocol": "dnp3"`, `"protocol": "iec104"`, 1),
		"table":             strings.Replace(g, `"table": "coils"`, `"table": "stack"`, 1),
		"access":            strings.Replace(g, `"access": "read"`, `"access": "execute"`, 1),
		"function":          strings.Replace(g, `"functions": [`, `"functions": [300,`, 1),
		"trailing data":     g + "{}",
		"not json":          "{",
		"negative mean":     strings.Replace(g, `"mean_s": `, `"mean_s": -`, 1),
		"inverted range":    `{"version":1,"pairs":[{"client":"10.0.0.1","server":"10.0.0.2","protocol":"modbus","functions":[3],"areas":[{"unit":1,"table":"coils","access":"read","ranges":[[9,1]]}]}]}`,
		"value min > max":   `{"version":1,"pairs":[{"client":"10.0.0.1","server":"10.0.0.2","protocol":"modbus","functions":[6],"values":[{"unit":1,"address":1,"min":9,"max":1}]}]}`,
		"missing address":   `{"version":1,"pairs":[{"server":"10.0.0.2","protocol":"modbus","functions":[6]}]}`,
		"modbus unit > 255": `{"version":1,"pairs":[{"client":"10.0.0.1","server":"10.0.0.2","protocol":"modbus","functions":[3],"streams":[{"unit":256,"function":3,"address":0,"intervals":1,"mean_s":1,"stddev_s":0}]}]}`,
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			if text == g {
				t.Fatal("the case did not change the model")
			}
			if _, err := baseline.ReadModel(strings.NewReader(text)); err == nil {
				t.Error("accepted")
			}
		})
	}
	if _, err := baseline.ReadModel(strings.NewReader(g)); err != nil {
		t.Errorf("good model refused: %v", err)
	}
	if _, err := baseline.New(baseline.Options{Sink: &collector{}, Model: &baseline.Model{Version: 9}}); err == nil {
		t.Error("New accepted a model of another version")
	}
}

func TestBounds(t *testing.T) {
	b, _ := newBaseline(t, baseline.Options{LearnRecords: 1000, MaxPairs: 2, MaxStreams: 3, MaxValues: 2, MaxRanges: 4})
	for i := range 5 {
		b.Observe(mbReq(t0, hmi, "10.0.1."+string(rune('1'+i))+":502", 1, 3, 0, 10))
	}
	for i := range 10 {
		b.Observe(mbReq(t0, hmi, plc1, 1, 6, uint16(i*10), 1, 7))
	}
	b.EndLearning()
	st := b.Stats()
	if st.PairsDropped != 3 || st.StreamsDropped != 9 || st.ValuesDropped != 8 || st.RangesMerged != 6 {
		t.Errorf("stats %+v", st)
	}
	m := b.Model()
	if len(m.Pairs) != 2 || m.Dropped.Pairs != 3 {
		t.Fatalf("model %+v", m)
	}
	for _, a := range m.Pairs[0].Areas {
		if len(a.Ranges) > 4 {
			t.Errorf("area %+v beyond the bound", a)
		}
	}
	// Suppression keys: 3 kept, the rest evicted and counted.
	b2, c := newBaseline(t, baseline.Options{Model: m, MaxKeys: 3})
	for i := range 6 {
		b2.Observe(mbReq(t0.Add(time.Hour), "10.66.0."+string(rune('1'+i))+":5000", plc1, 1, 3, 0, 10))
	}
	if st := b2.Stats(); st.KeysEvicted != 3 || len(c.alerts) != 6 {
		t.Errorf("stats %+v alerts %d", st, len(c.alerts))
	}
}

func TestOptions(t *testing.T) {
	for name, o := range map[string]baseline.Options{
		"no sink":        {},
		"negative":       {Sink: &collector{}, LearnFor: -1},
		"factor <= 1":    {Sink: &collector{}, RhythmFactor: 1},
		"stop <= 1":      {Sink: &collector{}, StopFactor: 0.5},
		"margin NaN-ish": {Sink: &collector{}, ValueMargin: -0.1},
	} {
		if _, err := baseline.New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
