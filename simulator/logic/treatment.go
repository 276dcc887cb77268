package logic

import (
	"fmt"

	"github.com/otrange/otrange/simulator/water"
)

// buildTreatment is the treatment PLC: filter flow, chemical dosing and
// filter backwash.
//
// Filter flow: the target is flow.sp plus cw.gain × (cw.level.sp − clear
// well level), within flow.min–flow.max; an integral controller moves the
// filter valve to hold it. Interlock: the valve closes while the raw tank is
// at or below raw.low.
//
// Dosing is proportional to the measured filter flow: rate (L/h) = dose
// (mg/L) × flow (m³/h) ÷ strength (g/L), limited to rate.max. Interlock:
// below dosing.flow.min both dosing pumps stop (no dosing into a stagnant
// line). naoh.dose is in mg/L (ppm) as on the Oldsmar HMI; its range is wide
// on purpose, naoh.rate.max is the engineered limit.
//
// Backwash: when a filter's dp stays at or above dp.backwash for
// dp.delay (or backwash.request is written), and the clear well is above
// backwash.level.min, the filter is backwashed for backwash.time; one at a
// time.
//
// Alarms: ChlorineHigh/Low and PHHigh/Low at the outlet, FilterDP,
// NoFlow, Interlock (raw tank low), Backwash.
func buildTreatment(b *builder) {
	p, t := b.p, b.t
	auto := b.v("auto", Bool, Operator, 1, 0, 1, 1, "", "1 automatic, 0 manual (valve.manual, naoh.manual, cl.manual)")
	flowSP := b.v("flow.sp", Float, Operator, 320, 0, 1e4, 10, "m³/h", "base filter flow")
	cwSP := b.v("cw.level.sp", Float, Operator, 3.0, 0, 10, 1000, "m", "clear-well level the filter flow trims towards")
	naohDose := b.v("naoh.dose", Float, Operator, 8, 0, 20000, 1, "mg/L", "NaOH dose (ppm)")
	clDose := b.v("cl.dose", Float, Operator, 1.6, 0, 20, 100, "mg/L", "chlorine dose")
	valveMan := b.v("valve.manual", Float, Operator, 60, 0, 100, 10, "%", "filter valve in manual")
	naohMan := b.v("naoh.manual", Float, Operator, 0, 0, 1000, 10, "L/h", "NaOH rate in manual")
	clMan := b.v("cl.manual", Float, Operator, 0, 0, 1000, 10, "L/h", "hypochlorite rate in manual")
	bwReq := b.v("backwash.request", Bool, Operator, 0, 0, 1, 1, "", "write 1 to backwash the dirtiest filter now")

	cwGain := b.v("cw.gain", Float, Config, 200, 0, 1e4, 10, "m³/h per m", "filter flow added per metre the clear well is below cw.level.sp")
	fmin := b.v("flow.min", Float, Config, 100, 0, 1e4, 10, "m³/h", "lowest filter flow target")
	fmax := b.v("flow.max", Float, Config, 480, 0, 1e4, 10, "m³/h", "highest filter flow target")
	ki := b.v("flow.ki", Float, Config, 0.02, 0, 10, 1000, "%/(m³/h·s)", "integral gain of the filter flow controller")
	rawLow := b.v("raw.low", Float, Config, 0.8, 0, 10, 1000, "m", "raw tank level at or below which the filter valve closes")
	naohConc := b.v("naoh.conc", Float, Config, 317.5, 1, 2000, 10, "g/L", "NaOH solution strength")
	naohMax := b.v("naoh.rate.max", Float, Config, 40, 0, 1000, 10, "L/h", "NaOH rate limit")
	clConc := b.v("cl.conc", Float, Config, 125, 1, 2000, 10, "g/L", "hypochlorite available chlorine")
	clMax := b.v("cl.rate.max", Float, Config, 15, 0, 1000, 10, "L/h", "hypochlorite rate limit")
	dmin := b.v("dosing.flow.min", Float, Config, 30, 0, 1e4, 10, "m³/h", "dosing stops below this filter flow")
	clHigh := b.v("cl.high", Float, Config, 3.0, 0, 20, 100, "mg/L", "outlet chlorine high alarm")
	clLow := b.v("cl.low", Float, Config, 0.5, 0, 20, 100, "mg/L", "outlet chlorine low alarm")
	phHigh := b.v("ph.high", Float, Config, 8.3, 0, 14, 100, "pH", "outlet pH high alarm")
	phLow := b.v("ph.low", Float, Config, 6.8, 0, 14, 100, "pH", "outlet pH low alarm")
	dpBW := b.v("dp.backwash", Float, Config, 30, 0, 500, 10, "kPa", "filter dp that starts a backwash")
	dpDelay := b.v("dp.delay", Float, Config, 60, 0, 3600, 1, "s", "dp must stay high this long")
	dpAlarm := b.v("dp.alarm", Float, Config, 50, 0, 500, 10, "kPa", "filter dp alarm")
	bwTime := b.v("backwash.time", Float, Config, 600, 0, 7200, 1, "s", "backwash duration")
	bwLevel := b.v("backwash.level.min", Float, Config, 1.0, 0, 10, 1000, "m", "no backwash with the clear well below this")

	vFlow := b.v("filter.flow", Float, ReadOnly, 0, 0, 1e4, 10, "m³/h", "filter flow")
	vValve := b.v("valve", Float, ReadOnly, 0, 0, 100, 10, "%", "filter valve command")
	vTarget := b.v("flow.target", Float, ReadOnly, 0, 0, 1e4, 10, "m³/h", "filter flow target")
	vRaw := b.v("raw.level", Float, ReadOnly, 0, 0, 10, 1000, "m", "raw tank level")
	vCW := b.v("clearwell.level", Float, ReadOnly, 0, 0, 10, 1000, "m", "clear-well level")
	vNaOH := b.v("naoh.rate", Float, ReadOnly, 0, 0, 1000, 10, "L/h", "NaOH rate command")
	vCl := b.v("cl.rate", Float, ReadOnly, 0, 0, 1000, 10, "L/h", "hypochlorite rate command")
	vTPH := b.v("treated.ph", Float, ReadOnly, 0, 0, 14, 100, "pH", "pH after dosing")
	vTCl := b.v("treated.chlorine", Float, ReadOnly, 0, 0, 20, 100, "mg/L", "chlorine after dosing")
	vOPH := b.v("outlet.ph", Float, ReadOnly, 0, 0, 14, 100, "pH", "outlet pH")
	vOCl := b.v("outlet.chlorine", Float, ReadOnly, 0, 0, 20, 100, "mg/L", "outlet chlorine")
	vBW := b.v("backwash.filter", Int, ReadOnly, 0, 0, 128, 1, "", "filter in backwash (0: none)")
	vBWLeft := b.v("backwash.remaining", Float, ReadOnly, 0, 0, 7200, 1, "s", "backwash time left")

	tFlow, tRaw, tCW := b.in("filter.flow"), b.in("raw.level"), b.in("clearwell.level")
	tTPH, tTCl, tOPH, tOCl := b.in("treated.ph"), b.in("treated.chlorine"), b.in("outlet.ph"), b.in("outlet.chlorine")
	tValve, tNaOH, tCl := b.out("filter.valve"), b.out("dosing.naoh.rate"), b.out("dosing.cl.rate")
	var tDP, tWash []water.TagID
	var vDP []VarID
	for i := 1; b.has(fmt.Sprintf("filter%d.dp", i)); i++ {
		n := fmt.Sprintf("filter%d", i)
		tDP = append(tDP, b.in(n+".dp"))
		tWash = append(tWash, b.out(n+".backwash"))
		vDP = append(vDP, b.v(n+".dp", Float, ReadOnly, 0, 0, 500, 10, "kPa", "filter differential pressure"))
	}
	highFor := make([]float64, len(tDP))

	valve, washing, left, primed := 0.0, -1, 0.0, false
	p.resetHook = func() {
		valve, washing, left, primed = 0, -1, 0, false
		clear(highFor)
	}
	p.scan = func(dt float64, local bool) {
		if !primed { // bumpless start from the valve's current position
			valve, primed = t.Get(tValve), true
		}
		q, raw, cw := t.Get(tFlow), t.Get(tRaw), t.Get(tCW)
		p.val[vFlow], p.val[vRaw], p.val[vCW] = q, raw, cw
		p.val[vTPH], p.val[vTCl] = t.Get(tTPH), t.Get(tTCl)
		oph, ocl := t.Get(tOPH), t.Get(tOCl)
		p.val[vOPH], p.val[vOCl] = oph, ocl
		manual := local || p.val[auto] == 0

		// Filter flow.
		target := min(max(p.val[flowSP]+p.val[cwGain]*(p.val[cwSP]-cw), p.val[fmin]), p.val[fmax])
		p.val[vTarget] = target
		valve = min(max(valve+p.val[ki]*(target-q)*dt, 0), 100)
		out := valve
		if manual {
			out, valve = p.val[valveMan], p.val[valveMan]
		}
		rawInterlock := raw <= p.val[rawLow]
		if rawInterlock {
			out = 0
		}
		p.val[vValve] = out
		p.set(t, tValve, out)

		// Dosing paced by flow.
		naoh := min(p.val[naohDose]*q/p.val[naohConc], p.val[naohMax])
		cl := min(p.val[clDose]*q/p.val[clConc], p.val[clMax])
		if manual {
			naoh, cl = p.val[naohMan], p.val[clMan]
		}
		noFlow := q < p.val[dmin]
		if noFlow {
			naoh, cl = 0, 0
		}
		p.val[vNaOH], p.val[vCl] = naoh, cl
		p.set(t, tNaOH, naoh)
		p.set(t, tCl, cl)

		// Backwash sequencer.
		dpHigh := false
		dirtiest, worst := -1, -1.0
		for i, id := range tDP {
			dp := t.Get(id)
			p.val[vDP[i]] = dp
			dpHigh = dpHigh || dp >= p.val[dpAlarm]
			if i != washing && dp >= p.val[dpBW] {
				highFor[i] += dt
			} else {
				highFor[i] = 0
			}
			if i != washing && dp > worst {
				dirtiest, worst = i, dp
			}
		}
		if washing >= 0 {
			left -= dt
			if left <= 0 {
				washing, left = -1, 0
				clear(highFor)
			}
		} else if cw > p.val[bwLevel] && !manual {
			for i := range tDP {
				if highFor[i] >= p.val[dpDelay] {
					washing, left = i, p.val[bwTime]
					break
				}
			}
			if washing < 0 && p.val[bwReq] != 0 {
				washing, left = dirtiest, p.val[bwTime]
			}
		}
		p.val[bwReq] = 0
		for i, id := range tWash {
			p.set(t, id, b2f(i == washing))
		}
		p.val[vBW], p.val[vBWLeft] = float64(washing+1), left

		p.val[p.alarms] = float64(bit(ocl >= p.val[clHigh], AlarmChlorineHigh) | bit(ocl <= p.val[clLow], AlarmChlorineLow) |
			bit(oph >= p.val[phHigh], AlarmPHHigh) | bit(oph <= p.val[phLow], AlarmPHLow) | bit(dpHigh, AlarmFilterDP) |
			bit(noFlow, AlarmNoFlow) | bit(rawInterlock, AlarmInterlock) | bit(washing >= 0, AlarmBackwash))
	}
}
