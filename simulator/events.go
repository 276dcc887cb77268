package simulator

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/otrange/otrange/simulator/logic"
)

// Consequence names, the closed list scenarios and playbooks use.
const (
	TankOverflow   = "tank overflow"
	UnsafeWater    = "unsafe water"
	PressureLow    = "pressure low"
	ZoneOutOfWater = "zone out of water"
	PumpTrip       = "pump trip"
	SISTrip        = "sis trip"
	DeviceOffline  = "device offline"
	LossOfView     = "loss of view"
)

var alarmNames = [...]string{
	"level high", "level high-high", "level low", "pump tripped", "interlock", "pressure high", "pressure low",
	"chlorine high", "chlorine low", "pH high", "pH low", "filter dp high", "dosing held: no flow",
	"suction low", "backwash",
}

var tripNames = [...]string{"raw level high-high", "clear-well level high-high", "chlorine", "pH high-high", "pH low-low", "over-pressure"}

// alarmName names bit i of a program's alarms variable.
func alarmName(kind string, i int) string {
	if kind == "sis" {
		if i < len(tripNames) {
			return "trip cause: " + tripNames[i]
		}
		if i == 15 {
			return "bypassed"
		}
	} else if i < len(alarmNames) {
		return alarmNames[i]
	}
	return fmt.Sprintf("alarm bit %d", i)
}

// eventState remembers what was active, to report changes. It is touched
// only with the plant locked.
type eventState struct {
	started bool
	alarms  map[string]uint64
	active  map[string]bool // consequence key → active
}

type activeAlarm struct {
	Device string `json:"device"`
	Name   string `json:"name"`
	Active bool   `json:"active"`
}

func (s *eventState) activeAlarms(p *Plant) []activeAlarm {
	var out []activeAlarm
	for _, f := range p.fields {
		a := uint64(f.prog.Get(mustVar(f.prog, "alarms")))
		for a != 0 {
			i := bits.TrailingZeros64(a)
			a &^= 1 << i
			out = append(out, activeAlarm{Device: f.def.Name, Name: alarmName(f.prog.Kind(), i), Active: true})
		}
	}
	return out
}

func mustVar(p *logic.Program, name string) logic.VarID {
	id, _ := p.Lookup(name)
	return id
}

// update compares the plant with what was active and returns the changes.
func (s *eventState) update(p *Plant) []Event {
	if !s.started {
		s.alarms, s.active, s.started = map[string]uint64{}, map[string]bool{}, true
	}
	now := time.Now()
	var evs []Event
	for _, f := range p.fields {
		a := uint64(f.prog.Get(mustVar(f.prog, "alarms")))
		old := s.alarms[f.def.Name]
		for changed := a ^ old; changed != 0; {
			i := bits.TrailingZeros64(changed)
			changed &^= 1 << i
			evs = append(evs, Event{Kind: "alarm", Device: f.def.Name, Name: alarmName(f.prog.Kind(), i), Active: a&(1<<i) != 0, Time: now})
		}
		s.alarms[f.def.Name] = a
		if f.prog.Kind() == "sis" {
			if v, ok := f.prog.Read("trip"); ok {
				evs = s.flip(evs, "sis:"+f.def.Name, v != 0, Event{Kind: "consequence", Device: f.def.Name, Name: SISTrip, Time: now})
			}
		}
		up, _ := f.station.Up()
		if f.out != nil && f.out.Down() { // restarting after a DNP3 cold or warm restart
			up = false
		}
		evs = s.flip(evs, "offline:"+f.def.Name, !up, Event{Kind: "consequence", Device: f.def.Name, Name: DeviceOffline, Time: now})
	}
	c := p.water.Consequences()
	for _, sp := range c.Spills {
		evs = s.flip(evs, "spill:"+sp.Tank, sp.Overflowing, Event{Kind: "consequence", Device: sp.Tank, Name: TankOverflow,
			Detail: fmt.Sprintf("%.1f m³ spilled so far", sp.Volume), Time: now})
	}
	evs = s.flip(evs, "unsafe", c.UnsafeWater.Active, Event{Kind: "consequence", Name: UnsafeWater,
		Detail: fmt.Sprintf("outlet chlorine up to %.2f mg/L, pH %.2f–%.2f", c.MaxChlorine, c.MinPH, c.MaxPH), Time: now})
	evs = s.flip(evs, "pressure", c.LowPressure.Active, Event{Kind: "consequence", Name: PressureLow,
		Detail: fmt.Sprintf("network pressure down to %.2f bar", c.MinPressure), Time: now})
	for _, z := range c.Zones {
		evs = s.flip(evs, "zone:"+z.Reservoir, z.Outage.Active, Event{Kind: "consequence", Device: z.Reservoir, Name: ZoneOutOfWater, Time: now})
	}
	for _, pu := range c.Pumps {
		evs = s.flip(evs, "trip:"+pu.Pump, pu.Tripped, Event{Kind: "consequence", Device: pu.Pump, Name: PumpTrip, Time: now})
	}
	if p.scada != nil {
		evs = s.flip(evs, "view", p.scada.Suspended(), Event{Kind: "consequence", Device: "hmi", Name: LossOfView, Time: now})
	}
	return evs
}

// flip records a condition and appends an event when it changed.
func (s *eventState) flip(evs []Event, key string, on bool, ev Event) []Event {
	if s.active[key] == on {
		return evs
	}
	s.active[key] = on
	ev.Active = on
	return append(evs, ev)
}

// reset forgets what was active (after a plant reset everything is
// reported afresh).
func (s *eventState) reset() { s.started = false }
