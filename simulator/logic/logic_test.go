package logic

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/otrange/otrange/simulator/water"
)

// rig is the default plant with every program on it, scanned and stepped
// together as the plant's process goroutine does.
type rig struct {
	t     testing.TB
	plant *water.Plant
	progs map[string]*Program
	order []*Program
	now   time.Duration
}

func newRig(t testing.TB, cfg water.Config, kinds ...string) *rig {
	t.Helper()
	pl, err := water.New(cfg)
	if err != nil {
		t.Fatalf("plant: %v", err)
	}
	if len(kinds) == 0 {
		kinds = []string{"intake", "treatment", "distribution", "booster", "sis"}
	}
	r := &rig{t: t, plant: pl, progs: map[string]*Program{}}
	for _, k := range kinds {
		p, err := New(k, pl, Options{})
		if err != nil {
			t.Fatalf("program %s: %v", k, err)
		}
		r.progs[k] = p
		r.order = append(r.order, p)
	}
	return r
}

// run scans and steps for d at dt, calling each (if not nil) after every
// step; each returning false stops the run early.
func (r *rig) run(d, dt time.Duration, each func() bool) {
	for end := r.now + d; r.now < end; r.now += dt {
		for _, p := range r.order {
			p.Scan(dt)
		}
		r.plant.Step(dt)
		if each != nil && !each() {
			r.now += dt
			return
		}
	}
}

func (r *rig) tag(name string) float64 {
	r.t.Helper()
	v, ok := r.plant.Read(name)
	if !ok {
		r.t.Fatalf("no tag %s", name)
	}
	return v
}

func (r *rig) get(prog, name string) float64 {
	r.t.Helper()
	v, ok := r.progs[prog].Read(name)
	if !ok {
		r.t.Fatalf("%s has no variable %s", prog, name)
	}
	return v
}

// set writes a variable from the network.
func (r *rig) netSet(prog, name string, v float64) {
	r.t.Helper()
	p := r.progs[prog]
	id, ok := p.Lookup(name)
	if !ok {
		r.t.Fatalf("%s has no variable %s", prog, name)
	}
	if err := p.NetWrite(id, v); err != nil {
		r.t.Fatalf("network write %s.%s = %v: %v", prog, name, v, err)
	}
}

// local writes a variable at the panel.
func (r *rig) local(prog, name string, v float64) {
	r.t.Helper()
	if err := r.progs[prog].Write(name, v); err != nil {
		r.t.Fatalf("local write %s.%s = %v: %v", prog, name, v, err)
	}
}

func quietConfig() water.Config {
	c := water.DefaultConfig()
	c.Noise = 0
	return c
}

// TestPlantRunsADay: the default plant under its default programs keeps
// every tank within its alarms, the water safe, the network pressure at its
// setpoint and no pump tripped, over a whole day of demand.
func TestPlantRunsADay(t *testing.T) {
	r := newRig(t, water.DefaultConfig())
	var worst float64
	r.run(24*time.Hour, 2*time.Second, func() bool {
		if r.now > 10*time.Minute {
			worst = max(worst, math.Abs(r.tag("dist.pressure")-4.2))
		}
		return true
	})
	k := r.plant.Consequences()
	if k.UnsafeWater.Count != 0 || k.LowPressure.Count != 0 || k.SpilledTotal != 0 || k.TrippedPumps != 0 {
		t.Fatalf("consequences under normal control: %+v", k)
	}
	if worst > 0.35 {
		t.Fatalf("pressure strayed %.2f bar from its setpoint", worst)
	}
	if n := r.get("sis", "trips.count"); n != 0 {
		t.Fatalf("SIS tripped %v times in normal operation (causes %v)", n, r.get("sis", "causes"))
	}
	for _, p := range r.order {
		if p.WriteErrors() != 0 {
			t.Fatalf("%s: %d refused actuator writes", p.Name(), p.WriteErrors())
		}
	}
	if r.plant.Consequences().Pumps[0].Starts < 5 {
		t.Fatal("the intake level control never cycled in a day")
	}
}

