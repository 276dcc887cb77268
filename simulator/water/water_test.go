package water

import (
	"errors"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

const tick = 100 * time.Millisecond

func newPlant(t testing.TB, cfg Config) *Plant {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func write(t testing.TB, p *Plant, name string, v float64) {
	t.Helper()
	if err := p.Write(name, v); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
}

func read(t testing.TB, p *Plant, name string) float64 {
	t.Helper()
	v, ok := p.Read(name)
	if !ok {
		t.Fatalf("no tag %s", name)
	}
	return v
}

// run steps the plant for d at the given tick, calling each (if not nil)
// before every step with the time elapsed so far.
func run(p *Plant, d, dt time.Duration, each func(time.Duration)) {
	for el := time.Duration(0); el < d; el += dt {
		if each != nil {
			each(el)
		}
		p.Step(dt)
	}
}

func quiet() Config {
	c := DefaultConfig()
	c.Noise = 0
	return c
}

// TestMassBalance drives the plant hard for hours (pumps toggling,
// overflows, backwash, dosing, a dead-headed outlet, starved boosters) and
// checks that every m³ is accounted for.
func TestMassBalance(t *testing.T) {
	for _, tc := range []struct{ d, dt time.Duration }{{time.Hour, tick}, {12 * time.Hour, time.Second}} {
		t.Run(tc.dt.String(), func(t *testing.T) {
			p := newPlant(t, DefaultConfig())
			run(p, tc.d, tc.dt, func(el time.Duration) {
				m := el.Minutes()
				_ = p.Write("intake.pump2.run", b2f(int(m)%90 < 50))
				_ = p.Write("filter1.backwash", b2f(int(m)%240 < 10))
				_ = p.Write("filter2.backwash", b2f(int(m)%240 >= 120 && int(m)%240 < 130))
				_ = p.Write("dist.pump3.run", b2f(int(m)%60 < 20))
				_ = p.Write("dist.valve", 100-90*b2f(int(m)%300 < 5))
				_ = p.Write("booster.pump2.run", b2f(int(m)%100 < 70))
				_ = p.Write("dist.pump1.reset", 1)
				_ = p.Write("dist.pump2.reset", 1)
				_ = p.Write("booster.pump1.reset", 1)
			})
			b := p.Balance()
			c := p.Consequences()
			if b.Spilled <= 0 || b.Waste <= 0 || b.Delivered <= 0 {
				t.Fatalf("the test should exercise spill, waste and delivery: %+v", b)
			}
			if c.Elapsed != tc.d {
				t.Fatalf("elapsed %v", c.Elapsed)
			}
			if r := b.Residual(); math.Abs(r) > 1e-9*b.In {
				t.Fatalf("mass balance off by %.3g m³: %+v", r, b)
			}
		})
	}
}

// steadyMixer runs the plant with the filter valve at valve % and the
// hypochlorite and NaOH rates from rates(flow), and returns the treated
// chlorine and pH once steady.
func steadyMixer(t *testing.T, valve float64, rates func(flow float64) (cl, naoh float64)) (cl, ph, flow float64) {
	t.Helper()
	c := quiet()
	c.Raw.Initial = 4.5
	c.IntakePumps[1].Run = true
	p := newPlant(t, c)
	write(t, p, "filter.valve", valve)
	run(p, 10*time.Minute, tick, func(time.Duration) {
		q := read(t, p, "filter.flow")
		r1, r2 := rates(q)
		write(t, p, "dosing.cl.rate", r1)
		write(t, p, "dosing.naoh.rate", r2)
	})
	if lvl := read(t, p, "raw.level"); lvl < c.Raw.SuctionMin {
		t.Fatalf("raw tank fell to %.2f m: the filter flow was not the valve's", lvl)
	}
	return read(t, p, "treated.chlorine"), read(t, p, "treated.ph"), read(t, p, "filter.flow")
}

func TestDosingFollowsFlow(t *testing.T) {
	fixed := func(float64) (float64, float64) { return 4, 6 }
	cl1, ph1, q1 := steadyMixer(t, 40, fixed)
	cl2, ph2, q2 := steadyMixer(t, 80, fixed)
	if math.Abs(q2/q1-2) > 1e-6 {
		t.Fatalf("flows %.1f and %.1f m³/h: not doubled", q1, q2)
	}
	// The dosed solution adds a little volume: C = dose/(Q + q_solution).
	if r := cl1 / cl2; math.Abs(r-2) > 0.01 {
		t.Fatalf("doubling the flow at a fixed dose rate: chlorine %.3f -> %.3f mg/L, ratio %.4f, want 2", cl1, cl2, r)
	}
	if want := 4 * 125 / q1; math.Abs(cl1-want) > 0.01*want {
		t.Fatalf("chlorine %.3f mg/L at %.1f m³/h and 4 L/h of 125 g/L, want %.3f", cl1, q1, want)
	}
	if !(ph1 > ph2) {
		t.Fatalf("halving the NaOH per m³ should lower the pH: %.3f -> %.3f", ph1, ph2)
	}
	paced := func(q float64) (float64, float64) { return q * 1.5 / 125, q * 8 / 317.5 } // 1.5 mg/L Cl, 8 mg/L NaOH
	pc1, pph1, _ := steadyMixer(t, 40, paced)
	pc2, pph2, _ := steadyMixer(t, 80, paced)
	if math.Abs(pc1-1.5) > 0.02 || math.Abs(pc2-1.5) > 0.02 {
		t.Fatalf("flow-paced 1.5 mg/L dosing gives %.3f and %.3f mg/L", pc1, pc2)
	}
	if math.Abs(pph1-pph2) > 0.01 {
		t.Fatalf("flow-paced NaOH gives pH %.3f and %.3f", pph1, pph2)
	}
}

func TestPHModel(t *testing.T) {
	ct := carbonateOf(1.2, 7.0)
	cases := []struct {
		name   string
		naohMg float64 // mg/L of NaOH added
		lo, hi float64
	}{
		{"river water", 0, 6.99, 7.01},
		{"normal dose", 7, 7.3, 7.9},
		{"above the limit", 25, 8.5, 10},
		{"Oldsmar: 100x", 700, 11.5, 13},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ph := solvePH(1.2+tc.naohMg/40, ct, 7)
			if ph < tc.lo || ph > tc.hi {
				t.Fatalf("pH %.3f, want %.1f–%.1f", ph, tc.lo, tc.hi)
			}
			if back := alkalinityOf(ct, ph); math.Abs(back-(1.2+tc.naohMg/40)) > 1e-6 {
				t.Fatalf("alkalinity round trip %.6f", back)
			}
		})
	}
}

