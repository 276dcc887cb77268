package water

import (
	"fmt"
	"strings"
)

// FaultKind is a class of equipment failure a range control can inject.
type FaultKind uint8

// Fault kinds.
const (
	// StuckActuator: the actuator (valve, speed, run bit, dosing rate) holds
	// the value it had; commands are remembered and applied once cleared.
	StuckActuator FaultKind = iota + 1
	// FrozenTransmitter: the measurement keeps reporting its last value.
	FrozenTransmitter
	// ZeroTransmitter: the measurement reports the bottom of its range (a
	// broken loop, 4 mA or below).
	ZeroTransmitter
	// PumpTrip: the pump trips (motor protection) and cannot be reset until
	// the fault is cleared. Tag names the pump: "dist.pump1".
	PumpTrip
)

func (k FaultKind) String() string {
	switch k {
	case StuckActuator:
		return "stuck-actuator"
	case FrozenTransmitter:
		return "frozen-transmitter"
	case ZeroTransmitter:
		return "zero-transmitter"
	case PumpTrip:
		return "pump-trip"
	}
	return fmt.Sprintf("FaultKind(%d)", uint8(k))
}

// ParseFaultKind is the inverse of FaultKind.String, for plant definitions
// and range-control requests.
func ParseFaultKind(s string) (FaultKind, error) {
	for k := StuckActuator; k <= PumpTrip; k++ {
		if strings.EqualFold(s, k.String()) {
			return k, nil
		}
	}
	return 0, fmt.Errorf("water: unknown fault kind %q (want stuck-actuator, frozen-transmitter, zero-transmitter or pump-trip)", s)
}

// Fault is one injected failure.
type Fault struct {
	Kind FaultKind
	Tag  string // the actuator, the measurement, or the pump ("intake.pump2")
}

type faultMode uint8

const (
	faultNone faultMode = iota
	faultFrozen
	faultZero
)

// InjectFault injects f. It fails for a tag of the wrong kind for the fault.
func (p *Plant) InjectFault(f Fault) error {
	if f.Kind == PumpTrip {
		pu, ok := p.pumpsByName[f.Tag]
		if !ok {
			return fmt.Errorf("water: fault %s: no pump %q", f.Kind, f.Tag)
		}
		p.faults = append(p.faults, f)
		p.trip(pu)
		p.publishStatus()
		return nil
	}
	id, ok := p.tags.byName[f.Tag]
	if !ok {
		return fmt.Errorf("water: fault %s on %q: %w", f.Kind, f.Tag, ErrUnknownTag)
	}
	kind := p.tags.info[id].Kind
	switch f.Kind {
	case StuckActuator:
		if kind != Actuator {
			return fmt.Errorf("water: fault %s: %s is a %s, not an actuator", f.Kind, f.Tag, kind)
		}
		p.stuck[id] = true
	case FrozenTransmitter, ZeroTransmitter:
		if kind != Measurement {
			return fmt.Errorf("water: fault %s: %s is a %s, not a measurement", f.Kind, f.Tag, kind)
		}
		p.freeze[id] = faultFrozen
		if f.Kind == ZeroTransmitter {
			p.freeze[id] = faultZero
			p.tags.val[id] = p.tags.info[id].Min
		}
	default:
		return fmt.Errorf("water: unknown fault kind %d", f.Kind)
	}
	p.faults = append(p.faults, f)
	return nil
}

// ClearFaults repairs every injected fault: stuck actuators move to their
// last command, transmitters report again, tripped pumps may be reset.
func (p *Plant) ClearFaults() {
	for id, s := range p.stuck {
		if s {
			p.tags.val[id] = p.tags.cmd[id]
		}
	}
	clear(p.stuck)
	clear(p.freeze)
	p.faults = nil
}

// Faults lists the faults in effect, in injection order.
func (p *Plant) Faults() []Fault { return append([]Fault(nil), p.faults...) }

func (p *Plant) tripFaulted(pu *pump) bool {
	for _, f := range p.faults {
		if f.Kind == PumpTrip && f.Tag == pu.name {
			return true
		}
	}
	return false
}
