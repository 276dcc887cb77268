package logic

// buildIntake is the intake PLC: the river pumps filling the raw-water tank.
//
// Level control with hysteresis: the lead pump starts at or below
// level.start, the lag pump too at or below level.start − lag.offset, both
// stop at or above level.stop; a tripped pump is skipped (the next takes
// the lead). Interlock (interlock.enable): at or above level.highhigh the
// pumps stop, in every mode, manual included. Alarms: LevelHigh,
// LevelHighHigh, LevelLow, PumpTripped, Interlock.
func buildIntake(b *builder) {
	p, t := b.p, b.t
	auto := b.v("auto", Bool, Operator, 1, 0, 1, 1, "", "1 automatic level control, 0 manual (pumpN.cmd)")
	start := b.v("level.start", Float, Operator, 2.6, 0, 10, 1000, "m", "the lead pump starts at or below this level")
	stop := b.v("level.stop", Float, Operator, 3.4, 0, 10, 1000, "m", "the pumps stop at or above this level")
	speed := b.v("speed.sp", Float, Operator, 100, 0, 100, 10, "%", "intake pump speed")
	reset := b.v("reset", Bool, Operator, 0, 0, 1, 1, "", "write 1 to reset tripped pumps")
	lag := b.v("lag.offset", Float, Config, 0.4, 0, 5, 1000, "m", "the lag pump starts this far below level.start")
	high := b.v("level.high", Float, Config, 4.2, 0, 10, 1000, "m", "high level alarm")
	hh := b.v("level.highhigh", Float, Config, 4.6, 0, 10, 1000, "m", "high-high level: alarm and interlock")
	low := b.v("level.low", Float, Config, 1.0, 0, 10, 1000, "m", "low level alarm")
	ilk := b.v("interlock.enable", Bool, Config, 1, 0, 1, 1, "", "1: high-high level stops the intake pumps")
	level := b.v("level", Float, ReadOnly, 0, 0, 10, 1000, "m", "raw-water tank level")
	flow := b.v("flow", Float, ReadOnly, 0, 0, 1e4, 10, "m³/h", "intake flow")
	called := b.v("pumps.called", Int, ReadOnly, 0, 0, 64, 1, "", "pumps the level control calls for")
	g := b.pumps("intake")
	tLevel, tFlow := b.in("raw.level"), b.in("intake.flow")

	calls := 0
	primed := false
	p.resetHook = func() { calls, primed = 0, false }
	p.scan = func(_ float64, local bool) {
		lv := t.Get(tLevel)
		p.val[level], p.val[flow] = lv, t.Get(tFlow)
		tripped, running := g.refresh(p, t)
		if p.val[reset] != 0 {
			g.resetTrips(p, t)
			p.val[reset] = 0
		}
		if !primed { // bumpless start: keep what runs until a level says otherwise
			calls, primed = running, true
		}
		calls = levelCalls(calls, lv, p.val[start], p.val[stop], p.val[lag])
		p.val[called] = float64(calls)
		on := g.choose(p, calls)
		if local || p.val[auto] == 0 {
			on = g.manual(p)
		}
		interlocked := p.val[ilk] != 0 && lv >= p.val[hh]
		if interlocked {
			on = g.off()
		}
		g.drive(p, t, on, p.val[speed])
		p.val[p.alarms] = float64(bit(lv >= p.val[high], AlarmLevelHigh) | bit(lv >= p.val[hh], AlarmLevelHighHigh) |
			bit(lv <= p.val[low], AlarmLevelLow) | bit(tripped > 0, AlarmPumpTripped) | bit(interlocked, AlarmInterlock))
	}
}
