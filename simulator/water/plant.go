package water

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// barPerMetre converts metres of water column to bar.
const barPerMetre = 0.0980665

// pump is one pump's state.
type pump struct {
	cfg               PumpConfig
	name              string // "intake.pump1"
	run, speed, reset TagID  // speed is -1 for fixed-speed pumps
	k                 float64

	running, tripped float64 // 0/1, published as status
	hours, starts    float64
	wear             float64 // % of life used
	wornOut          bool
	dry              float64 // seconds of the current dry or no-flow episode
	drySeconds       float64 // total running with no suction
	noFlowSeconds    float64 // total running against no flow (dead head)
	trips            int
	flow             float64 // m³/h now
	avail            bool    // running with suction this step
}

// tank is a completely stirred tank: one volume, one set of concentrations.
type tank struct {
	cfg         TankConfig
	name        string
	vol         float64 // m³
	level       float64 // m, published
	cl          float64 // free chlorine, mg/L
	alk, ct     float64 // alkalinity and total carbonate, mmol/L
	turb        float64 // NTU
	ph          float64 // derived from alk and ct, published
	spilled     float64 // m³ so far
	overflowing bool
}

func (t *tank) capacity() float64 { return t.cfg.Area * t.cfg.Height }

// mix adds vin m³ of water of the given quality, mixing completely.
func (t *tank) mix(vin, cl, alk, ct, turb float64) {
	if vin <= 0 {
		return
	}
	nv := t.vol + vin
	t.cl = (t.cl*t.vol + cl*vin) / nv
	t.alk = (t.alk*t.vol + alk*vin) / nv
	t.ct = (t.ct*t.vol + ct*vin) / nv
	t.turb = (t.turb*t.vol + turb*vin) / nv
	t.vol = nv
}

// dose adds a chemical solution: vin m³ carrying clg grams of chlorine and
// naohMol moles of NaOH (one equivalent of alkalinity each).
func (t *tank) dose(vin, clg, naohMol float64) {
	nv := t.vol + vin
	if nv <= 0 {
		return
	}
	t.cl = (t.cl*t.vol + clg) / nv
	t.alk = (t.alk*t.vol + naohMol) / nv // mol/m³ = mmol/L
	t.ct = t.ct * t.vol / nv
	t.turb = t.turb * t.vol / nv
	t.vol = nv
}

// draw takes up to v m³ out and returns what it took.
func (t *tank) draw(v float64) float64 {
	v = min(max(v, 0), t.vol)
	t.vol -= v
	return v
}

// overflow spills what exceeds the tank and returns it.
func (t *tank) overflow() float64 {
	s := max(0, t.vol-t.capacity())
	t.vol -= s
	t.spilled += s
	t.overflowing = s > 0
	return s
}

func (t *tank) update() {
	t.level = t.vol / t.cfg.Area
	t.ph = solvePH(t.alk, t.ct, t.ph)
}

type filter struct {
	load      float64 // NTU·m³
	dp        float64 // kPa
	backwash  TagID
	washing   bool
	inService float64
}

type station struct {
	cfg      StationConfig
	res      tank
	pumps    []*pump
	flow     float64 // booster flow, m³/h
	suction  float64 // bar
	outflow  float64 // zone draw, m³/h
	starved  bool
	outage   episode
	unserved float64 // m³ the zone wanted and did not get
	demand   float64
}

// Plant is the water-treatment plant. It is not safe for concurrent use:
// one goroutine steps it and scans the PLC programs, range controls take the
// same lock.
type Plant struct {
	cfg  Config
	tags tagTable
	rng  *rand.Rand
	pcg  *rand.PCG

	stuck  []bool
	freeze []faultMode
	faults []Fault

	elapsed time.Duration // simulated since the initial state
	t       float64       // the same in seconds

	riverTurb, riverAlk, riverCT, riverPH float64

	intake      []*pump
	raw         tank
	filters     []filter
	mixer       tank
	cw          tank
	dist        []*pump
	stations    []*station
	allPumps    []*pump
	pumpsByName map[string]*pump

	// actuator tags the physics reads
	filterValve, naohRate, clRate, distValve TagID
	sisIntake, sisDosing, sisOutlet          TagID

	// measured and derived values published as tags
	intakeFlow, filterFlow, filterTurb, backwashFlow  float64
	naohRunning, clRunning                            float64
	distFlow, distPressure, netPressure, netDemand    float64
	consumerFlow                                      float64
	outletCl, outletPH, outletTurb                    float64
	treatedCl, treatedPH                              float64
	maxShutoff                                        float64
	valveK                                            float64
	bal                                               Balance
	unsafe, lowPressure                               episode
	unsafeWhy                                         Reason
	unsafeVolume                                      float64
	maxCl, maxPH, minPH, minPressure, maxDistPressure float64
	cwDry                                             bool
}

