package water

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Config holds every parameter of the plant. Units are the operator's:
// metres, m³/h, L/h, mg/L, bar, kPa, percent. DefaultConfig is a complete,
// valid plant; a plant definition decodes over it (YAML keys are the
// snake_case names in the tags; a list such as intake_pumps replaces the
// default list whole, each pump needing all its fields; durations are
// strings such as "30s").
type Config struct {
	// Seed seeds the measurement noise (PCG). The physics itself is
	// deterministic; only what transmitters report is noisy.
	Seed uint64 `yaml:"seed"`
	// StartHour is the time of day at t=0, for the demand pattern (0–24).
	StartHour float64 `yaml:"start_hour"`
	// Noise is the standard deviation of measurement noise as a fraction of
	// each measurement's span (0.001 = 0.1 %). 0 disables noise.
	Noise float64 `yaml:"noise"`

	River       RiverConfig     `yaml:"river"`
	IntakePumps []PumpConfig    `yaml:"intake_pumps"` // from the river into the raw tank; flow proportional to speed
	Raw         TankConfig      `yaml:"raw"`
	Filters     FilterConfig    `yaml:"filters"`
	Dosing      DosingConfig    `yaml:"dosing"`
	ClearWell   TankConfig      `yaml:"clear_well"` // suction of the distribution pumps
	DistPumps   []PumpConfig    `yaml:"dist_pumps"` // centrifugal: head falls with flow (pump curve)
	Network     NetworkConfig   `yaml:"network"`
	Stations    []StationConfig `yaml:"stations"` // booster pumping stations and their remote reservoirs
	Limits      Limits          `yaml:"limits"`
}

// RiverConfig is the raw water's quality.
type RiverConfig struct {
	Turbidity      float64 `yaml:"turbidity"`       // NTU, daily mean
	TurbiditySwing float64 `yaml:"turbidity_swing"` // fraction of Turbidity it swings by over a day
	PH             float64 `yaml:"ph"`              // pH of the river water
	Alkalinity     float64 `yaml:"alkalinity"`      // mg/L as CaCO3; with PH it fixes the carbonate content
}

// PumpConfig is one pump. Fixed-flow pumps (ShutoffHead 0) deliver
// RatedFlow times speed; centrifugal pumps follow H = H0·s² − k·Q², the
// curve through (0, ShutoffHead) and (RatedFlow, RatedHead) scaled by the
// affinity laws.
type PumpConfig struct {
	RatedFlow     float64       `yaml:"rated_flow"`      // m³/h at full speed (and RatedHead for centrifugal pumps)
	RatedHead     float64       `yaml:"rated_head"`      // m
	ShutoffHead   float64       `yaml:"shutoff_head"`    // m at zero flow; 0 = fixed-flow pump
	VariableSpeed bool          `yaml:"variable_speed"`  // has a speed actuator; otherwise runs at 100 %
	Run           bool          `yaml:"run"`             // initial run command
	Speed         float64       `yaml:"speed"`           // initial speed, %
	DryRunTrip    time.Duration `yaml:"dry_run_trip"`    // running dry or against no flow this long trips the pump
	WearPerStart  float64       `yaml:"wear_per_start"`  // % of life per start
	WearPerHour   float64       `yaml:"wear_per_hour"`   // % of life per running hour
	DryWearFactor float64       `yaml:"dry_wear_factor"` // wear multiplier while running dry or dead-headed
}

// TankConfig is a vertical tank.
type TankConfig struct {
	Area    float64 `yaml:"area"`    // m²
	Height  float64 `yaml:"height"`  // m; above it the tank overflows
	Initial float64 `yaml:"initial"` // m
	// SuctionMin is the level below which the outflow starts to fail: pumps
	// drawing from the tank run dry, gravity outflow falls with the square
	// root of the level.
	SuctionMin float64 `yaml:"suction_min"`
	Chlorine   float64 `yaml:"chlorine"` // initial free chlorine, mg/L
	PH         float64 `yaml:"ph"`       // initial pH (0: the river's)
}

