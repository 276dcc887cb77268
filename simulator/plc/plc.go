// Package plc is the logic of the plant's programmable controllers: each scan
// reads the process, runs the control program and publishes its registers,
// which a Modbus/TCP server (protocol/modbus) serves from the same bank.
package plc

import (
	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/simulator/process"
)

// Holding register map of the tank PLC. Every value is an unsigned 16-bit
// integer; levels are in millimetres.
const (
	RegLevel     = 0 // measured level (read only by design; the PLC overwrites it each scan)
	RegSetpoint  = 1 // level setpoint: the pump stops at it
	RegPump      = 2 // 1 while the inlet pump runs
	RegAlarms    = 3 // alarm bits, see Alarm*
	RegCapacity  = 4 // tank height
	RegBand      = 5 // hysteresis: the pump starts at setpoint minus band
	RegHighAlarm = 6 // high level alarm threshold
	NumRegisters = 16
)

// Alarm bits in RegAlarms.
const (
	AlarmHigh     = 1 << 0
	AlarmHighHigh = 1 << 1
	AlarmLow      = 1 << 2
	AlarmOverflow = 1 << 3
)

// TankConfig is the control program's initial parameters.
type TankConfig struct {
	SetpointMM, BandMM, HighMM, HighHighMM, LowMM, CapacityMM uint16
}

// DefaultTankConfig suits process.DefaultTank.
func DefaultTankConfig() TankConfig {
	return TankConfig{SetpointMM: 2500, BandMM: 400, HighMM: 3400, HighHighMM: 3700, LowMM: 500, CapacityMM: 4000}
}

// Tank is the level controller of one tank.
type Tank struct {
	cfg  TankConfig
	bank *modbus.Bank
	tank *process.Tank
}

// NewTank builds the controller over the tank, with its registers at their initial values.
func NewTank(cfg TankConfig, tank *process.Tank) *Tank {
	p := &Tank{cfg: cfg, bank: modbus.NewBank(modbus.BankConfig{HoldingRegisters: NumRegisters, Coils: 8}), tank: tank}
	p.Reset()
	return p
}

// Bank is the register bank the Modbus server serves.
func (p *Tank) Bank() *modbus.Bank { return p.bank }

// Reset restores the program's parameters (a known-good configuration).
func (p *Tank) Reset() {
	p.bank.SetHolding(RegSetpoint, p.cfg.SetpointMM)
	p.bank.SetHolding(RegBand, p.cfg.BandMM)
	p.bank.SetHolding(RegHighAlarm, p.cfg.HighMM)
	p.bank.SetHolding(RegCapacity, p.cfg.CapacityMM)
	p.Scan()
}

// Scan runs one PLC scan: read the level, decide the pump with hysteresis,
// raise alarms, publish registers.
func (p *Tank) Scan() {
	level := p.tank.Level()
	sp := float64(p.bank.Holding(RegSetpoint))
	band := float64(p.bank.Holding(RegBand))
	switch {
	case level >= sp:
		p.tank.SetPump(false)
	case level <= sp-band:
		p.tank.SetPump(true)
	}
	var alarms uint16
	if level >= float64(p.bank.Holding(RegHighAlarm)) {
		alarms |= AlarmHigh
	}
	if level >= float64(p.cfg.HighHighMM) {
		alarms |= AlarmHighHigh
	}
	if level <= float64(p.cfg.LowMM) {
		alarms |= AlarmLow
	}
	if p.tank.Overflowing() {
		alarms |= AlarmOverflow
	}
	p.bank.SetHolding(RegLevel, uint16(min(max(level, 0), 65535)))
	p.bank.SetHolding(RegPump, boolReg(p.tank.PumpOn()))
	p.bank.SetHolding(RegAlarms, alarms)
}

func boolReg(b bool) uint16 {
	if b {
		return 1
	}
	return 0
}