// New builds a plant at its initial state.
func New(cfg Config) (*Plant, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("water: %w", err)
	}
	p := &Plant{cfg: cfg, tags: tagTable{byName: map[string]TagID{}}, pumpsByName: map[string]*pump{}}
	p.pcg = rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)
	p.rng = rand.New(p.pcg)
	p.build()
	p.stuck = make([]bool, len(p.tags.info))
	p.freeze = make([]faultMode, len(p.tags.info))
	p.Reset()
	return p, nil
}

// Config returns the plant's configuration.
func (p *Plant) Config() Config { return p.cfg }

// Elapsed is the simulated time since New or Reset.
func (p *Plant) Elapsed() time.Duration { return p.elapsed }

// build creates the equipment and registers its tags, in a fixed order.
func (p *Plant) build() {
	c := &p.cfg
	t := &p.tags
	t.measurement("river.turbidity", "NTU", 0, 100, &p.riverTurb, "turbidity of the river at the intake")
	p.intake = p.pumps("intake", c.IntakePumps)
	p.raw = tank{cfg: c.Raw, name: "raw"}
	t.measurement("intake.flow", "m³/h", 0, 2*sumFlow(c.IntakePumps), &p.intakeFlow, "flow from the river into the raw tank")
	t.measurement("raw.level", "m", 0, c.Raw.Height, &p.raw.level, "raw-water tank level")
	t.measurement("raw.turbidity", "NTU", 0, 100, &p.raw.turb, "raw-water turbidity")
	t.measurement("raw.ph", "pH", 0, 14, &p.raw.ph, "raw-water pH")

	p.filterValve = t.actuator("filter.valve", "%", false, 0, 100, "filter inlet flow-control valve opening")
	t.measurement("filter.flow", "m³/h", 0, 1.5*c.Filters.MaxFlow, &p.filterFlow, "flow through the filter bank")
	t.measurement("filter.turbidity", "NTU", 0, 10, &p.filterTurb, "filtered-water turbidity")
	t.measurement("backwash.flow", "m³/h", 0, 1.5*c.Filters.BackwashFlow*float64(c.Filters.Count), &p.backwashFlow, "clear-well water drawn for backwash")
	p.filters = make([]filter, c.Filters.Count)
	for i := range p.filters {
		f := &p.filters[i]
		n := fmt.Sprintf("filter%d", i+1)
		t.measurement(n+".dp", "kPa", 0, 200, &f.dp, "differential pressure across the filter")
		f.backwash = t.actuator(n+".backwash", "", true, 0, 1, "1: backwash the filter (out of service)")
		t.status(n+".inservice", "", true, 0, 1, &f.inService, "1 while the filter filters")
	}

	p.naohRate = t.actuator("dosing.naoh.rate", "L/h", false, 0, c.Dosing.NaOHMaxRate, "sodium hydroxide dosing pump rate")
	p.clRate = t.actuator("dosing.cl.rate", "L/h", false, 0, c.Dosing.ClMaxRate, "sodium hypochlorite dosing pump rate")
	t.status("dosing.naoh.running", "", true, 0, 1, &p.naohRunning, "1 while the NaOH dosing pump delivers")
	t.status("dosing.cl.running", "", true, 0, 1, &p.clRunning, "1 while the hypochlorite dosing pump delivers")
	p.mixer = tank{cfg: TankConfig{Area: 1, Height: c.Dosing.MixerVolume}, name: "mixer"}
	t.measurement("treated.ph", "pH", 0, 14, &p.treatedPH, "pH after dosing (static mixer)")
	t.measurement("treated.chlorine", "mg/L", 0, 20, &p.treatedCl, "free chlorine after dosing (static mixer)")

	p.cw = tank{cfg: c.ClearWell, name: "clearwell"}
	t.measurement("clearwell.level", "m", 0, c.ClearWell.Height, &p.cw.level, "clear-well level")
	t.measurement("outlet.chlorine", "mg/L", 0, 20, &p.outletCl, "free chlorine of water leaving the plant")
	t.measurement("outlet.ph", "pH", 0, 14, &p.outletPH, "pH of water leaving the plant")
	t.measurement("outlet.turbidity", "NTU", 0, 10, &p.outletTurb, "turbidity of water leaving the plant")

	p.dist = p.pumps("dist", c.DistPumps)
	p.distValve = t.actuator("dist.valve", "%", false, 0, 100, "plant outlet valve opening")
	distMax := 0.0
	for _, pc := range c.DistPumps {
		distMax = max(distMax, pc.ShutoffHead)
	}
	p.maxShutoff = distMax
	pMax := math.Ceil(distMax*barPerMetre*1.5 + 1)
	t.measurement("dist.flow", "m³/h", 0, 1.5*sumFlow(c.DistPumps), &p.distFlow, "flow leaving the plant")
	t.measurement("dist.pressure", "bar", 0, pMax, &p.distPressure, "distribution pump discharge header pressure")
	t.measurement("network.pressure", "bar", 0, pMax, &p.netPressure, "network pressure downstream of the outlet valve")
	t.status("network.demand", "m³/h", false, 0, 10*c.Network.BaseDemand, &p.netDemand, "consumers' demand at nominal pressure (the daily pattern)")
	p.valveK = c.Network.ValveLoss / (c.Network.BaseDemand * c.Network.BaseDemand)

	for i, sc := range c.Stations {
		s := &station{cfg: sc, res: tank{cfg: sc.Reservoir, name: stationName("reservoir", i)}}
		b := stationName("booster", i)
		r := s.res.name
		s.pumps = p.pumps(b, sc.Pumps)
		t.measurement(b+".flow", "m³/h", 0, 1.5*sumFlow(sc.Pumps), &s.flow, "booster station flow into the reservoir")
		t.measurement(b+".suction", "bar", 0, pMax, &s.suction, "booster suction pressure (the network)")
		t.measurement(r+".level", "m", 0, sc.Reservoir.Height, &s.res.level, "remote reservoir level")
		t.measurement(r+".chlorine", "mg/L", 0, 20, &s.res.cl, "free chlorine in the remote reservoir")
		t.measurement(r+".outflow", "m³/h", 0, 10*max(sc.ZoneDemand, 1), &s.outflow, "reservoir outflow to its zone")
		p.stations = append(p.stations, s)
	}

	p.sisIntake = t.actuator("sis.intake.trip", "", true, 0, 1, "SIS final element: 1 stops the intake pumps and closes the filter valve")
	p.sisDosing = t.actuator("sis.dosing.trip", "", true, 0, 1, "SIS final element: 1 stops both dosing pumps")
	p.sisOutlet = t.actuator("sis.outlet.trip", "", true, 0, 1, "SIS final element: 1 closes the outlet valve and stops the distribution pumps")
}