// FilterConfig is the bank of rapid gravity filters fed from the raw tank
// through one flow-control valve.
type FilterConfig struct {
	Count        int           `yaml:"count"`
	MaxFlow      float64       `yaml:"max_flow"`      // m³/h through the bank with the valve fully open and the raw tank above SuctionMin
	Valve        float64       `yaml:"valve"`         // initial valve opening, %
	CleanDP      float64       `yaml:"clean_dp"`      // kPa across a clean filter at its share of MaxFlow
	LoadDP       float64       `yaml:"load_dp"`       // kPa added at full load, at its share of MaxFlow
	Capacity     float64       `yaml:"capacity"`      // NTU·m³ of solids a filter holds before breakthrough
	InitialLoad  float64       `yaml:"initial_load"`  // fraction of Capacity at t=0 (filter i gets InitialLoad·i/Count)
	Efficiency   float64       `yaml:"efficiency"`    // fraction of turbidity removed below capacity
	BackwashFlow float64       `yaml:"backwash_flow"` // m³/h of clear-well water per filter in backwash, sent to waste
	BackwashTau  time.Duration `yaml:"backwash_tau"`
}

// DosingConfig is the chemical dosing at the filter outlet, into a small
// mixing volume before the clear well.
type DosingConfig struct {
	NaOHConc    float64 `yaml:"naoh_conc"`     // g/L of NaOH in the dosing solution (25 % w/w ≈ 317.5 g/L)
	NaOHMaxRate float64 `yaml:"naoh_max_rate"` // L/h, pump maximum
	NaOHRate    float64 `yaml:"naoh_rate"`     // L/h, initial
	ClConc      float64 `yaml:"cl_conc"`       // g/L available chlorine in the hypochlorite solution (12.5 % ≈ 125 g/L)
	ClMaxRate   float64 `yaml:"cl_max_rate"`   // L/h
	ClRate      float64 `yaml:"cl_rate"`       // L/h, initial
	MixerVolume float64 `yaml:"mixer_volume"`  // m³, the static mixer and pipe where treated.* is measured
	// ChlorineDecay is the first-order bulk decay of free chlorine in the
	// clear well and reservoirs, 1/h.
	ChlorineDecay float64 `yaml:"chlorine_decay"`
}

// NetworkConfig is the distribution network fed by the distribution pumps
// through the plant outlet valve. Consumers behave as orifices: they draw
// Demand·√(p/NominalPressure).
type NetworkConfig struct {
	BaseDemand      float64     `yaml:"base_demand"`      // m³/h at NominalPressure, pattern multiplier 1
	NominalPressure float64     `yaml:"nominal_pressure"` // bar
	Pattern         [24]float64 `yaml:"pattern"`          // hourly demand multipliers, interpolated
	ValveLoss       float64     `yaml:"valve_loss"`       // bar lost across the open outlet valve at BaseDemand
	Valve           float64     `yaml:"valve"`            // initial outlet valve opening, %
	LowPressure     float64     `yaml:"low_pressure"`     // bar; below it consumers are at risk (backflow, fire flow)
}

// StationConfig is a remote booster pumping station: pumps take suction from
// the network and lift into a reservoir that feeds a zone by gravity.
type StationConfig struct {
	Reservoir   TankConfig   `yaml:"reservoir"`
	Pumps       []PumpConfig `yaml:"pumps"`        // fixed-flow
	MinSuction  float64      `yaml:"min_suction"`  // bar; below it the booster pumps starve (run dry)
	ZoneDemand  float64      `yaml:"zone_demand"`  // m³/h drawn from the reservoir, times the network pattern
	ZoneMinimum float64      `yaml:"zone_minimum"` // m; below this reservoir level the zone is out of water
}

// Limits decide when water leaving the plant is unsafe.
type Limits struct {
	ChlorineMax  float64 `yaml:"chlorine_max"`  // mg/L (4: the EPA maximum residual disinfectant level)
	ChlorineMin  float64 `yaml:"chlorine_min"`  // mg/L; below it disinfection is not assured
	PHMin        float64 `yaml:"ph_min"`        // 6.5–8.5
	PHMax        float64 `yaml:"ph_max"`        // 6.5–8.5
	TurbidityMax float64 `yaml:"turbidity_max"` // NTU
}