func TestIntakeHysteresis(t *testing.T) {
	r := newRig(t, quietConfig(), "intake", "treatment", "distribution")
	start, stop, lag := r.get("intake", "level.start"), r.get("intake", "level.stop"), r.get("intake", "lag.offset")
	var starts, stops, lagStarts int
	prev1, prev2 := r.tag("intake.pump1.run"), r.tag("intake.pump2.run")
	// Enough demand that the lag pump is needed at times.
	r.netSet("treatment", "flow.sp", 420)
	r.run(8*time.Hour, 2*time.Second, func() bool {
		lv := r.get("intake", "level") // what the scan that decided saw
		p1, p2 := r.tag("intake.pump1.run"), r.tag("intake.pump2.run")
		switch {
		case p1 > prev1:
			starts++
			if lv > start+1e-9 {
				t.Fatalf("lead started at %.3f m, above the start level %.2f", lv, start)
			}
		case p1 < prev1:
			stops++
			if lv < stop-1e-9 {
				t.Fatalf("lead stopped at %.3f m, below the stop level %.2f", lv, stop)
			}
		}
		if p2 > prev2 {
			lagStarts++
			if lv > start-lag+1e-9 {
				t.Fatalf("lag started at %.3f m, above %.2f", lv, start-lag)
			}
		}
		prev1, prev2 = p1, p2
		return true
	})
	if starts < 2 || stops < 2 || lagStarts < 1 {
		t.Fatalf("too few cycles to judge: %d starts, %d stops, %d lag starts", starts, stops, lagStarts)
	}
}

func TestIntakeHighHighInterlock(t *testing.T) {
	for _, tc := range []struct {
		name      string
		interlock bool
	}{{"interlock stops the pumps", true}, {"interlock disabled: the tank overflows", false}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, quietConfig(), "intake")
			if !tc.interlock {
				r.netSet("intake", "mode", float64(ModeProgram))
				r.netSet("intake", "interlock.enable", 0)
				r.netSet("intake", "mode", float64(ModeRemote))
			}
			// The operator runs both pumps by hand; nothing draws the tank.
			r.netSet("intake", "auto", 0)
			r.netSet("intake", "pump1.cmd", 1)
			r.netSet("intake", "pump2.cmd", 1)
			if err := r.plant.Write("filter.valve", 0); err != nil {
				t.Fatal(err)
			}
			var sawHigh bool
			r.run(20*time.Minute, time.Second, func() bool {
				a := int(r.get("intake", "alarms"))
				lv := r.tag("raw.level")
				if a&AlarmLevelHigh != 0 {
					sawHigh = true
					if lv < 4.2 {
						t.Fatalf("high alarm at %.2f m", lv)
					}
				}
				if a&AlarmLevelHighHigh != 0 && tc.interlock && a&AlarmInterlock == 0 {
					t.Fatalf("high-high at %.2f m without the interlock", lv)
				}
				return true
			})
			k := r.plant.Consequences()
			if !sawHigh {
				t.Fatal("no high alarm")
			}
			if tc.interlock {
				if k.Spills[0].Volume != 0 || r.tag("intake.pump1.running") != 0 || r.tag("raw.level") > 4.7 {
					t.Fatalf("interlock failed: spilled %.1f m³, level %.2f", k.Spills[0].Volume, r.tag("raw.level"))
				}
			} else if k.Spills[0].Volume <= 0 {
				t.Fatal("no interlock, both pumps on, tank closed: it must overflow")
			}
		})
	}
}