// pumps creates a group of pumps named group.pump1, group.pump2, ...
func (p *Plant) pumps(group string, cfgs []PumpConfig) []*pump {
	t := &p.tags
	out := make([]*pump, len(cfgs))
	for i, pc := range cfgs {
		n := fmt.Sprintf("%s.pump%d", group, i+1)
		pu := &pump{cfg: pc, name: n, speed: -1}
		if pc.ShutoffHead > 0 {
			pu.k = (pc.ShutoffHead - pc.RatedHead) / (pc.RatedFlow * pc.RatedFlow)
		}
		pu.run = t.actuator(n+".run", "", true, 0, 1, "1: run the pump")
		if pc.VariableSpeed {
			pu.speed = t.actuator(n+".speed", "%", false, 0, 100, "pump speed (drive reference)")
		}
		pu.reset = t.actuator(n+".reset", "", true, 0, 1, "write 1 to reset a trip (momentary)")
		t.status(n+".running", "", true, 0, 1, &pu.running, "1 while the pump runs")
		t.status(n+".tripped", "", true, 0, 1, &pu.tripped, "1 while the pump is tripped (dry run, no flow, worn out, or fault)")
		t.status(n+".hours", "h", false, 0, 1e6, &pu.hours, "running hours")
		t.status(n+".starts", "", false, 0, 1e9, &pu.starts, "number of starts")
		t.status(n+".wear", "%", false, 0, 100, &pu.wear, "share of the pump's life used")
		out[i] = pu
		p.allPumps = append(p.allPumps, pu)
		p.pumpsByName[n] = pu
	}
	return out
}