func TestRawTankOverflow(t *testing.T) {
	c := quiet()
	c.IntakePumps[1].Run = true
	p := newPlant(t, c)
	write(t, p, "filter.valve", 0)
	// 2 m of headroom × 40 m² at 500 m³/h: 9.6 minutes.
	run(p, 9*time.Minute, tick, nil)
	if s := p.Consequences().Spills[0]; s.Volume != 0 || s.Overflowing {
		t.Fatalf("overflow before the tank is full: %+v", s)
	}
	run(p, 2*time.Minute, tick, nil)
	s := p.Consequences().Spills[0]
	if s.Tank != "raw" || !s.Overflowing {
		t.Fatalf("not overflowing after 11 minutes: %+v", s)
	}
	// 11 minutes at 500 m³/h minus the 80 m³ of headroom.
	if want := 500*11.0/60 - 80; math.Abs(s.Volume-want) > 0.5 {
		t.Fatalf("spilled %.2f m³, want %.2f", s.Volume, want)
	}
	if lvl := read(t, p, "raw.level"); lvl != c.Raw.Height {
		t.Fatalf("raw level %.3f, want the overflow height", lvl)
	}
}

func TestDistributionPumpsRunDryAndTrip(t *testing.T) {
	c := quiet()
	c.ClearWell.Initial = 0.6
	p := newPlant(t, c)
	write(t, p, "filter.valve", 0)
	var dryAt time.Duration
	run(p, 30*time.Minute, tick, func(el time.Duration) {
		if dryAt == 0 && read(t, p, "clearwell.level") < c.ClearWell.SuctionMin {
			dryAt = el
		}
		if dryAt == 0 && read(t, p, "dist.pump1.tripped") != 0 {
			t.Fatalf("pump tripped at %v with the clear well at %.3f m", el, read(t, p, "clearwell.level"))
		}
	})
	if dryAt == 0 {
		t.Fatal("clear well never went below suction")
	}
	c2 := p.Consequences()
	for _, pr := range c2.Pumps[2:4] { // dist.pump1, dist.pump2
		if !pr.Tripped || pr.Trips != 1 || pr.DryRun < c.DistPumps[0].DryRunTrip || pr.Running {
			t.Fatalf("%+v: want tripped after %v dry", pr, c.DistPumps[0].DryRunTrip)
		}
		if pr.Wear < 30.0/3600*c.DistPumps[0].WearPerHour*c.DistPumps[0].DryWearFactor {
			t.Fatalf("%s: dry running should wear the pump: %.5f %%", pr.Pump, pr.Wear)
		}
	}
	if !c2.LowPressure.Active || c2.LowPressure.Since < dryAt {
		t.Fatalf("no water to the network should be low pressure since %v: %+v", dryAt, c2.LowPressure)
	}
	// The booster station loses suction too and trips.
	if pr := c2.Pumps[5]; pr.Pump != "booster.pump1" || !pr.Tripped {
		t.Fatalf("booster starved but not tripped: %+v", pr)
	}
	// Resetting a trip with the tank still empty trips the pump again.
	write(t, p, "dist.pump1.reset", 1)
	run(p, 5*time.Second, tick, nil)
	if read(t, p, "dist.pump1.running") != 1 || read(t, p, "dist.pump1.reset") != 0 {
		t.Fatal("reset did not restart the pump (or the reset bit did not clear)")
	}
	run(p, 2*time.Minute, tick, nil)
	if got := p.Consequences().Pumps[2]; got.Trips != 2 {
		t.Fatalf("pump run dry again after reset: trips %d", got.Trips)
	}
}

