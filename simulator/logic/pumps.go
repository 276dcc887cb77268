package logic

import (
	"fmt"

	"github.com/otrange/otrange/simulator/water"
)

// Alarm bits of a program's "alarms" variable. Each program uses the bits
// that make sense for it (its doc says which).
const (
	AlarmLevelHigh     = 1 << iota // level at or above level.high
	AlarmLevelHighHigh             // level at or above level.highhigh
	AlarmLevelLow                  // level at or below level.low
	AlarmPumpTripped               // a pump of the program is tripped
	AlarmInterlock                 // an interlock holds equipment off
	AlarmPressureHigh              // pressure at or above pressure.high
	AlarmPressureLow               // pressure at or below pressure.low
	AlarmChlorineHigh              // outlet chlorine at or above cl.high
	AlarmChlorineLow               // outlet chlorine at or below cl.low
	AlarmPHHigh                    // outlet pH at or above ph.high
	AlarmPHLow                     // outlet pH at or below ph.low
	AlarmFilterDP                  // a filter's dp at or above dp.alarm
	AlarmNoFlow                    // dosing held off: no flow to pace it
	AlarmSuctionLow                // booster suction below suction.min
	AlarmBackwash                  // a filter is in backwash
)

// pumpGroup is the pumps of one group (intake.pump1, intake.pump2, ...)
// that a program runs, with their per-pump variables.
type pumpGroup struct {
	run, speed, reset, running, tripped []water.TagID
	hasSpeed                            []bool
	cmd, isRunning, isTripped           []VarID
	on                                  []bool // scratch: the pumps to run this scan
}

// pumps discovers group.pump1, group.pump2, ... in the process and declares
// pumpN.cmd, pumpN.running and pumpN.tripped for each.
func (b *builder) pumps(group string) *pumpGroup {
	g := &pumpGroup{}
	for i := 1; b.has(fmt.Sprintf("%s.pump%d.run", group, i)); i++ {
		n := fmt.Sprintf("%s.pump%d", group, i)
		g.run = append(g.run, b.out(n+".run"))
		sp := b.has(n + ".speed")
		g.hasSpeed = append(g.hasSpeed, sp)
		var spID water.TagID
		if sp {
			spID = b.out(n + ".speed")
		}
		g.speed = append(g.speed, spID)
		g.reset = append(g.reset, b.out(n+".reset"))
		g.running = append(g.running, b.in(n+".running"))
		g.tripped = append(g.tripped, b.in(n+".tripped"))
		v := fmt.Sprintf("pump%d", i)
		g.cmd = append(g.cmd, b.v(v+".cmd", Bool, Operator, 0, 0, 1, 1, "", "manual run command (manual or local mode)"))
		g.isRunning = append(g.isRunning, b.v(v+".running", Bool, ReadOnly, 0, 0, 1, 1, "", "pump running"))
		g.isTripped = append(g.isTripped, b.v(v+".tripped", Bool, ReadOnly, 0, 0, 1, 1, "", "pump tripped"))
	}
	if len(g.run) == 0 && b.err == nil {
		b.err = fmt.Errorf("process has no pumps %s.pumpN", group)
	}
	g.on = make([]bool, len(g.run))
	return g
}

// refresh reads the pumps' states into the variables; it returns how many
// are tripped and how many run.
func (g *pumpGroup) refresh(p *Program, t Tags) (tripped, running int) {
	for i := range g.run {
		r, tr := t.Get(g.running[i]), t.Get(g.tripped[i])
		p.val[g.isRunning[i]], p.val[g.isTripped[i]] = r, tr
		if tr != 0 {
			tripped++
		}
		if r != 0 {
			running++
		}
	}
	return tripped, running
}

// resetTrips asks every tripped pump's protection to reset.
func (g *pumpGroup) resetTrips(p *Program, t Tags) {
	for i := range g.run {
		if p.val[g.isTripped[i]] != 0 {
			p.set(t, g.reset[i], 1)
		}
	}
}

// manual sets on from the manual commands.
func (g *pumpGroup) manual(p *Program) []bool {
	for i := range g.on {
		g.on[i] = p.val[g.cmd[i]] != 0
	}
	return g.on
}

// choose sets on to the first n pumps that are not tripped (lead, lag, ...).
func (g *pumpGroup) choose(p *Program, n int) []bool {
	for i := range g.on {
		g.on[i] = n > 0 && p.val[g.isTripped[i]] == 0
		if g.on[i] {
			n--
		}
	}
	return g.on
}

// off clears on.
func (g *pumpGroup) off() []bool {
	clear(g.on)
	return g.on
}

// drive writes run commands, and speed to variable-speed pumps when
// speed >= 0.
func (g *pumpGroup) drive(p *Program, t Tags, on []bool, speed float64) {
	for i := range g.run {
		p.set(t, g.run[i], b2f(on[i]))
		if g.hasSpeed[i] && speed >= 0 {
			p.set(t, g.speed[i], speed)
		}
	}
}

// levelCalls is on/off level control with hysteresis for a group of pumps
// that fill a tank: the lead is called at or below start, the lag too at or
// below start−lag, all stop at or above stop; between, the call holds.
func levelCalls(calls int, level, start, stop, lag float64) int {
	switch {
	case level >= stop:
		return 0
	case level <= start-lag:
		return 2
	case level <= start:
		return max(calls, 1)
	}
	return calls
}

// bit returns flag if cond holds.
func bit(cond bool, flag int) int {
	if cond {
		return flag
	}
	return 0
}