func sumFlow(ps []PumpConfig) float64 {
	s := 0.0
	for _, p := range ps {
		s += p.RatedFlow
	}
	return s
}

// Reset returns the plant to its initial state exactly: levels,
// concentrations, commands, wear and counters, consequences and faults, and
// the noise generator, so the same seed gives the same trajectory again.
func (p *Plant) Reset() {
	c := &p.cfg
	p.pcg.Seed(c.Seed, c.Seed^0x9e3779b97f4a7c15)
	p.t, p.elapsed = 0, 0
	p.cwDry = false
	clear(p.stuck)
	clear(p.freeze)
	p.faults = nil
	for i := range p.tags.val {
		p.tags.val[i], p.tags.cmd[i] = 0, 0
	}
	p.riverPH = c.River.PH
	p.riverAlk = c.River.Alkalinity / 50 // mg/L as CaCO3 → meq/L
	p.riverCT = carbonateOf(p.riverAlk, p.riverPH)
	p.riverTurb = c.River.Turbidity

	initTank := func(t *tank, vol float64, ph, cl float64) {
		if ph == 0 {
			ph = c.River.PH
		}
		*t = tank{cfg: t.cfg, name: t.name, vol: vol, cl: cl, ct: p.riverCT, turb: 0, ph: ph}
		t.alk = alkalinityOf(t.ct, ph)
		t.update()
	}
	initTank(&p.raw, c.Raw.Initial*c.Raw.Area, c.River.PH, 0)
	p.raw.turb = c.River.Turbidity
	initTank(&p.mixer, c.Dosing.MixerVolume, c.ClearWell.PH, c.ClearWell.Chlorine)
	initTank(&p.cw, c.ClearWell.Initial*c.ClearWell.Area, c.ClearWell.PH, c.ClearWell.Chlorine)
	p.cw.turb = c.River.Turbidity * (1 - c.Filters.Efficiency)
	p.mixer.turb = p.cw.turb
	for _, s := range p.stations {
		r := s.cfg.Reservoir
		initTank(&s.res, r.Initial*r.Area, r.PH, r.Chlorine)
		s.res.turb = p.cw.turb
		s.flow, s.suction, s.outflow, s.starved, s.unserved, s.demand = 0, 0, 0, false, 0, 0
		s.outage = episode{}
	}
	for _, pu := range p.allPumps {
		*pu = pump{cfg: pu.cfg, name: pu.name, run: pu.run, speed: pu.speed, reset: pu.reset, k: pu.k}
		p.tags.val[pu.run] = b2f(pu.cfg.Run)
		p.tags.cmd[pu.run] = p.tags.val[pu.run]
		if pu.speed >= 0 {
			p.tags.val[pu.speed], p.tags.cmd[pu.speed] = pu.cfg.Speed, pu.cfg.Speed
		}
		pu.running = b2f(pu.cfg.Run)
	}
	for i := range p.filters {
		f := &p.filters[i]
		*f = filter{backwash: f.backwash, inService: 1}
		f.load = c.Filters.Capacity * c.Filters.InitialLoad * float64(i+1) / float64(len(p.filters))
	}
	set := func(id TagID, v float64) { p.tags.val[id], p.tags.cmd[id] = v, v }
	set(p.filterValve, c.Filters.Valve)
	set(p.naohRate, c.Dosing.NaOHRate)
	set(p.clRate, c.Dosing.ClRate)
	set(p.distValve, c.Network.Valve)

	p.intakeFlow, p.filterFlow, p.filterTurb, p.backwashFlow = 0, 0, p.cw.turb, 0
	p.naohRunning, p.clRunning = 0, 0
	p.distFlow, p.distPressure, p.netPressure, p.netDemand, p.consumerFlow = 0, 0, 0, 0, 0
	p.unsafe, p.lowPressure, p.unsafeWhy, p.unsafeVolume = episode{}, episode{}, 0, 0
	p.bal = Balance{}
	p.bal.InitialStorage = p.storage()
	p.bal.Storage = p.bal.InitialStorage
	// A zero-length step settles flows and pressures for the initial
	// commands without moving time, so the first reads are consistent.
	p.step(0)
	p.maxCl, p.maxPH, p.minPH = p.outletCl, p.outletPH, p.outletPH
	p.minPressure, p.maxDistPressure = p.netPressure, p.distPressure
}