func TestDeadHeadTrips(t *testing.T) {
	p := newPlant(t, quiet())
	write(t, p, "dist.valve", 0)
	run(p, time.Second, tick, nil)
	shutoff := 65 * 0.85 * 0.85 * barPerMetre // two pumps at 85 %
	if pd, pn := read(t, p, "dist.pressure"), read(t, p, "network.pressure"); math.Abs(pd-shutoff) > 1e-9 || pn != 0 {
		t.Fatalf("closed outlet: header %.2f bar (want shutoff), network %.2f", pd, pn)
	}
	run(p, 40*time.Second, tick, nil)
	pr := p.Consequences().Pumps[2]
	if !pr.Tripped || pr.NoFlow < 30*time.Second {
		t.Fatalf("dead-headed pump: %+v", pr)
	}
}

func TestPumpCurveAndPressure(t *testing.T) {
	p := newPlant(t, quiet())
	run(p, time.Minute, tick, nil)
	base := read(t, p, "network.pressure")
	if base < 2 || base > 6 {
		t.Fatalf("network pressure %.2f bar with two pumps at 85 %%", base)
	}
	write(t, p, "dist.pump3.run", 1)
	write(t, p, "dist.pump3.speed", 85)
	run(p, time.Second, tick, nil)
	if up := read(t, p, "network.pressure"); up <= base {
		t.Fatalf("a third pump did not raise pressure: %.3f -> %.3f", base, up)
	}
	for _, n := range []string{"dist.pump1.speed", "dist.pump2.speed", "dist.pump3.speed"} {
		write(t, p, n, 100)
	}
	run(p, time.Second, tick, nil)
	pd := read(t, p, "dist.pressure")
	if shut := 65 * barPerMetre; pd >= shut || pd < 5 {
		t.Fatalf("three pumps at full speed: %.2f bar (shutoff %.2f)", pd, shut)
	}
	// Flows add up: what the pumps deliver goes to consumers and the booster.
	q := p.distFlow
	if sum := p.consumerFlow + p.stations[0].flow; math.Abs(q-sum) > 1e-9 {
		t.Fatalf("pump flow %.3f != consumers + booster %.3f", q, sum)
	}
}

