package logic

// Trip causes of the SIS, bits of its "causes", "active" and "first.out"
// variables and of "trip.enable".
const (
	TripRawLevel       = 1 << iota // raw tank level high-high
	TripClearWellLevel             // clear-well level high-high
	TripChlorine                   // chlorine overdose (after dosing or at the outlet)
	TripPHHigh                     // pH high-high (NaOH overdose)
	TripPHLow                      // pH low-low
	TripPressure                   // distribution header over-pressure
	tripAll            = 1<<iota - 1
)

// What each SIS final element answers.
const (
	intakeCauses = TripRawLevel | TripClearWellLevel | TripChlorine | TripPHHigh | TripPHLow
	dosingCauses = TripChlorine | TripPHHigh | TripPHLow
	outletCauses = TripChlorine | TripPHHigh | TripPHLow | TripPressure
)

// buildSIS is the safety instrumented system, a separate controller with
// its own trip logic acting on the plant's SIS final elements:
//
//	cause                         stops intake  stops dosing  closes outlet
//	raw / clear-well level HH     yes           -             -
//	chlorine HH, pH HH or LL      yes           yes           yes
//	header over-pressure          -             -             yes (and dist pumps)
//
// A cause must hold for trip.delay to trip; a trip latches until reset is
// written and the cause has cleared. bypass (a maintenance override) keeps
// evaluating and reporting but holds the final elements released; the
// "bypassed" output shows a cause held back by it. trip.enable masks trip
// functions (a Config parameter: changing it changes the checksum).
//
// The SIS starts in Run mode: its key switch locked, the network may only
// read. In Remote the network may write bypass and reset; in Program also
// the limits and a program download (TRITON: the key left in PROGRAM).
// Unlike a PLC, the safety logic keeps executing in Program mode.
func buildSIS(b *builder) {
	p, t := b.p, b.t
	b.mode = ModeRun
	p.alwaysScan = true
	bypass := b.v("bypass", Bool, Operator, 0, 0, 1, 1, "", "1: trips are not executed (maintenance override)")
	reset := b.v("reset", Bool, Operator, 0, 0, 1, 1, "", "write 1 to reset latched trips whose cause has cleared")
	rawHH := b.v("raw.level.hh", Float, Config, 4.7, 0, 10, 1000, "m", "raw tank level trip")
	cwHH := b.v("clearwell.level.hh", Float, Config, 4.8, 0, 10, 1000, "m", "clear-well level trip")
	tclHH := b.v("treated.chlorine.hh", Float, Config, 8, 0, 20, 100, "mg/L", "chlorine trip after dosing")
	oclHH := b.v("outlet.chlorine.hh", Float, Config, 4, 0, 20, 100, "mg/L", "chlorine trip at the outlet")
	tphHH := b.v("treated.ph.hh", Float, Config, 9.0, 0, 14, 100, "pH", "pH high trip after dosing")
	tphLL := b.v("treated.ph.ll", Float, Config, 6.0, 0, 14, 100, "pH", "pH low trip after dosing")
	ophHH := b.v("outlet.ph.hh", Float, Config, 8.5, 0, 14, 100, "pH", "pH high trip at the outlet")
	ophLL := b.v("outlet.ph.ll", Float, Config, 6.5, 0, 14, 100, "pH", "pH low trip at the outlet")
	pHH := b.v("pressure.hh", Float, Config, 6.0, 0, 20, 100, "bar", "header over-pressure trip")
	delay := b.v("trip.delay", Float, Config, 2, 0, 60, 10, "s", "a cause must hold this long")
	enable := b.v("trip.enable", Int, Config, tripAll, 0, tripAll, 1, "", "enabled trip functions (bits of Trip*)")
	vTrip := b.v("trip", Bool, ReadOnly, 0, 0, 1, 1, "", "1: a trip is latched")
	vCauses := b.v("causes", Int, ReadOnly, 0, 0, tripAll, 1, "", "latched causes")
	vActive := b.v("active", Int, ReadOnly, 0, 0, tripAll, 1, "", "causes present now")
	vFirst := b.v("first.out", Int, ReadOnly, 0, 0, tripAll, 1, "", "the cause that tripped first")
	vCount := b.v("trips.count", Int, ReadOnly, 0, 0, 1<<31, 1, "", "trips so far")
	vBypassed := b.v("bypassed", Bool, ReadOnly, 0, 0, 1, 1, "", "1: a cause is present or latched but bypassed")
	vRaw := b.v("raw.level", Float, ReadOnly, 0, 0, 10, 1000, "m", "raw tank level")
	vCW := b.v("clearwell.level", Float, ReadOnly, 0, 0, 10, 1000, "m", "clear-well level")
	vTCl := b.v("treated.chlorine", Float, ReadOnly, 0, 0, 20, 100, "mg/L", "chlorine after dosing")
	vOCl := b.v("outlet.chlorine", Float, ReadOnly, 0, 0, 20, 100, "mg/L", "outlet chlorine")
	vTPH := b.v("treated.ph", Float, ReadOnly, 0, 0, 14, 100, "pH", "pH after dosing")
	vOPH := b.v("outlet.ph", Float, ReadOnly, 0, 0, 14, 100, "pH", "outlet pH")
	vP := b.v("pressure", Float, ReadOnly, 0, 0, 20, 100, "bar", "header pressure")
	tRaw, tCW, tTCl, tOCl := b.in("raw.level"), b.in("clearwell.level"), b.in("treated.chlorine"), b.in("outlet.chlorine")
	tTPH, tOPH, tP := b.in("treated.ph"), b.in("outlet.ph"), b.in("dist.pressure")
	tIntake, tDosing, tOutlet := b.out("sis.intake.trip"), b.out("sis.dosing.trip"), b.out("sis.outlet.trip")

	var held [6]float64 // seconds each cause has held
	latched := 0
	p.resetHook = func() { held, latched = [6]float64{}, 0 }
	p.scan = func(dt float64, _ bool) {
		raw, cw, tcl, ocl := t.Get(tRaw), t.Get(tCW), t.Get(tTCl), t.Get(tOCl)
		tph, oph, pr := t.Get(tTPH), t.Get(tOPH), t.Get(tP)
		p.val[vRaw], p.val[vCW], p.val[vTCl], p.val[vOCl] = raw, cw, tcl, ocl
		p.val[vTPH], p.val[vOPH], p.val[vP] = tph, oph, pr
		active := bit(raw >= p.val[rawHH], TripRawLevel) | bit(cw >= p.val[cwHH], TripClearWellLevel) |
			bit(tcl >= p.val[tclHH] || ocl >= p.val[oclHH], TripChlorine) |
			bit(tph >= p.val[tphHH] || oph >= p.val[ophHH], TripPHHigh) |
			bit(tph <= p.val[tphLL] || oph <= p.val[ophLL], TripPHLow) | bit(pr >= p.val[pHH], TripPressure)
		active &= int(p.val[enable])
		p.val[vActive] = float64(active)
		for i := range held {
			if active&(1<<i) != 0 {
				held[i] += dt
				if held[i] >= p.val[delay] && latched&(1<<i) == 0 {
					if latched == 0 {
						p.val[vFirst] = float64(int(1) << i)
						p.val[vCount]++
					}
					latched |= 1 << i
				}
			} else {
				held[i] = 0
			}
		}
		if p.val[reset] != 0 {
			latched &= active
			if latched == 0 {
				p.val[vFirst] = 0
			}
			p.val[reset] = 0
		}
		p.val[vTrip], p.val[vCauses] = b2f(latched != 0), float64(latched)
		act := latched
		byp := p.val[bypass] != 0
		p.val[vBypassed] = b2f(byp && (latched|active) != 0)
		if byp {
			act = 0
		}
		p.set(t, tIntake, b2f(act&intakeCauses != 0))
		p.set(t, tDosing, b2f(act&dosingCauses != 0))
		p.set(t, tOutlet, b2f(act&outletCauses != 0))
		p.val[p.alarms] = float64(latched | bit(byp, 1<<15))
	}
}