// storage is the water held in the plant's tanks, m³ (the mixer is a full
// pipe of constant volume and does not count).
func (p *Plant) storage() float64 {
	s := p.raw.vol + p.cw.vol
	for _, st := range p.stations {
		s += st.res.vol
	}
	return s
}

// Step advances the plant by dt: pumps, flows, pressures, mixing, chemistry,
// wear, consequences, then the measurements every transmitter reports.
func (p *Plant) Step(dt time.Duration) {
	if dt <= 0 {
		return
	}
	p.elapsed += dt
	p.step(dt.Seconds())
}

// demandFactor is the pattern multiplier at the current time of day.
func (p *Plant) demandFactor() float64 {
	hour := math.Mod(p.cfg.StartHour+p.t/3600, 24)
	i := int(hour)
	f := hour - float64(i)
	pat := &p.cfg.Network.Pattern
	return pat[i]*(1-f) + pat[(i+1)%24]*f
}

func (p *Plant) step(sec float64) {
	c := &p.cfg
	v := p.tags.val
	h := sec / 3600 // hours: flows are m³/h
	sisIntake, sisDosing, sisOutlet := v[p.sisIntake] != 0, v[p.sisDosing] != 0, v[p.sisOutlet] != 0

	// River quality follows the day (peak in the afternoon).
	hour := math.Mod(c.StartHour+p.t/3600, 24)
	p.riverTurb = c.River.Turbidity * (1 + c.River.TurbiditySwing*math.Sin(2*math.Pi*(hour-9)/24))

	// Intake.
	p.intakeFlow = 0
	for _, pu := range p.intake {
		p.command(pu, sisIntake)
		pu.flow, pu.avail = 0, pu.running != 0
		if pu.avail {
			pu.flow = pu.cfg.RatedFlow * p.speedOf(pu)
			p.intakeFlow += pu.flow
		}
	}

	// Filters: gravity flow from the raw tank through the valve.
	inService := 0
	for i := range p.filters {
		f := &p.filters[i]
		f.washing = v[f.backwash] != 0
		if !f.washing {
			inService++
		}
		f.inService = b2f(!f.washing)
	}
	p.filterFlow = 0
	if inService > 0 && !sisIntake {
		head := min(1, math.Sqrt(max(0, p.raw.level/c.Raw.SuctionMin)))
		p.filterFlow = v[p.filterValve] / 100 * c.Filters.MaxFlow * head
	}
	p.backwashFlow = float64(len(p.filters)-inService) * c.Filters.BackwashFlow

	// Dosing.
	naoh, cl := v[p.naohRate], v[p.clRate]
	if sisDosing {
		naoh, cl = 0, 0
	}
	p.naohRunning, p.clRunning = b2f(naoh > 0), b2f(cl > 0)

	// Distribution network and booster stations.
	p.netDemand = c.Network.BaseDemand * p.demandFactor()
	// Suction is lost below SuctionMin and regained only once the level
	// is back above it with a margin (the pumps must re-prime).
	switch {
	case p.cw.level < c.ClearWell.SuctionMin:
		p.cwDry = true
	case p.cw.level > c.ClearWell.SuctionMin+suctionMargin(c.ClearWell):
		p.cwDry = false
	}
	cwDry := p.cwDry
	for _, pu := range p.dist {
		p.command(pu, sisOutlet)
		pu.avail = pu.running != 0 && !cwDry
	}
	for _, s := range p.stations {
		s.demand = s.cfg.ZoneDemand * p.demandFactor()
		// A starved station stays starved until the network recovers
		// with a margin (suction must be regained, not flicker).
		if s.starved && p.netPressure >= s.cfg.MinSuction+starveMargin {
			s.starved = false
		}
		for _, pu := range s.pumps {
			p.command(pu, false)
		}
	}
	valve := v[p.distValve] / 100
	if sisOutlet {
		valve = 0
	}
	p.solveNetwork(valve)

	// Volumes and mixing, upstream to downstream.
	vin := p.intakeFlow * h
	p.raw.mix(vin, 0, p.riverAlk, p.riverCT, p.riverTurb)
	vf := p.raw.draw(p.filterFlow * h)
	if h > 0 {
		p.filterFlow = vf / h
	}
	p.filterTurb = p.filtrate(p.raw.turb, inService, sec)
	rawSpill := p.raw.overflow()

	chem := (naoh + cl) / 1000 * h // m³ of solution
	p.mixer.mix(vf, 0, p.raw.alk, p.raw.ct, p.filterTurb)
	p.mixer.dose(chem, cl*c.Dosing.ClConc*h, naoh*c.Dosing.NaOHConc*h/40)
	vm := p.mixer.draw(vf + chem)
	p.treatedCl = p.mixer.cl
	p.mixer.update()
	p.treatedPH = p.mixer.ph

	decay := math.Exp(-c.Dosing.ChlorineDecay * h)
	p.cw.mix(vm, p.mixer.cl, p.mixer.alk, p.mixer.ct, p.mixer.turb)
	p.cw.cl *= decay
	want := (p.distFlow + p.backwashFlow) * h
	got := p.cw.draw(want)
	r := 1.0
	if want > 0 {
		r = got / want
	}
	p.distFlow *= r
	p.backwashFlow *= r
	p.consumerFlow *= r
	for _, pu := range p.dist {
		pu.flow *= r
	}
	cwSpill := p.cw.overflow()
	p.outletCl, p.outletPH, p.outletTurb = p.cw.cl, p.cw.ph, p.cw.turb
	p.washFilters(sec, r)

	resSpill := 0.0
	for _, s := range p.stations {
		s.flow *= r
		s.res.mix(s.flow*h, p.cw.cl, p.cw.alk, p.cw.ct, p.cw.turb)
		s.res.cl *= decay
		zone := s.demand
		if s.cfg.ZoneMinimum > 0 {
			zone *= min(1, math.Sqrt(max(0, s.res.level/s.cfg.ZoneMinimum)))
		}
		got := s.res.draw(zone * h)
		if h > 0 {
			s.outflow = got / h
		} else {
			s.outflow = zone
		}
		s.unserved += s.demand*h - got
		resSpill += s.res.overflow()
		s.res.update()
		s.outage.track(s.res.level < s.cfg.ZoneMinimum, p.t, sec)
	}
	p.raw.update()
	p.cw.update()
	p.outletPH = p.cw.ph

	// Wear, dry running and trips.
	for _, pu := range p.intake {
		p.wear(pu, false, false, sec)
	}
	for _, pu := range p.dist {
		p.wear(pu, cwDry, pu.avail && pu.flow <= 0, sec)
	}
	for _, s := range p.stations {
		for _, pu := range s.pumps {
			p.wear(pu, s.starved && pu.running != 0, false, sec)
		}
	}

	// Water balance.
	b := &p.bal
	b.In += vin + chem
	b.Delivered += p.consumerFlow * h
	for _, s := range p.stations {
		b.Delivered += s.outflow * h
	}
	b.Waste += p.backwashFlow * h
	b.Spilled += rawSpill + cwSpill + resSpill
	b.Storage = p.storage()

	p.t = p.elapsed.Seconds()
	p.assess(sec)
	p.publish()
}