func TestUnsafeWater(t *testing.T) {
	c := quiet()
	p := newPlant(t, c)
	run(p, time.Hour, time.Second, nil)
	if u := p.Consequences().UnsafeWater; u.Active || u.Count != 0 {
		t.Fatalf("default plant unsafe within an hour on its initial commands: %+v", u)
	}
	// Oldsmar: the NaOH pump to its maximum.
	write(t, p, "dosing.naoh.rate", c.Dosing.NaOHMaxRate)
	var at time.Duration
	run(p, 2*time.Hour, time.Second, func(el time.Duration) {
		if at == 0 && read(t, p, "outlet.ph") > c.Limits.PHMax {
			at = time.Hour + el
		}
	})
	k := p.Consequences()
	if !k.UnsafeWater.Active || k.UnsafeReasons&PHHigh == 0 || k.MaxPH < 10 || k.UnsafeVolume <= 0 {
		t.Fatalf("NaOH overdose: %+v reasons %s max pH %.2f", k.UnsafeWater, k.UnsafeReasons, k.MaxPH)
	}
	if d := k.UnsafeWater.Since - at; d < -time.Second || d > time.Second {
		t.Fatalf("unsafe since %v, pH crossed the limit at %v", k.UnsafeWater.Since, at)
	}
	// Chlorine overdose.
	p.Reset()
	write(t, p, "dosing.cl.rate", c.Dosing.ClMaxRate)
	run(p, 3*time.Hour, time.Second, nil)
	if k := p.Consequences(); k.UnsafeReasons&ChlorineHigh == 0 || k.MaxChlorine <= 4 {
		t.Fatalf("hypochlorite overdose: %s, max %.2f mg/L", k.UnsafeReasons, k.MaxChlorine)
	}
}

func TestSISFinalElements(t *testing.T) {
	p := newPlant(t, quiet())
	write(t, p, "sis.intake.trip", 1)
	write(t, p, "sis.dosing.trip", 1)
	write(t, p, "sis.outlet.trip", 1)
	run(p, time.Second, tick, nil)
	for _, n := range []string{"intake.flow", "filter.flow", "dist.flow", "intake.pump1.running", "dist.pump1.running", "dosing.naoh.running", "dosing.cl.running"} {
		if v := p.Get(mustID(t, p, n)); v > 0.01*rangeOf(p, n) {
			t.Errorf("%s = %.3f with every SIS final element tripped", n, v)
		}
	}
	if read(t, p, "intake.pump1.tripped") != 0 {
		t.Error("an SIS stop is not a pump trip")
	}
	write(t, p, "sis.intake.trip", 0)
	run(p, time.Second, tick, nil)
	if read(t, p, "intake.pump1.running") != 1 || read(t, p, "intake.pump1.starts") != 1 {
		t.Fatal("intake pump did not restart (one start) once the SIS released it")
	}
}

func mustID(t testing.TB, p *Plant, name string) TagID {
	t.Helper()
	id, ok := p.Lookup(name)
	if !ok {
		t.Fatalf("no tag %s", name)
	}
	return id
}

func rangeOf(p *Plant, name string) float64 {
	id, _ := p.Lookup(name)
	info, _ := p.Info(id)
	return info.Max - info.Min
}

// trajectory records every tag every simulated second for d, with writes
// that depend on time only.
func trajectory(p *Plant, d time.Duration) [][]float64 {
	var out [][]float64
	ids := p.Tags()
	run(p, d, tick, func(el time.Duration) {
		if el == 3*time.Minute {
			_ = p.Write("dosing.naoh.rate", 30)
			_ = p.Write("dist.pump3.run", 1)
		}
		if el%time.Second == 0 {
			row := make([]float64, len(ids))
			for i := range ids {
				row[i] = p.Get(TagID(i))
			}
			out = append(out, row)
		}
	})
	return out
}

