package water

import (
	"strings"
	"time"
)

// Reason is a set of reasons why water leaving the plant is unsafe.
type Reason uint8

// Reasons for unsafe water, judged at the plant outlet (the clear well).
const (
	ChlorineHigh  Reason = 1 << iota // free chlorine above Limits.ChlorineMax
	ChlorineLow                      // below Limits.ChlorineMin: not disinfected
	PHHigh                           // above Limits.PHMax (caustic overdose, Oldsmar)
	PHLow                            // below Limits.PHMin
	TurbidityHigh                    // above Limits.TurbidityMax
)

var reasonNames = []string{"chlorine-high", "chlorine-low", "ph-high", "ph-low", "turbidity-high"}

// String lists the reasons, comma-separated; "" when there are none.
func (r Reason) String() string {
	var parts []string
	for i, n := range reasonNames {
		if r&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, ",")
}

// episode tracks a condition that comes and goes: whether it holds, since
// when (simulated time), and for how long in total.
type episode struct {
	on    bool
	since float64
	total float64
	count int
}

func (e *episode) track(on bool, now, sec float64) {
	if on && !e.on {
		e.since = now
		e.count++
	}
	if on {
		e.total += sec
	}
	e.on = on
}

// Episode is a consequence that comes and goes.
type Episode struct {
	Active bool
	Since  time.Duration // simulated time it began (the current or last episode)
	Total  time.Duration // time spent in it so far, all episodes
	Count  int           // episodes so far
}

func (e episode) export() Episode {
	return Episode{Active: e.on, Since: seconds(e.since), Total: seconds(e.total), Count: e.count}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Balance is the plant's water balance since the initial state, m³: what
// came in (river and dosing solutions) equals what left (delivered to
// consumers, backwash waste), what was spilled, and the change of storage.
type Balance struct {
	In             float64
	Delivered      float64
	Waste          float64
	Spilled        float64
	InitialStorage float64
	Storage        float64
}

// Residual is In − Delivered − Waste − Spilled − (Storage − InitialStorage):
// zero up to rounding.
func (b Balance) Residual() float64 {
	return b.In - b.Delivered - b.Waste - b.Spilled - (b.Storage - b.InitialStorage)
}

// Balance returns the water balance.
func (p *Plant) Balance() Balance { return p.bal }

// Spill is one tank's overflow.
type Spill struct {
	Tank        string // "raw", "clearwell", "reservoir", "reservoir2", ...
	Volume      float64
	Overflowing bool
}

// PumpReport is one pump's condition.
type PumpReport struct {
	Pump          string // "dist.pump1"
	Running       bool
	Tripped       bool
	WornOut       bool
	Trips         int
	DryRun        time.Duration // total running without suction
	NoFlow        time.Duration // total running against no flow (dead head)
	Hours         float64
	Starts        int
	Wear          float64 // % of life used
	ProtectionDue time.Duration
}

// ZoneReport is a reservoir zone's supply.
type ZoneReport struct {
	Reservoir string
	Outage    Episode // the reservoir below its zone minimum: no water
	Unserved  float64 // m³ the zone wanted and did not get
}

// Consequences is what the process has suffered since the initial state:
// the physical and public-safety outcomes an exercise report shows.
type Consequences struct {
	Elapsed time.Duration
	Spills  []Spill
	Pumps   []PumpReport
	// UnsafeWater: water leaving the plant is outside Limits.
	UnsafeWater   Episode
	UnsafeReasons Reason  // current reasons
	UnsafeVolume  float64 // m³ sent out while unsafe
	MaxChlorine   float64 // mg/L at the outlet, worst seen
	MinPH, MaxPH  float64 // at the outlet, worst seen
	// LowPressure: the network below NetworkConfig.LowPressure while there is demand.
	LowPressure    Episode
	MinPressure    float64 // bar, network, lowest seen
	MaxPressure    float64 // bar, distribution header, highest seen
	Zones          []ZoneReport
	SpilledTotal   float64
	TrippedPumps   int // pumps tripped now
	DryRunningNow  int // pumps running dry or dead-headed now
	WaterDelivered float64
}

// assess updates the consequence trackers after a step of sec seconds.
func (p *Plant) assess(sec float64) {
	l := &p.cfg.Limits
	var why Reason
	switch {
	case p.outletCl > l.ChlorineMax:
		why |= ChlorineHigh
	case p.outletCl < l.ChlorineMin:
		why |= ChlorineLow
	}
	switch {
	case p.outletPH > l.PHMax:
		why |= PHHigh
	case p.outletPH < l.PHMin:
		why |= PHLow
	}
	if p.outletTurb > l.TurbidityMax {
		why |= TurbidityHigh
	}
	p.unsafeWhy = why
	p.unsafe.track(why != 0, p.t, sec)
	if why != 0 {
		p.unsafeVolume += p.consumerFlow * sec / 3600
		for _, s := range p.stations {
			p.unsafeVolume += s.flow * sec / 3600
		}
	}
	p.lowPressure.track(p.netDemand > 0 && p.netPressure < p.cfg.Network.LowPressure, p.t, sec)
	p.maxCl = max(p.maxCl, p.outletCl)
	p.maxPH = max(p.maxPH, p.outletPH)
	p.minPH = min(p.minPH, p.outletPH)
	p.minPressure = min(p.minPressure, p.netPressure)
	p.maxDistPressure = max(p.maxDistPressure, p.distPressure)
}

// Consequences reports the process's consequences so far.
func (p *Plant) Consequences() Consequences {
	c := Consequences{
		Elapsed:       p.Elapsed(),
		UnsafeWater:   p.unsafe.export(),
		UnsafeReasons: p.unsafeWhy,
		UnsafeVolume:  p.unsafeVolume,
		MaxChlorine:   p.maxCl, MinPH: p.minPH, MaxPH: p.maxPH,
		LowPressure: p.lowPressure.export(),
		MinPressure: p.minPressure, MaxPressure: p.maxDistPressure,
		SpilledTotal:   p.bal.Spilled,
		WaterDelivered: p.bal.Delivered,
	}
	tanks := []*tank{&p.raw, &p.cw}
	for _, s := range p.stations {
		tanks = append(tanks, &s.res)
	}
	for _, t := range tanks {
		c.Spills = append(c.Spills, Spill{Tank: t.name, Volume: t.spilled, Overflowing: t.overflowing})
	}
	for _, pu := range p.allPumps {
		r := PumpReport{
			Pump: pu.name, Running: pu.running != 0, Tripped: pu.tripped != 0, WornOut: pu.wornOut,
			Trips: pu.trips, DryRun: seconds(pu.drySeconds), NoFlow: seconds(pu.noFlowSeconds),
			Hours: pu.hours, Starts: int(pu.starts), Wear: pu.wear,
		}
		if pu.dry > 0 && pu.running != 0 {
			r.ProtectionDue = pu.cfg.DryRunTrip - seconds(pu.dry)
			c.DryRunningNow++
		}
		if r.Tripped {
			c.TrippedPumps++
		}
		c.Pumps = append(c.Pumps, r)
	}
	for _, s := range p.stations {
		c.Zones = append(c.Zones, ZoneReport{Reservoir: s.res.name, Outage: s.outage.export(), Unserved: s.unserved})
	}
	return c
}