// Margins of the suction hysteresis.
const starveMargin = 0.3 // bar

func suctionMargin(t TankConfig) float64 { return max(0.05, 0.2*t.SuctionMin) }

// speedOf is the pump's speed as a fraction.
func (p *Plant) speedOf(pu *pump) float64 {
	if pu.speed < 0 {
		return 1
	}
	return p.tags.val[pu.speed] / 100
}

// command applies the run command, a trip reset, and an inhibit (an SIS
// final element or no permissive) to the pump.
func (p *Plant) command(pu *pump, inhibit bool) {
	v := p.tags.val
	if v[pu.reset] != 0 {
		if !pu.wornOut && !p.tripFaulted(pu) {
			pu.tripped, pu.dry = 0, 0
		}
		if !p.stuck[pu.reset] {
			v[pu.reset], p.tags.cmd[pu.reset] = 0, 0
		}
	}
	want := v[pu.run] != 0 && !inhibit && pu.tripped == 0
	if want && pu.running == 0 {
		pu.starts++
		pu.wear = min(100, pu.wear+pu.cfg.WearPerStart)
	}
	pu.running = b2f(want)
}

// wear accumulates running hours and wear, and trips a pump that has run
// dry (no suction) or dead-headed (no flow) for its trip time, or is worn out.
func (p *Plant) wear(pu *pump, dry, noFlow bool, sec float64) {
	if pu.running == 0 {
		pu.dry = max(0, pu.dry-sec)
		return
	}
	pu.hours += sec / 3600
	f := 1.0
	if dry || noFlow {
		f = pu.cfg.DryWearFactor
		pu.dry += sec
		if dry {
			pu.drySeconds += sec
		} else {
			pu.noFlowSeconds += sec
		}
	} else {
		// The protection relay's timer winds back as fast as it ran up,
		// so intermittent dry running still trips.
		pu.dry = max(0, pu.dry-sec)
	}
	pu.wear = min(100, pu.wear+pu.cfg.WearPerHour*f*sec/3600)
	switch {
	case pu.wear >= 100:
		pu.wornOut = true
		p.trip(pu)
	case pu.dry >= pu.cfg.DryRunTrip.Seconds():
		p.trip(pu)
	}
}