func TestResetDeterminism(t *testing.T) {
	p := newPlant(t, DefaultConfig())
	a := trajectory(p, 10*time.Minute)
	_ = p.InjectFault(Fault{Kind: StuckActuator, Tag: "filter.valve"})
	p.Reset()
	if len(p.Faults()) != 0 || p.Elapsed() != 0 || p.Consequences().Pumps[0].Hours != 0 {
		t.Fatal("Reset left faults, time or counters behind")
	}
	b := trajectory(p, 10*time.Minute)
	c := trajectory(newPlant(t, DefaultConfig()), 10*time.Minute)
	other := DefaultConfig()
	other.Seed = 2
	d := trajectory(newPlant(t, other), 10*time.Minute)
	same := func(x, y [][]float64) bool {
		for i := range x {
			for j := range x[i] {
				if x[i][j] != y[i][j] {
					return false
				}
			}
		}
		return len(x) == len(y)
	}
	if !same(a, b) {
		t.Fatal("same seed after Reset: a different trajectory")
	}
	if !same(a, c) {
		t.Fatal("same seed in a new plant: a different trajectory")
	}
	if same(a, d) {
		t.Fatal("another seed gave identical measurements: noise is not seeded")
	}
}

func TestFaults(t *testing.T) {
	t.Run("stuck valve holds", func(t *testing.T) {
		p := newPlant(t, quiet())
		run(p, time.Second, tick, nil)
		q := read(t, p, "filter.flow")
		if err := p.InjectFault(Fault{Kind: StuckActuator, Tag: "filter.valve"}); err != nil {
			t.Fatal(err)
		}
		write(t, p, "filter.valve", 0)
		run(p, time.Second, tick, nil)
		if got := read(t, p, "filter.flow"); math.Abs(got-q) > 1 || read(t, p, "filter.valve") != DefaultConfig().Filters.Valve {
			t.Fatalf("stuck valve moved: flow %.1f -> %.1f", q, got)
		}
		p.ClearFaults()
		run(p, time.Second, tick, nil)
		if got := read(t, p, "filter.flow"); got != 0 {
			t.Fatalf("cleared valve did not take its last command (0 %%): flow %.1f", got)
		}
	})
	t.Run("frozen level transmitter", func(t *testing.T) {
		p := newPlant(t, DefaultConfig())
		write(t, p, "filter.valve", 0)
		if err := p.InjectFault(Fault{Kind: FrozenTransmitter, Tag: "raw.level"}); err != nil {
			t.Fatal(err)
		}
		before := read(t, p, "raw.level")
		run(p, 5*time.Minute, tick, nil)
		if got := read(t, p, "raw.level"); got != before || p.raw.level < before+0.5 {
			t.Fatalf("frozen transmitter reads %.3f (was %.3f), true level %.3f", got, before, p.raw.level)
		}
	})
	t.Run("failed transmitter reads zero", func(t *testing.T) {
		p := newPlant(t, DefaultConfig())
		if err := p.InjectFault(Fault{Kind: ZeroTransmitter, Tag: "clearwell.level"}); err != nil {
			t.Fatal(err)
		}
		run(p, time.Second, tick, nil)
		if got := read(t, p, "clearwell.level"); got != 0 {
			t.Fatalf("reads %.3f", got)
		}
		p.ClearFaults()
		run(p, tick, tick, nil)
		if got := read(t, p, "clearwell.level"); math.Abs(got-3) > 0.1 {
			t.Fatalf("repaired transmitter reads %.3f", got)
		}
	})
	t.Run("pump trip", func(t *testing.T) {
		p := newPlant(t, quiet())
		if err := p.InjectFault(Fault{Kind: PumpTrip, Tag: "intake.pump1"}); err != nil {
			t.Fatal(err)
		}
		write(t, p, "intake.pump1.reset", 1)
		run(p, time.Second, tick, nil)
		if read(t, p, "intake.pump1.tripped") != 1 || read(t, p, "intake.flow") != 0 {
			t.Fatal("pump with a trip fault runs (or was reset)")
		}
		p.ClearFaults()
		write(t, p, "intake.pump1.reset", 1)
		run(p, time.Second, tick, nil)
		if read(t, p, "intake.pump1.running") != 1 {
			t.Fatal("pump did not restart after the fault was cleared and reset")
		}
	})
	bad := []struct {
		name string
		f    Fault
	}{
		{"stuck measurement", Fault{StuckActuator, "raw.level"}},
		{"frozen actuator", Fault{FrozenTransmitter, "filter.valve"}},
		{"zero status", Fault{ZeroTransmitter, "dist.pump1.running"}},
		{"unknown tag", Fault{StuckActuator, "nope"}},
		{"unknown pump", Fault{PumpTrip, "dist.pump9"}},
		{"unknown kind", Fault{0, "raw.level"}},
	}
	p := newPlant(t, DefaultConfig())
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if err := p.InjectFault(tc.f); err == nil {
				t.Fatalf("%+v accepted", tc.f)
			}
		})
	}
	if len(p.Faults()) != 0 {
		t.Fatalf("rejected faults recorded: %v", p.Faults())
	}
	for k := StuckActuator; k <= PumpTrip; k++ {
		if got, err := ParseFaultKind(k.String()); err != nil || got != k {
			t.Fatalf("ParseFaultKind(%s) = %v, %v", k, got, err)
		}
	}
	if _, err := ParseFaultKind("melted"); err == nil {
		t.Fatal("unknown fault kind parsed")
	}
}