// defaultPattern is a residential diurnal curve (night low, morning and
// evening peaks), mean close to 1.
var defaultPattern = [24]float64{
	0.55, 0.50, 0.48, 0.47, 0.50, 0.65, 0.95, 1.30, 1.40, 1.30, 1.20, 1.15,
	1.15, 1.10, 1.05, 1.05, 1.10, 1.25, 1.40, 1.35, 1.20, 1.00, 0.80, 0.65,
}

// DefaultConfig is a small town's plant (about 8,000 m³/day): two intake
// pumps, a 200 m³ raw tank, two filters, dosing of NaOH and hypochlorite, a
// 750 m³ clear well, three distribution pumps and one booster station with
// its reservoir. Tanks are sized so that a tampered setpoint overflows one
// within tens of minutes, not days.
func DefaultConfig() Config {
	intake := PumpConfig{RatedFlow: 250, VariableSpeed: true, Speed: 100,
		DryRunTrip: 30 * time.Second, WearPerStart: 0.01, WearPerHour: 0.002, DryWearFactor: 50}
	dist := PumpConfig{RatedFlow: 200, RatedHead: 50, ShutoffHead: 65, VariableSpeed: true, Speed: 85,
		DryRunTrip: 30 * time.Second, WearPerStart: 0.01, WearPerHour: 0.002, DryWearFactor: 50}
	booster := PumpConfig{RatedFlow: 60, DryRunTrip: 30 * time.Second, Speed: 100,
		WearPerStart: 0.01, WearPerHour: 0.002, DryWearFactor: 50}
	c := Config{
		Seed: 1, StartHour: 6, Noise: 0.001,
		River:       RiverConfig{Turbidity: 8, TurbiditySwing: 0.3, PH: 7.0, Alkalinity: 60},
		IntakePumps: []PumpConfig{intake, intake},
		Raw:         TankConfig{Area: 40, Height: 5, Initial: 3.0, SuctionMin: 1.0},
		Filters: FilterConfig{Count: 2, MaxFlow: 500, Valve: 64, CleanDP: 15, LoadDP: 60,
			Capacity: 25000, InitialLoad: 0.4, Efficiency: 0.98, BackwashFlow: 300, BackwashTau: 2 * time.Minute},
		Dosing: DosingConfig{NaOHConc: 317.5, NaOHMaxRate: 100, NaOHRate: 7.0,
			ClConc: 125, ClMaxRate: 30, ClRate: 4.3, MixerVolume: 2, ChlorineDecay: 0.1},
		ClearWell: TankConfig{Area: 150, Height: 5, Initial: 3.0, SuctionMin: 0.3, Chlorine: 1.3, PH: 7.6},
		DistPumps: []PumpConfig{dist, dist, dist},
		Network: NetworkConfig{BaseDemand: 270, NominalPressure: 4, Pattern: defaultPattern,
			ValveLoss: 0.1, Valve: 100, LowPressure: 2},
		Stations: []StationConfig{{
			Reservoir:  TankConfig{Area: 120, Height: 6, Initial: 4.0, SuctionMin: 0.5, Chlorine: 1.2, PH: 7.6},
			Pumps:      []PumpConfig{booster, booster},
			MinSuction: 1.5, ZoneDemand: 45, ZoneMinimum: 0.5,
		}},
		Limits: Limits{ChlorineMax: 4, ChlorineMin: 0.2, PHMin: 6.5, PHMax: 8.5, TurbidityMax: 1},
	}
	c.IntakePumps[0].Run = true
	c.DistPumps[0].Run, c.DistPumps[1].Run = true, true
	c.Stations[0].Pumps[0].Run = true
	return c
}

