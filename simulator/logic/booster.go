package logic

import "fmt"

// buildBooster is the remote booster station's RTU (a DNP3 outstation on
// the wire): its pumps lift from the network into the reservoir.
//
// Level control with hysteresis as the intake's, on the reservoir.
// Interlocks: no pump starts, and running pumps stop after suction.delay,
// while the suction pressure is below suction.min (a starved pump runs
// dry); at or above level.highhigh the pumps stop (interlock.enable).
// Alarms: LevelHigh, LevelHighHigh, LevelLow, PumpTripped, Interlock,
// SuctionLow.
func buildBooster(b *builder) {
	p, t := b.p, b.t
	suffix := ""
	if b.unit > 1 {
		suffix = fmt.Sprint(b.unit)
	}
	auto := b.v("auto", Bool, Operator, 1, 0, 1, 1, "", "1 automatic level control, 0 manual (pumpN.cmd)")
	start := b.v("level.start", Float, Operator, 3.5, 0, 20, 1000, "m", "the lead pump starts at or below this level")
	stop := b.v("level.stop", Float, Operator, 5.0, 0, 20, 1000, "m", "the pumps stop at or above this level")
	reset := b.v("reset", Bool, Operator, 0, 0, 1, 1, "", "write 1 to reset tripped pumps")
	lag := b.v("lag.offset", Float, Config, 1.0, 0, 20, 1000, "m", "the lag pump starts this far below level.start")
	high := b.v("level.high", Float, Config, 5.4, 0, 20, 1000, "m", "high level alarm")
	hh := b.v("level.highhigh", Float, Config, 5.7, 0, 20, 1000, "m", "high-high level: alarm and interlock")
	low := b.v("level.low", Float, Config, 1.5, 0, 20, 1000, "m", "low level alarm")
	smin := b.v("suction.min", Float, Config, 1.6, 0, 20, 100, "bar", "minimum suction pressure to run")
	sdelay := b.v("suction.delay", Float, Config, 5, 0, 600, 1, "s", "low suction this long stops the pumps")
	ilk := b.v("interlock.enable", Bool, Config, 1, 0, 1, 1, "", "1: low suction and high-high level stop the pumps")
	level := b.v("level", Float, ReadOnly, 0, 0, 20, 1000, "m", "reservoir level")
	suction := b.v("suction", Float, ReadOnly, 0, 0, 20, 100, "bar", "suction pressure")
	flow := b.v("flow", Float, ReadOnly, 0, 0, 1e4, 10, "m³/h", "station flow")
	called := b.v("pumps.called", Int, ReadOnly, 0, 0, 64, 1, "", "pumps the level control calls for")
	g := b.pumps("booster" + suffix)
	tLevel := b.in("reservoir" + suffix + ".level")
	tSuction, tFlow := b.in("booster"+suffix+".suction"), b.in("booster"+suffix+".flow")

	calls, lowFor := 0, 0.0
	primed := false
	p.resetHook = func() { calls, lowFor, primed = 0, 0, false }
	p.scan = func(dt float64, local bool) {
		lv, sp := t.Get(tLevel), t.Get(tSuction)
		p.val[level], p.val[suction], p.val[flow] = lv, sp, t.Get(tFlow)
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
		lowSuction := sp < p.val[smin]
		if lowSuction {
			lowFor += dt
		} else {
			lowFor = 0
		}
		interlocked := false
		if p.val[ilk] != 0 {
			// Pump not started on a starved suction; running ones ride
			// through a short dip.
			if lowSuction && (running == 0 || lowFor >= p.val[sdelay]) || lv >= p.val[hh] {
				interlocked = true
				on = g.off()
			}
		}
		g.drive(p, t, on, -1)
		p.val[p.alarms] = float64(bit(lv >= p.val[high], AlarmLevelHigh) | bit(lv >= p.val[hh], AlarmLevelHighHigh) |
			bit(lv <= p.val[low], AlarmLevelLow) | bit(tripped > 0, AlarmPumpTripped) | bit(interlocked, AlarmInterlock) |
			bit(lowSuction, AlarmSuctionLow))
	}
}