func TestTagContract(t *testing.T) {
	p := newPlant(t, DefaultConfig())
	if err := p.Write("nope", 1); !errors.Is(err, ErrUnknownTag) {
		t.Fatalf("unknown tag: %v", err)
	}
	if err := p.Write("raw.level", 1); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("measurement: %v", err)
	}
	if err := p.Write("dist.pump1.running", 1); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("status: %v", err)
	}
	if err := p.Write("filter.valve", math.NaN()); !errors.Is(err, ErrBadValue) {
		t.Fatalf("NaN: %v", err)
	}
	if err := p.Set(-1, 1); !errors.Is(err, ErrUnknownTag) {
		t.Fatalf("bad id: %v", err)
	}
	write(t, p, "filter.valve", 150)
	write(t, p, "dist.pump3.run", 7)
	if read(t, p, "filter.valve") != 100 || read(t, p, "dist.pump3.run") != 1 {
		t.Fatal("writes not clamped to range / bool")
	}
	seen := map[string]bool{}
	for i, info := range p.Tags() {
		if seen[info.Name] || info.Kind < Measurement || info.Kind > Status || !(info.Max > info.Min) {
			t.Fatalf("tag %d: %+v", i, info)
		}
		seen[info.Name] = true
		id := mustID(t, p, info.Name)
		if id != TagID(i) {
			t.Fatalf("%s: id %d at index %d", info.Name, id, i)
		}
		if v, _ := p.Read(info.Name); v != p.Get(id) || v < info.Min || v > info.Max {
			t.Fatalf("%s = %v outside %v–%v", info.Name, v, info.Min, info.Max)
		}
	}
	for _, n := range []string{"raw.level", "intake.pump1.run", "intake.pump1.speed", "dosing.naoh.rate", "dosing.cl.rate",
		"treated.ph", "treated.chlorine", "filter1.dp", "clearwell.level", "dist.pump1.run", "dist.pressure",
		"reservoir.level", "booster.pump1.run"} {
		if !seen[n] {
			t.Errorf("the brief's tag %s is missing", n)
		}
	}
	s := newPlant(t, ScaledConfig(100))
	if _, ok := s.Lookup("reservoir10.level"); !ok {
		t.Fatal("scaled plant: no reservoir10.level")
	}
	if _, ok := s.Lookup("booster10.pump5.run"); !ok {
		t.Fatal("scaled plant: no booster10.pump5.run")
	}
}