// ScaledConfig is DefaultConfig grown to about units pieces of equipment
// (pumps and filters) with flows, tanks and demand scaled alike, for
// benchmarks and large exercises: units/10 intake and distribution pumps,
// units/5 filters, units/10 booster stations of five pumps each.
func ScaledConfig(units int) Config {
	c := DefaultConfig()
	n := max(1, units/10)
	f := float64(n) / 2 // the default has two intake pumps
	c.IntakePumps = repeat(c.IntakePumps[0], n)
	c.Raw.Area *= f
	c.Filters.Count = max(2, units/5)
	c.Filters.MaxFlow *= f
	c.Filters.BackwashFlow *= f * 2 / float64(c.Filters.Count)
	c.Filters.Capacity *= f * 2 / float64(c.Filters.Count)
	c.Dosing.NaOHMaxRate *= f
	c.Dosing.NaOHRate *= f
	c.Dosing.ClMaxRate *= f
	c.Dosing.ClRate *= f
	c.Dosing.MixerVolume *= f
	c.ClearWell.Area *= f
	c.DistPumps = repeat(c.DistPumps[0], n)
	// n pumps carry f times the load of the default's 3: scale their flow.
	for i := range c.DistPumps {
		c.DistPumps[i].RatedFlow *= 3 * f / float64(n)
		c.DistPumps[i].Run = i < (2*n+2)/3
	}
	c.Network.BaseDemand *= f
	st := c.Stations[0]
	c.Stations = make([]StationConfig, n)
	for i := range c.Stations {
		s := st
		s.Pumps = repeat(st.Pumps[0], 5)
		for j := range s.Pumps {
			s.Pumps[j].RatedFlow = st.Pumps[0].RatedFlow * f / float64(n) / 2.5 // five pumps do the work of two
			s.Pumps[j].Run = j < 3
		}
		s.ZoneDemand = st.ZoneDemand * f / float64(n)
		c.Stations[i] = s
	}
	return c
}

func repeat(p PumpConfig, n int) []PumpConfig {
	out := make([]PumpConfig, n)
	for i := range out {
		out[i] = p
		out[i].Run = i == 0
	}
	return out
}

