package logic

// buildDistribution is the distribution PLC: the pumps from the clear well
// into the network, and the plant outlet valve.
//
// Pressure control: a PI controller on the discharge header pressure sets a
// common speed for the running pumps, within speed.min–speed.max. Staging:
// another pump starts when the speed has stayed at or above stage.up for
// stage.delay, the last one stops when it has stayed at or below
// stage.down (never below one pump). Interlock: at or below cw.lowlow the
// pumps stop and do not start (an empty suction tank) until the level is
// back above cw.lowlow + cw.restart. Alarms: LevelHigh, LevelLow (clear
// well), PressureHigh (header), PressureLow (network), PumpTripped,
// Interlock.
func buildDistribution(b *builder) {
	p, t := b.p, b.t
	auto := b.v("auto", Bool, Operator, 1, 0, 1, 1, "", "1 automatic pressure control, 0 manual (pumpN.cmd, speed.manual)")
	psp := b.v("pressure.sp", Float, Operator, 4.2, 0, 20, 100, "bar", "discharge pressure setpoint")
	valve := b.v("outlet.valve", Float, Operator, 100, 0, 100, 10, "%", "plant outlet valve")
	spMan := b.v("speed.manual", Float, Operator, 80, 0, 100, 10, "%", "pump speed in manual")
	reset := b.v("reset", Bool, Operator, 0, 0, 1, 1, "", "write 1 to reset tripped pumps")
	kp := b.v("kp", Float, Config, 8, 0, 1000, 100, "%/bar", "proportional gain")
	ki := b.v("ki", Float, Config, 1.5, 0, 1000, 100, "%/(bar·s)", "integral gain")
	smin := b.v("speed.min", Float, Config, 60, 0, 100, 10, "%", "lowest speed in auto")
	smax := b.v("speed.max", Float, Config, 100, 0, 100, 10, "%", "highest speed in auto")
	up := b.v("stage.up", Float, Config, 97, 0, 100, 10, "%", "start another pump at or above this speed")
	down := b.v("stage.down", Float, Config, 70, 0, 100, 10, "%", "stop a pump at or below this speed")
	delay := b.v("stage.delay", Float, Config, 30, 0, 3600, 1, "s", "staging delay")
	phigh := b.v("pressure.high", Float, Config, 5.5, 0, 20, 100, "bar", "header pressure high alarm")
	plow := b.v("pressure.low", Float, Config, 2.5, 0, 20, 100, "bar", "network pressure low alarm")
	cwLL := b.v("cw.lowlow", Float, Config, 0.5, 0, 10, 1000, "m", "clear-well level that stops the pumps")
	cwRestart := b.v("cw.restart", Float, Config, 0.3, 0, 10, 1000, "m", "margin above cw.lowlow to restart")
	cwLow := b.v("cw.low", Float, Config, 1.0, 0, 10, 1000, "m", "clear-well low alarm")
	cwHigh := b.v("cw.high", Float, Config, 4.5, 0, 10, 1000, "m", "clear-well high alarm")
	ilk := b.v("interlock.enable", Bool, Config, 1, 0, 1, 1, "", "1: a low clear well stops the pumps")
	vP := b.v("pressure", Float, ReadOnly, 0, 0, 20, 100, "bar", "discharge header pressure")
	vNet := b.v("network.pressure", Float, ReadOnly, 0, 0, 20, 100, "bar", "network pressure")
	vFlow := b.v("flow", Float, ReadOnly, 0, 0, 1e4, 10, "m³/h", "distribution flow")
	vCW := b.v("clearwell.level", Float, ReadOnly, 0, 0, 10, 1000, "m", "clear-well level")
	vSpeed := b.v("speed", Float, ReadOnly, 0, 0, 100, 10, "%", "speed command")
	vN := b.v("pumps.called", Int, ReadOnly, 0, 0, 64, 1, "", "pumps the pressure control calls for")
	g := b.pumps("dist")
	tP, tNet, tFlow, tCW := b.in("dist.pressure"), b.in("network.pressure"), b.in("dist.flow"), b.in("clearwell.level")
	tValve := b.out("dist.valve")

	var speed, upFor, downFor, ePrev float64
	n, primed, locked := 0, false, false
	p.resetHook = func() { speed, upFor, downFor, ePrev, n, primed, locked = 0, 0, 0, 0, 0, false, false }
	p.scan = func(dt float64, local bool) {
		pr, cw := t.Get(tP), t.Get(tCW)
		p.val[vP], p.val[vNet], p.val[vFlow], p.val[vCW] = pr, t.Get(tNet), t.Get(tFlow), cw
		tripped, running := g.refresh(p, t)
		if !primed { // bumpless start from what the pumps do now
			n, primed = max(running, 1), true
			speed = p.val[spMan]
			for i := range g.run {
				if p.val[g.isRunning[i]] != 0 && g.hasSpeed[i] {
					speed = t.Get(g.speed[i])
					break
				}
			}
			ePrev = p.val[psp] - pr
		}
		if p.val[reset] != 0 {
			g.resetTrips(p, t)
			p.val[reset] = 0
		}
		e := p.val[psp] - pr
		speed = min(max(speed+p.val[kp]*(e-ePrev)+p.val[ki]*e*dt, p.val[smin]), p.val[smax])
		ePrev = e
		avail := len(g.run) - tripped
		switch {
		case speed >= p.val[up] && n < avail:
			upFor += dt
			downFor = 0
		case speed <= p.val[down] && n > 1:
			downFor += dt
			upFor = 0
		default:
			upFor, downFor = 0, 0
		}
		if upFor >= p.val[delay] && upFor > 0 {
			n, upFor = n+1, 0
		}
		if downFor >= p.val[delay] && downFor > 0 {
			n, downFor = n-1, 0
		}
		n = min(max(n, 1), len(g.run))
		p.val[vN] = float64(n)
		on, out := g.choose(p, n), speed
		if local || p.val[auto] == 0 {
			on, out = g.manual(p), p.val[spMan]
			speed = out // bumpless back to auto
		}
		switch {
		case cw <= p.val[cwLL]:
			locked = true
		case cw >= p.val[cwLL]+p.val[cwRestart]:
			locked = false
		}
		// No pump runs against a closed outlet (dead head).
		interlocked := (locked || p.val[valve] <= 0) && p.val[ilk] != 0
		if interlocked {
			on = g.off()
		}
		p.val[vSpeed] = out
		g.drive(p, t, on, out)
		p.set(t, tValve, p.val[valve])
		p.val[p.alarms] = float64(bit(cw >= p.val[cwHigh], AlarmLevelHigh) | bit(cw <= p.val[cwLow], AlarmLevelLow) |
			bit(pr >= p.val[phigh], AlarmPressureHigh) | bit(p.val[vNet] <= p.val[plow], AlarmPressureLow) |
			bit(tripped > 0, AlarmPumpTripped) | bit(interlocked, AlarmInterlock))
	}
}