func TestScaledPlantRuns(t *testing.T) {
	p := newPlant(t, ScaledConfig(100))
	run(p, time.Hour, time.Second, nil)
	k := p.Consequences()
	if r := p.Balance().Residual(); math.Abs(r) > 1e-9*p.Balance().In {
		t.Fatalf("mass balance off by %.3g", r)
	}
	if pn := read(t, p, "network.pressure"); pn < 2 || pn > 6 {
		t.Fatalf("scaled network pressure %.2f bar", pn)
	}
	if k.TrippedPumps != 0 || k.UnsafeWater.Active {
		t.Fatalf("scaled plant not healthy on its initial commands: %+v", k)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
	}{
		{"no intake pumps", func(c *Config) { c.IntakePumps = nil }},
		{"negative area", func(c *Config) { c.Raw.Area = -1 }},
		{"initial above height", func(c *Config) { c.ClearWell.Initial = 9 }},
		{"NaN demand", func(c *Config) { c.Network.BaseDemand = math.NaN() }},
		{"infinite flow", func(c *Config) { c.DistPumps[0].RatedFlow = math.Inf(1) }},
		{"flat pump curve", func(c *Config) { c.DistPumps[1].ShutoffHead = c.DistPumps[1].RatedHead }},
		{"curve on a fixed-flow pump", func(c *Config) { c.IntakePumps[0].ShutoffHead = 10 }},
		{"speed over 100", func(c *Config) { c.IntakePumps[0].Speed = 120 }},
		{"no filters", func(c *Config) { c.Filters.Count = 0 }},
		{"dose above pump max", func(c *Config) { c.Dosing.NaOHRate = 1000 }},
		{"inverted pH limits", func(c *Config) { c.Limits.PHMin = 9 }},
		{"start hour 24", func(c *Config) { c.StartHour = 24 }},
		{"zero trip time", func(c *Config) { c.Stations[0].Pumps[0].DryRunTrip = 0 }},
		{"too many pumps", func(c *Config) { c.DistPumps = make([]PumpConfig, 65) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			if _, err := New(c); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	for _, c := range []Config{DefaultConfig(), ScaledConfig(100), ScaledConfig(1)} {
		if err := c.Validate(); err != nil {
			t.Fatalf("built-in config invalid: %v", err)
		}
	}
}

func BenchmarkStep(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{{"default", DefaultConfig()}, {"scaled100", ScaledConfig(100)}} {
		b.Run(bc.name, func(b *testing.B) {
			p := newPlant(b, bc.cfg)
			b.ReportAllocs()
			for b.Loop() {
				p.Step(tick)
			}
			b.ReportMetric(float64(len(p.Tags())), "tags")
		})
	}
}

func BenchmarkGet(b *testing.B) {
	p := newPlant(b, DefaultConfig())
	id := mustID(b, p, "raw.level")
	s := 0.0
	for b.Loop() {
		s += p.Get(id)
	}
	_ = s
}

// TestDocumentedTags checks that the table in doc.go names every tag of the
// default and scaled plants.
func TestDocumentedTags(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var pats []*regexp.Regexp
	for _, line := range strings.Split(string(src), "\n") {
		f := strings.Fields(strings.TrimPrefix(line, "//\t"))
		if !strings.HasPrefix(line, "//\t") || len(f) < 2 || f[0] == "tag" {
			continue
		}
		q := regexp.QuoteMeta(f[0])
		q = strings.ReplaceAll(q, `pumpN`, `pump\d+`)
		q = strings.ReplaceAll(q, `filterN`, `filter\d+`)
		q = strings.ReplaceAll(q, `\.\*`, `\.[a-z]+`)
		q = strings.Replace(q, `booster`, `booster\d*`, 1)
		q = strings.Replace(q, `reservoir`, `reservoir\d*`, 1)
		pats = append(pats, regexp.MustCompile("^"+q+"$"))
	}
	for _, cfg := range []Config{DefaultConfig(), ScaledConfig(100)} {
		for _, info := range newPlant(t, cfg).Tags() {
			ok := false
			for _, re := range pats {
				ok = ok || re.MatchString(info.Name)
			}
			if !ok {
				t.Errorf("tag %s is not in doc.go's table", info.Name)
			}
		}
	}
}