func (p *Plant) trip(pu *pump) {
	if pu.tripped == 0 {
		pu.trips++
	}
	pu.tripped, pu.running, pu.flow = 1, 0, 0
}

// solveNetwork finds the network pressure where the distribution pumps'
// curves meet the consumers' and booster stations' draw, then starves the
// booster stations whose suction falls below their minimum and solves again.
func (p *Plant) solveNetwork(valve float64) {
	avail := false
	for _, pu := range p.dist {
		pu.flow = 0
		avail = avail || pu.avail
	}
	boost := 0.0
	for _, s := range p.stations {
		s.flow = 0
		for _, pu := range s.pumps {
			if pu.running != 0 && !s.starved {
				s.flow += pu.cfg.RatedFlow
			}
		}
		boost += s.flow
	}
	if !avail || valve <= 0 {
		// Nothing reaches the network: consumers and boosters go without,
		// running pumps dead-head against the closed valve.
		p.netPressure, p.distFlow, p.consumerFlow = 0, 0, 0
		p.distPressure = 0
		for _, pu := range p.dist {
			if pu.avail {
				s := p.speedOf(pu)
				p.distPressure = max(p.distPressure, pu.cfg.ShutoffHead*s*s*barPerMetre)
			}
		}
		for _, s := range p.stations {
			s.starved = s.starved || s.flow > 0
			s.flow, s.suction = 0, 0
		}
		for _, s := range p.stations {
			for _, pu := range s.pumps {
				pu.flow = 0
			}
		}
		return
	}
	kv := p.valveK / (valve * valve)
	for range len(p.stations) + 1 {
		pn := p.bisect(kv, boost)
		again := false
		for _, s := range p.stations {
			if s.flow > 0 && pn < s.cfg.MinSuction {
				s.starved = true
				boost -= s.flow
				s.flow = 0
				again = true
			}
		}
		p.netPressure = pn
		if !again {
			break
		}
	}
	if boost < 0 {
		boost = 0
	}
	pn := p.netPressure
	p.consumerFlow = p.netDemand * math.Sqrt(pn/p.cfg.Network.NominalPressure)
	q := p.consumerFlow + boost
	p.distPressure = pn + kv*q*q
	head := p.distPressure / barPerMetre
	p.distFlow = 0
	for _, pu := range p.dist {
		if pu.avail {
			pu.flow = pumpFlow(pu, p.speedOf(pu), head)
			p.distFlow += pu.flow
		}
	}
	// Pump flows at the solved head add up to q within the bisection's
	// tolerance; take the consumers' and boosters' flow as the truth.
	if p.distFlow > 0 {
		r := q / p.distFlow
		for _, pu := range p.dist {
			pu.flow *= r
		}
	}
	p.distFlow = q
	for _, s := range p.stations {
		s.suction = pn
		for _, pu := range s.pumps {
			pu.flow = 0
			if pu.running != 0 && !s.starved {
				pu.flow = pu.cfg.RatedFlow
			}
		}
	}
}

// pumpFlow is a centrifugal pump's flow at speed s (fraction) against head (m).
func pumpFlow(pu *pump, s, head float64) float64 {
	h0 := pu.cfg.ShutoffHead * s * s
	if head >= h0 {
		return 0
	}
	return math.Sqrt((h0 - head) / pu.k)
}

