// Package process holds the plant's physics: state that moves on a fixed
// tick, with every random input drawn from a seeded source so a run can be
// repeated exactly.
package process

import (
	"math"
	"math/rand/v2"
	"time"
)

// TankConfig describes a raw-water tank fed by an inlet pump and drained by demand.
type TankConfig struct {
	AreaM2       float64 // cross-section
	HeightMM     float64 // overflow height
	InitialMM    float64
	PumpFlowM3s  float64 // inlet pump flow when running
	DemandM3s    float64 // mean outflow
	DemandSwing  float64 // fraction of DemandM3s the demand swings by over DemandPeriod
	DemandPeriod time.Duration
	DemandNoise  float64 // fraction of DemandM3s of random noise per tick
	Seed         uint64
}

// DefaultTank is the thin slice's tank: about 3 mm/s up with the pump on,
// about 2 mm/s down with it off, 4 m tall.
func DefaultTank() TankConfig {
	return TankConfig{
		AreaM2: 2, HeightMM: 4000, InitialMM: 1800,
		PumpFlowM3s: 0.010, DemandM3s: 0.004, DemandSwing: 0.25,
		DemandPeriod: 10 * time.Minute, DemandNoise: 0.05, Seed: 1,
	}
}

// Tank is the tank's state. It is not safe for concurrent use; the plant
// steps it from one goroutine.
type Tank struct {
	cfg      TankConfig
	rng      *rand.Rand
	elapsed  time.Duration
	levelMM  float64
	pumpOn   bool
	inflow   float64 // m³ in so far
	outflow  float64 // m³ out so far
	overflow float64 // m³ spilled so far
}

// NewTank returns a tank at its initial level.
func NewTank(cfg TankConfig) *Tank {
	return &Tank{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), levelMM: cfg.InitialMM}
}

// SetPump switches the inlet pump.
func (t *Tank) SetPump(on bool) { t.pumpOn = on }

// Level is the level in millimetres.
func (t *Tank) Level() float64 { return t.levelMM }

// PumpOn tells whether the inlet pump runs.
func (t *Tank) PumpOn() bool { return t.pumpOn }

// Overflowing tells whether the tank is full and spilling.
func (t *Tank) Overflowing() bool { return t.levelMM >= t.cfg.HeightMM && t.pumpOn }

// Volumes returns the water pumped in, drawn out and spilled so far, in m³.
func (t *Tank) Volumes() (in, out, spilled float64) { return t.inflow, t.outflow, t.overflow }

// VolumeM3 is the water in the tank now.
func (t *Tank) VolumeM3() float64 { return t.levelMM / 1000 * t.cfg.AreaM2 }

// demand is the outflow now: a slow daily-like swing plus noise.
func (t *Tank) demand() float64 {
	c := t.cfg
	swing := 0.0
	if c.DemandPeriod > 0 {
		swing = c.DemandSwing * math.Sin(2*math.Pi*float64(t.elapsed)/float64(c.DemandPeriod))
	}
	noise := c.DemandNoise * (2*t.rng.Float64() - 1)
	return max(0, c.DemandM3s*(1+swing+noise))
}

// Step advances the tank by dt. Mass balance holds exactly: every m³ pumped
// in is in the tank, drawn out, or spilled.
func (t *Tank) Step(dt time.Duration) {
	sec := dt.Seconds()
	vol := t.VolumeM3()
	in := 0.0
	if t.pumpOn {
		in = t.cfg.PumpFlowM3s * sec
	}
	out := min(t.demand()*sec, vol+in) // a tank cannot deliver water it does not hold
	vol += in - out
	capacity := t.cfg.HeightMM / 1000 * t.cfg.AreaM2
	spill := max(0, vol-capacity)
	vol -= spill
	t.inflow += in
	t.outflow += out
	t.overflow += spill
	t.levelMM = vol / t.cfg.AreaM2 * 1000
	t.elapsed += dt
}