func TestDistributionSuctionInterlock(t *testing.T) {
	c := quietConfig()
	c.ClearWell.Initial = 0.45
	c.DistPumps[0].Run, c.DistPumps[1].Run = false, false
	r := newRig(t, c, "distribution")
	// Manual commands from the panel cannot start a pump on an empty tank.
	r.local("distribution", "auto", 0)
	r.local("distribution", "pump1.cmd", 1)
	r.run(10*time.Second, 100*time.Millisecond, nil)
	if r.tag("dist.pump1.running") != 0 || int(r.get("distribution", "alarms"))&AlarmInterlock == 0 {
		t.Fatal("pump started on an empty clear well")
	}
	// Water comes back: above cw.lowlow + cw.restart the pump may run.
	if err := r.plant.Write("filter.valve", 100); err != nil {
		t.Fatal(err)
	}
	r.run(10*time.Minute, time.Second, func() bool { return r.tag("dist.pump1.running") == 0 })
	if lv := r.tag("clearwell.level"); r.tag("dist.pump1.running") != 1 || lv < 0.8-0.01 {
		t.Fatalf("pump running %v at clear well %.2f m", r.tag("dist.pump1.running"), lv)
	}
	if k := r.plant.Consequences(); k.Pumps[2].DryRun != 0 {
		t.Fatalf("the interlock let a pump run dry: %+v", k.Pumps[2])
	}
}

func TestBoosterSuctionInterlock(t *testing.T) {
	r := newRig(t, quietConfig(), "distribution", "booster")
	r.local("booster", "level.start", 5.5) // call for water
	r.run(time.Minute, 100*time.Millisecond, nil)
	if r.tag("booster.pump1.running") != 1 {
		t.Fatal("booster not running")
	}
	r.netSet("distribution", "outlet.valve", 0) // no water to the network
	r.run(time.Minute, 100*time.Millisecond, nil)
	k := r.plant.Consequences()
	if r.tag("booster.pump1.running") != 0 || k.Pumps[5].Tripped || int(r.get("booster", "alarms"))&AlarmSuctionLow == 0 {
		t.Fatalf("booster on a starved suction: running %v, %+v", r.tag("booster.pump1.running"), k.Pumps[5])
	}
	if k.Pumps[5].DryRun > 6*time.Second {
		t.Fatalf("booster ran dry %v before the interlock stopped it", k.Pumps[5].DryRun)
	}
	r.netSet("distribution", "outlet.valve", 100)
	r.run(time.Minute, 100*time.Millisecond, nil)
	if r.tag("booster.pump1.running") != 1 {
		t.Fatal("booster did not restart once suction was back")
	}
}

func TestDosingProportionalToFlow(t *testing.T) {
	r := newRig(t, quietConfig(), "intake", "treatment", "distribution")
	for _, flow := range []float64{200, 400} {
		r.netSet("treatment", "flow.sp", flow)
		r.netSet("treatment", "cw.level.sp", 0) // hold the flow target at flow.sp...
		r.local("treatment", "cw.gain", 0)      // ...whatever the clear well does
		r.run(15*time.Minute, time.Second, nil)
		q := r.tag("filter.flow")
		if math.Abs(q-flow) > 0.02*flow {
			t.Fatalf("filter flow %.1f, target %.0f", q, flow)
		}
		if cl := r.tag("treated.chlorine"); math.Abs(cl-1.6) > 0.05 {
			t.Fatalf("at %.0f m³/h: treated chlorine %.3f mg/L, dose 1.6", q, cl)
		}
		want := 1.6 * q / 125
		if rate := r.tag("dosing.cl.rate"); math.Abs(rate-want) > 0.02*want {
			t.Fatalf("at %.0f m³/h: hypochlorite %.3f L/h, want %.3f", q, rate, want)
		}
	}
	// Oldsmar: 11,100 ppm is accepted by the operator interface, the
	// engineered rate limit caps the pump.
	r.netSet("treatment", "naoh.dose", 11100)
	r.run(time.Second, time.Second, nil)
	if rate := r.tag("dosing.naoh.rate"); rate != r.get("treatment", "naoh.rate.max") {
		t.Fatalf("NaOH rate %.1f L/h, want the limit", rate)
	}
	// No flow, no dosing.
	r.local("treatment", "auto", 0)
	r.local("treatment", "valve.manual", 0)
	r.local("treatment", "cl.manual", 5)
	r.run(30*time.Second, time.Second, nil)
	if r.tag("dosing.cl.rate") != 0 || int(r.get("treatment", "alarms"))&AlarmNoFlow == 0 {
		t.Fatal("dosing into a stagnant line")
	}
}