// residual is what the running distribution pumps deliver at network
// pressure pn (bar) minus what consumers and boosters draw; it falls as pn
// rises.
func (p *Plant) residual(pn, kv, boost float64) float64 {
	q := p.netDemand*math.Sqrt(pn/p.cfg.Network.NominalPressure) + boost
	head := (pn + kv*q*q) / barPerMetre
	supply := 0.0
	for _, pu := range p.dist {
		if pu.avail {
			supply += pumpFlow(pu, p.speedOf(pu), head)
		}
	}
	return supply - q
}

// bisect solves for the network pressure (bar) at which the pumps deliver
// what the consumers (orifices) and the boosters draw: a bracket around the
// last solution, widened to the whole range if needed, then regula falsi
// (Illinois) down to a nano-bar.
func (p *Plant) bisect(kv, boost float64) float64 {
	top := p.maxShutoff * barPerMetre
	lo, hi := max(0, p.netPressure-0.05), min(top, p.netPressure+0.05)
	flo, fhi := p.residual(lo, kv, boost), p.residual(hi, kv, boost)
	if flo < 0 {
		hi, fhi = lo, flo
		lo, flo = 0, p.residual(0, kv, boost)
	} else if fhi > 0 {
		lo, flo = hi, fhi
		hi, fhi = top, p.residual(top, kv, boost)
	}
	switch {
	case flo <= 0:
		return lo
	case fhi >= 0:
		return hi
	}
	side := 0
	for range 100 {
		x := (lo*fhi - hi*flo) / (fhi - flo)
		if !(x > lo && x < hi) {
			x = (lo + hi) / 2
		}
		fx := p.residual(x, kv, boost)
		switch {
		case fx == 0:
			return x
		case fx > 0:
			lo, flo = x, fx
			if side == 1 {
				fhi /= 2
			}
			side = 1
		default:
			hi, fhi = x, fx
			if side == -1 {
				flo /= 2
			}
			side = -1
		}
		if hi-lo < 1e-9 {
			break
		}
	}
	return (lo + hi) / 2
}

// filtrate returns the filtered water's turbidity and loads the filters.
// A filter removes Efficiency of the turbidity until it holds Capacity;
// past it, solids break through.
func (p *Plant) filtrate(in float64, inService int, sec float64) float64 {
	fc := &p.cfg.Filters
	if inService == 0 {
		for i := range p.filters {
			p.filters[i].dp = 0
		}
		return p.mixer.turb
	}
	share := p.filterFlow / float64(inService)
	rated := fc.MaxFlow / float64(len(p.filters))
	x := share / rated
	out, total := 0.0, 0.0
	for i := range p.filters {
		f := &p.filters[i]
		if f.washing {
			continue
		}
		frac := f.load / fc.Capacity
		pass := (1 - fc.Efficiency) * (1 + 20*math.Pow(max(0, frac-1), 2))
		pass = min(pass, 1)
		out += in * pass * share
		total += share
		f.load += share * in * (1 - pass) * sec / 3600
		f.dp = fc.CleanDP*x*x + fc.LoadDP*(f.load/fc.Capacity)*x
	}
	if total == 0 {
		return in * (1 - fc.Efficiency)
	}
	return out / total
}

// washFilters cleans the filters in backwash; r is the share of the
// backwash flow the clear well could supply.
func (p *Plant) washFilters(sec, r float64) {
	tau := p.cfg.Filters.BackwashTau.Seconds()
	for i := range p.filters {
		f := &p.filters[i]
		if f.washing {
			f.load *= math.Exp(-r * sec / tau)
			f.dp = 0
		}
	}
}

// publish refreshes every tag's value: measurements with noise, clamped to
// their range and subject to transmitter faults; status values exactly.
func (p *Plant) publish() {
	t := &p.tags
	noise := p.cfg.Noise
	for _, m := range t.meas {
		info := &t.info[m.id]
		x := *m.src
		if noise > 0 {
			x += p.rng.NormFloat64() * noise * (info.Max - info.Min)
		}
		switch p.freeze[m.id] {
		case faultFrozen:
			continue
		case faultZero:
			x = info.Min
		}
		t.val[m.id] = min(max(x, info.Min), info.Max)
	}
	p.publishStatus()
}

// publishStatus refreshes the status tags only.
func (p *Plant) publishStatus() {
	for _, s := range p.tags.stats {
		p.tags.val[s.id] = *s.src
	}
}
