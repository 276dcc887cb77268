package plc

import (
	"testing"
	"time"

	"github.com/otrange/otrange/simulator/process"
)

// run steps process and PLC together for d.
func run(p *Tank, tk *process.Tank, d time.Duration) {
	for t := time.Duration(0); t < d; t += 100 * time.Millisecond {
		p.Scan()
		tk.Step(100 * time.Millisecond)
	}
}

func TestLevelHeldAroundSetpoint(t *testing.T) {
	tk := process.NewTank(process.DefaultTank())
	p := NewTank(DefaultTankConfig(), tk)
	run(p, tk, 30*time.Minute)
	lo, hi := 2500.0-400-50, 2500.0+50
	for i := 0; i < 3000; i++ {
		run(p, tk, 100*time.Millisecond)
		if l := tk.Level(); l < lo || l > hi {
			t.Fatalf("level %.0f mm left the control band [%.0f, %.0f]", l, lo, hi)
		}
	}
	if a := p.Bank().Holding(RegAlarms); a != 0 {
		t.Fatalf("alarms %b in normal operation", a)
	}
}

func TestTamperedSetpointOverflows(t *testing.T) {
	tk := process.NewTank(process.DefaultTank())
	p := NewTank(DefaultTankConfig(), tk)
	p.Bank().SetHolding(RegSetpoint, 65000) // what an attacker's FC 6 write does
	run(p, tk, 30*time.Minute)
	a := p.Bank().Holding(RegAlarms)
	if a&AlarmHighHigh == 0 || a&AlarmOverflow == 0 {
		t.Fatalf("alarms = %04b, want high-high and overflow", a)
	}
	p.Reset()
	if got := p.Bank().Holding(RegSetpoint); got != 2500 {
		t.Fatalf("reset setpoint = %d", got)
	}
}