// Validate reports the first parameter that makes no physical sense.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	pos := func(name string, v float64) {
		if !(v > 0) || math.IsInf(v, 0) {
			bad("%s must be positive (got %v)", name, v)
		}
	}
	nonneg := func(name string, v float64) {
		if !(v >= 0) || math.IsInf(v, 0) {
			bad("%s must be zero or positive (got %v)", name, v)
		}
	}
	pct := func(name string, v float64) {
		if !(v >= 0 && v <= 100) {
			bad("%s must be within 0–100 %% (got %v)", name, v)
		}
	}
	if !(c.StartHour >= 0 && c.StartHour < 24) {
		bad("start hour must be within [0, 24) (got %v)", c.StartHour)
	}
	if !(c.Noise >= 0 && c.Noise <= 0.1) {
		bad("noise must be within 0–0.1 of span (got %v)", c.Noise)
	}
	nonneg("river turbidity", c.River.Turbidity)
	if !(c.River.TurbiditySwing >= 0 && c.River.TurbiditySwing <= 1) {
		bad("river turbidity swing must be within 0–1 (got %v)", c.River.TurbiditySwing)
	}
	if !(c.River.PH >= 4 && c.River.PH <= 10) {
		bad("river pH must be within 4–10 (got %v)", c.River.PH)
	}
	pos("river alkalinity", c.River.Alkalinity)
	pumps := func(group string, ps []PumpConfig, centrifugal bool) {
		if len(ps) == 0 || len(ps) > maxPumps {
			bad("%s: need 1–%d pumps (got %d)", group, maxPumps, len(ps))
		}
		for i, p := range ps {
			n := fmt.Sprintf("%s pump %d", group, i+1)
			pos(n+" rated flow", p.RatedFlow)
			pct(n+" speed", p.Speed)
			nonneg(n+" wear per start", p.WearPerStart)
			nonneg(n+" wear per hour", p.WearPerHour)
			nonneg(n+" dry wear factor", p.DryWearFactor)
			if p.DryRunTrip <= 0 {
				bad("%s dry-run trip time must be positive", n)
			}
			if centrifugal {
				pos(n+" rated head", p.RatedHead)
				if !(p.ShutoffHead > p.RatedHead) {
					bad("%s shutoff head %v must exceed rated head %v", n, p.ShutoffHead, p.RatedHead)
				}
			} else if p.ShutoffHead != 0 {
				bad("%s: this group's pumps are fixed-flow; shutoff head must be 0", n)
			}
		}
	}
	tank := func(name string, t TankConfig) {
		pos(name+" area", t.Area)
		pos(name+" height", t.Height)
		if !(t.Initial >= 0 && t.Initial <= t.Height) {
			bad("%s initial level %v must be within 0–%v m", name, t.Initial, t.Height)
		}
		if !(t.SuctionMin > 0 && t.SuctionMin < t.Height) {
			bad("%s suction minimum %v must be within (0, height)", name, t.SuctionMin)
		}
		nonneg(name+" chlorine", t.Chlorine)
		if t.PH != 0 && !(t.PH >= 4 && t.PH <= 10) {
			bad("%s initial pH must be within 4–10 (got %v)", name, t.PH)
		}
	}
	pumps("intake", c.IntakePumps, false)
	tank("raw tank", c.Raw)
	f := c.Filters
	if f.Count < 1 || f.Count > maxFilters {
		bad("filters: need 1–%d (got %d)", maxFilters, f.Count)
	}
	pos("filter max flow", f.MaxFlow)
	pct("filter valve", f.Valve)
	nonneg("filter clean dp", f.CleanDP)
	nonneg("filter load dp", f.LoadDP)
	pos("filter capacity", f.Capacity)
	if !(f.InitialLoad >= 0 && f.InitialLoad <= 2) {
		bad("filter initial load must be within 0–2 (got %v)", f.InitialLoad)
	}
	if !(f.Efficiency >= 0 && f.Efficiency <= 1) {
		bad("filter efficiency must be within 0–1 (got %v)", f.Efficiency)
	}
	pos("filter backwash flow", f.BackwashFlow)
	if f.BackwashTau <= 0 {
		bad("filter backwash time constant must be positive")
	}
	d := c.Dosing
	pos("NaOH concentration", d.NaOHConc)
	pos("NaOH max rate", d.NaOHMaxRate)
	pos("hypochlorite concentration", d.ClConc)
	pos("hypochlorite max rate", d.ClMaxRate)
	if !(d.NaOHRate >= 0 && d.NaOHRate <= d.NaOHMaxRate) {
		bad("NaOH rate %v must be within 0–%v L/h", d.NaOHRate, d.NaOHMaxRate)
	}
	if !(d.ClRate >= 0 && d.ClRate <= d.ClMaxRate) {
		bad("hypochlorite rate %v must be within 0–%v L/h", d.ClRate, d.ClMaxRate)
	}
	pos("mixer volume", d.MixerVolume)
	nonneg("chlorine decay", d.ChlorineDecay)
	tank("clear well", c.ClearWell)
	pumps("distribution", c.DistPumps, true)
	n := c.Network
	pos("network base demand", n.BaseDemand)
	pos("network nominal pressure", n.NominalPressure)
	for h, m := range n.Pattern {
		if !(m >= 0 && m <= 10) {
			bad("network pattern hour %d must be within 0–10 (got %v)", h, m)
		}
	}
	pos("outlet valve loss", n.ValveLoss)
	pct("outlet valve", n.Valve)
	nonneg("low pressure limit", n.LowPressure)
	if len(c.Stations) > maxStations {
		bad("stations: at most %d (got %d)", maxStations, len(c.Stations))
	}
	for i, s := range c.Stations {
		name := stationName("reservoir", i)
		tank(name, s.Reservoir)
		pumps(stationName("booster", i), s.Pumps, false)
		nonneg(name+" booster minimum suction", s.MinSuction)
		nonneg(name+" zone demand", s.ZoneDemand)
		if !(s.ZoneMinimum >= 0 && s.ZoneMinimum < s.Reservoir.Height) {
			bad("%s zone minimum %v must be within [0, height)", name, s.ZoneMinimum)
		}
	}
	l := c.Limits
	if !(l.ChlorineMin >= 0 && l.ChlorineMax > l.ChlorineMin) {
		bad("chlorine limits %v–%v make no sense", l.ChlorineMin, l.ChlorineMax)
	}
	if !(l.PHMin > 0 && l.PHMax > l.PHMin && l.PHMax < 14) {
		bad("pH limits %v–%v make no sense", l.PHMin, l.PHMax)
	}
	pos("turbidity limit", l.TurbidityMax)
	return errors.Join(errs...)
}

// Bounds on what a configuration may ask for.
const (
	maxPumps    = 64
	maxFilters  = 128
	maxStations = 64
)

// stationName is "reservoir", "reservoir2", ...: station 1 has the bare name.
func stationName(base string, i int) string {
	if i == 0 {
		return base
	}
	return fmt.Sprintf("%s%d", base, i+1)
}