func TestPressureSetpointFromNetwork(t *testing.T) {
	r := newRig(t, water.DefaultConfig())
	r.run(5*time.Minute, time.Second, nil)
	r.netSet("distribution", "pressure.sp", 5.0)
	r.run(5*time.Minute, time.Second, nil)
	if p := r.tag("dist.pressure"); math.Abs(p-5) > 0.15 {
		t.Fatalf("pressure %.2f bar after the setpoint went to 5", p)
	}
}

func TestModes(t *testing.T) {
	r := newRig(t, quietConfig(), "intake", "sis")
	p := r.progs["intake"]
	id := func(n string) VarID {
		v, ok := p.Lookup(n)
		if !ok {
			t.Fatalf("no %s", n)
		}
		return v
	}
	cases := []struct {
		mode     Mode
		variable string
		value    float64
		want     error
	}{
		{ModeRemote, "level.stop", 3.8, nil},
		{ModeRemote, "level.highhigh", 4.9, ErrMode},
		{ModeRemote, "level", 1, ErrReadOnly},
		{ModeRemote, "level.stop", 11, ErrRange},
		{ModeRemote, "level.stop", math.NaN(), ErrRange},
		{ModeRemote, "mode", float64(ModeProgram), nil},
		{ModeRemote, "mode", float64(ModeLocal), ErrMode},
		{ModeRun, "level.stop", 3.8, ErrMode},
		{ModeRun, "mode", float64(ModeRemote), ErrMode},
		{ModeProgram, "level.highhigh", 4.9, nil},
		{ModeProgram, "level.stop", 3.8, nil},
		{ModeProgram, "mode", float64(ModeRemote), nil},
		{ModeProgram, "mode", float64(ModeRun), ErrMode},
		{ModeLocal, "level.stop", 3.8, ErrMode},
		{ModeLocal, "pump1.cmd", 1, ErrMode},
	}
	for _, tc := range cases {
		t.Run(tc.mode.String()+"/"+tc.variable, func(t *testing.T) {
			if err := p.SetMode(tc.mode); err != nil {
				t.Fatal(err)
			}
			err := p.NetWrite(id(tc.variable), tc.value)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if err := p.NetWrite(VarID(999), 1); !errors.Is(err, ErrUnknownVar) {
		t.Fatalf("unknown id: %v", err)
	}
	if err := p.Write("mode", 2.5); !errors.Is(err, ErrRange) {
		t.Fatalf("fractional mode: %v", err)
	}

	t.Run("program mode stops the logic", func(t *testing.T) {
		_ = p.SetMode(ModeRemote)
		r.run(time.Second, 100*time.Millisecond, nil)
		n := r.get("intake", "scan.count")
		_ = p.SetMode(ModeProgram)
		if err := r.plant.Write("intake.pump1.run", 0); err != nil {
			t.Fatal(err)
		}
		r.local("intake", "level.start", 4.5) // would start the lead at once
		r.run(5*time.Second, 100*time.Millisecond, nil)
		if r.get("intake", "scan.count") != n || r.tag("intake.pump1.run") != 0 {
			t.Fatal("the program ran in program mode")
		}
		_ = p.SetMode(ModeRemote)
		r.run(time.Second, 100*time.Millisecond, nil)
		if r.tag("intake.pump1.run") != 1 {
			t.Fatal("the program did not resume in remote mode")
		}
	})
	t.Run("local mode follows the panel", func(t *testing.T) {
		_ = p.SetMode(ModeLocal)
		r.local("intake", "pump1.cmd", 0)
		r.local("intake", "pump2.cmd", 1)
		r.run(time.Second, 100*time.Millisecond, nil)
		if r.tag("intake.pump1.run") != 0 || r.tag("intake.pump2.run") != 1 {
			t.Fatal("local mode: pumps do not follow the panel's commands")
		}
	})
	for _, s := range []string{"remote", "run", "program", "local"} {
		if m, err := ParseMode(s); err != nil || m.String() != s {
			t.Fatalf("ParseMode(%s) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseMode("auto"); err == nil {
		t.Fatal("ParseMode accepted nonsense")
	}
}

func TestKnownGoodProgram(t *testing.T) {
	r := newRig(t, quietConfig(), "treatment")
	p := r.progs["treatment"]
	good := p.Checksum()
	if uint32(r.get("treatment", "checksum")) != good {
		t.Fatal("checksum variable differs from Checksum()")
	}
	// Operating data do not change the program.
	r.netSet("treatment", "cl.dose", 2.0)
	if p.Checksum() != good {
		t.Fatal("a setpoint changed the program checksum")
	}
	// A download without program mode is refused.
	bad := p.Snapshot()
	for i := range bad.Params {
		if bad.Params[i].Name == "naoh.rate.max" {
			bad.Params[i].Value = 1000
		}
	}
	if err := p.Download(bad); !errors.Is(err, ErrMode) {
		t.Fatalf("download in remote mode: %v", err)
	}
	r.netSet("treatment", "mode", float64(ModeProgram))
	if err := p.Download(bad); err != nil {
		t.Fatal(err)
	}
	r.netSet("treatment", "mode", float64(ModeRemote))
	if p.Checksum() == good || uint32(r.get("treatment", "checksum")) == good {
		t.Fatal("a changed program kept its checksum")
	}
	if r.get("treatment", "naoh.rate.max") != 1000 {
		t.Fatal("download not applied")
	}
	p.RestoreKnownGood()
	if p.Checksum() != good || r.get("treatment", "naoh.rate.max") != 40 {
		t.Fatal("known-good program not restored")
	}
	if p.KnownGood().Params[0] != p.Snapshot().Params[0] {
		t.Fatal("KnownGood differs from the restored program")
	}
	p.RestoreSetpoints()
	if r.get("treatment", "cl.dose") != 1.6 {
		t.Fatal("setpoints not restored")
	}
	// Restore is all or nothing.
	mixed := p.Snapshot()
	mixed.Params[0].Value = 12345
	mixed.Params[len(mixed.Params)-1].Value = 1e9
	if err := p.Restore(mixed); !errors.Is(err, ErrRange) || p.Checksum() != good {
		t.Fatalf("partial restore: %v", err)
	}
	if err := p.Restore(Snapshot{Kind: "sis"}); !errors.Is(err, ErrProgram) {
		t.Fatalf("wrong kind: %v", err)
	}
	if err := p.Restore(Snapshot{Kind: "treatment", Params: []Param{{"cl.dose", 1}}}); !errors.Is(err, ErrProgram) {
		t.Fatalf("a setpoint in a program: %v", err)
	}
}

// TestSISOverdoseTrip is Oldsmar with the SIS in place: the NaOH overdose
// trips the SIS before the outlet water leaves the pH limits.
func TestSISOverdoseTrip(t *testing.T) {
	r := newRig(t, quietConfig())
	r.local("treatment", "naoh.rate.max", 100)
	r.netSet("treatment", "naoh.dose", 11100)
	r.run(30*time.Minute, time.Second, func() bool { return r.get("sis", "trip") == 0 })
	if r.get("sis", "trip") != 1 || int(r.get("sis", "first.out")) != TripPHHigh {
		t.Fatalf("no pH trip: causes %v", r.get("sis", "causes"))
	}
	r.run(10*time.Second, time.Second, nil)
	for _, n := range []string{"sis.intake.trip", "sis.dosing.trip", "sis.outlet.trip"} {
		if r.tag(n) != 1 {
			t.Fatalf("%s not tripped", n)
		}
	}
	if r.tag("dosing.naoh.running") != 0 || r.tag("dist.flow") != 0 || r.tag("intake.flow") != 0 {
		t.Fatal("trip did not shut the process")
	}
	if k := r.plant.Consequences(); k.UnsafeVolume != 0 {
		t.Fatalf("unsafe water left the plant despite the SIS: %.1f m³", k.UnsafeVolume)
	}
}

// TestSISBypassed is TRITON: with the key switch left in PROGRAM, the
// network bypasses the SIS and the overdose reaches consumers.
func TestSISBypassed(t *testing.T) {
	r := newRig(t, quietConfig())
	sis := r.progs["sis"]
	good := sis.Checksum()
	id, _ := sis.Lookup("bypass")
	if err := sis.NetWrite(id, 1); !errors.Is(err, ErrMode) {
		t.Fatalf("bypass over the network with the key in RUN: %v", err)
	}
	_ = sis.SetMode(ModeProgram) // the key left in PROGRAM
	r.netSet("sis", "bypass", 1)
	r.netSet("sis", "treated.ph.hh", 14)
	if sis.Checksum() == good {
		t.Fatal("changed trip limit, same checksum")
	}
	r.local("treatment", "naoh.rate.max", 100)
	r.netSet("treatment", "naoh.dose", 11100)
	r.run(2*time.Hour, 5*time.Second, nil)
	k := r.plant.Consequences()
	if r.tag("sis.dosing.trip") != 0 || r.get("sis", "bypassed") != 1 {
		t.Fatal("bypassed SIS acted (or does not report the bypass)")
	}
	if !k.UnsafeWater.Active || k.UnsafeReasons&water.PHHigh == 0 || k.UnsafeVolume <= 0 {
		t.Fatalf("bypassed SIS, overdose: %+v", k.UnsafeWater)
	}
}

func TestSISLatchAndReset(t *testing.T) {
	r := newRig(t, quietConfig(), "distribution", "sis")
	// An attacker drives every distribution pump to full speed by hand.
	r.netSet("distribution", "auto", 0)
	r.netSet("distribution", "speed.manual", 100)
	for _, n := range []string{"pump1.cmd", "pump2.cmd", "pump3.cmd"} {
		r.netSet("distribution", n, 1)
	}
	r.netSet("distribution", "outlet.valve", 15)
	r.run(time.Minute, 100*time.Millisecond, func() bool { return r.get("sis", "trip") == 0 })
	if int(r.get("sis", "causes")) != TripPressure || r.tag("sis.outlet.trip") != 0 && r.tag("sis.intake.trip") != 0 {
		t.Fatalf("over-pressure: causes %v", r.get("sis", "causes"))
	}
	r.run(2*time.Second, 100*time.Millisecond, nil)
	if r.tag("sis.outlet.trip") != 1 || r.tag("sis.intake.trip") != 0 || r.tag("dist.pump1.running") != 0 {
		t.Fatal("over-pressure trip: outlet not closed, or intake stopped too")
	}
	// The cause has gone (pumps stopped) but the trip holds.
	r.run(10*time.Second, 100*time.Millisecond, nil)
	if r.get("sis", "active") != 0 || r.get("sis", "trip") != 1 || r.tag("sis.outlet.trip") != 1 {
		t.Fatal("trip did not latch")
	}
	// Reset from the network is refused with the key in RUN; at the panel it works.
	id, _ := r.progs["sis"].Lookup("reset")
	if err := r.progs["sis"].NetWrite(id, 1); !errors.Is(err, ErrMode) {
		t.Fatalf("network reset with the key in RUN: %v", err)
	}
	r.netSet("distribution", "auto", 1)
	r.netSet("distribution", "outlet.valve", 100)
	r.local("sis", "reset", 1)
	r.run(time.Second, 100*time.Millisecond, nil)
	if r.get("sis", "trip") != 0 || r.tag("sis.outlet.trip") != 0 || r.get("sis", "trips.count") != 1 {
		t.Fatalf("reset did not release: trip %v", r.get("sis", "trip"))
	}
	r.run(30*time.Second, 100*time.Millisecond, nil)
	if r.tag("network.pressure") < 3 {
		t.Fatalf("network pressure %.2f after the reset", r.tag("network.pressure"))
	}
}

func TestSISHighHighLevel(t *testing.T) {
	r := newRig(t, quietConfig(), "intake", "sis")
	// The BPCS interlock is disabled and the pumps forced: the SIS is the
	// last layer.
	r.local("intake", "interlock.enable", 0)
	r.netSet("intake", "auto", 0)
	r.netSet("intake", "pump1.cmd", 1)
	r.netSet("intake", "pump2.cmd", 1)
	for _, n := range []string{"filter.valve", "dosing.naoh.rate", "dosing.cl.rate"} {
		if err := r.plant.Write(n, 0); err != nil {
			t.Fatal(err)
		}
	}
	r.run(20*time.Minute, time.Second, nil)
	k := r.plant.Consequences()
	if int(r.get("sis", "causes")) != TripRawLevel || k.Spills[0].Volume != 0 || r.tag("intake.flow") != 0 {
		t.Fatalf("SIS high-high: causes %v, spilled %.1f", r.get("sis", "causes"), k.Spills[0].Volume)
	}
}

func TestProgramReset(t *testing.T) {
	r := newRig(t, quietConfig())
	before := map[string][]float64{}
	for k, p := range r.progs {
		before[k] = append([]float64(nil), p.val...)
	}
	r.run(time.Hour, time.Second, nil)
	r.netSet("distribution", "pressure.sp", 3)
	_ = r.progs["intake"].SetMode(ModeLocal)
	r.local("sis", "trip.delay", 5)
	for _, p := range r.order {
		p.Reset()
	}
	for k, p := range r.progs {
		for i, v := range p.val {
			if before[k][i] != v {
				t.Fatalf("%s.%s = %v after Reset, %v before", k, p.info[i].Name, v, before[k][i])
			}
		}
	}
	if r.progs["intake"].Mode() != ModeRemote || r.progs["sis"].Mode() != ModeRun {
		t.Fatal("modes not reset")
	}
}

func TestNew(t *testing.T) {
	pl, err := water.New(water.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		kind string
		opts Options
	}{
		{"unknown kind", "chiller", Options{}},
		{"station the plant lacks", "booster", Options{Unit: 2}},
		{"unknown default", "intake", Options{Defaults: map[string]float64{"nope": 1}}},
		{"default of an output", "intake", Options{Defaults: map[string]float64{"level": 1}}},
		{"default out of range", "intake", Options{Defaults: map[string]float64{"level.stop": -1}}},
		{"bad mode", "intake", Options{Mode: 9}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.kind, pl, tc.opts); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	p, err := New("booster", pl, Options{Name: "station-north", Defaults: map[string]float64{"level.stop": 5.2}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "station-north" || p.Kind() != "booster" || p.Mode() != ModeRemote {
		t.Fatalf("%s %s %s", p.Name(), p.Kind(), p.Mode())
	}
	if v, _ := p.Read("level.stop"); v != 5.2 {
		t.Fatalf("default override: %v", v)
	}
	scaled, err := water.New(water.ScaledConfig(100))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New("booster", scaled, Options{Unit: 10}); err != nil {
		t.Fatalf("station 10 of the scaled plant: %v", err)
	}
	for _, k := range Kinds() {
		p, err := New(k, pl, Options{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, v := range p.Vars() {
			if seen[v.Name] || v.Type < Bool || v.Type > Float || v.Access < ReadOnly || v.Access > Config ||
				!(v.Max > v.Min) || v.Default < v.Min || v.Default > v.Max || v.Scale <= 0 {
				t.Fatalf("%s: bad variable %+v", k, v)
			}
			seen[v.Name] = true
		}
	}
}

func BenchmarkScanAll(b *testing.B) {
	r := newRig(b, water.DefaultConfig())
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range r.order {
			p.Scan(100 * time.Millisecond)
		}
	}
}

func BenchmarkScanAndStep(b *testing.B) {
	r := newRig(b, water.DefaultConfig())
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range r.order {
			p.Scan(100 * time.Millisecond)
		}
		r.plant.Step(100 * time.Millisecond)
	}
}
