package water

import (
	"errors"
	"fmt"
	"math"
)

// Kind says what a tag is to a controller.
type Kind uint8

// Tag kinds.
const (
	// Measurement is what a transmitter reports: noisy, range-limited, and
	// subject to transmitter faults.
	Measurement Kind = iota + 1
	// Actuator is a command a controller writes: a run bit, a speed, a valve
	// opening, a dosing rate. Reading it returns the value the final element
	// holds (a stuck valve keeps its old opening).
	Actuator
	// Status is a read-only state from the equipment itself (running,
	// tripped, hours run): exact, never noisy.
	Status
)

func (k Kind) String() string {
	switch k {
	case Measurement:
		return "measurement"
	case Actuator:
		return "actuator"
	case Status:
		return "status"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// TagInfo describes a tag: the contract between the plant, PLC programs,
// the historian and plant definitions.
type TagInfo struct {
	Name        string
	Unit        string // "m", "m³/h", "L/h", "mg/L", "bar", "kPa", "%", "pH", "NTU", "h", "" for counts and bools
	Kind        Kind
	Bool        bool    // 0 or 1
	Min, Max    float64 // range; measurements saturate at it, actuator writes are clamped to it
	Description string
}

// TagID is a tag's index, resolved once with Lookup and then used with Get
// and Set on the hot path.
type TagID int32

// Errors from Read, Write and Set.
var (
	ErrUnknownTag = errors.New("unknown tag")
	ErrReadOnly   = errors.New("tag is read-only")
	ErrBadValue   = errors.New("value is not a finite number")
)

// tagTable is the plant's tag registry and published values.
type tagTable struct {
	info   []TagInfo
	byName map[string]TagID
	val    []float64 // published: measured (noisy, faulted), status, or effective actuator value
	cmd    []float64 // actuator: last command written
	// sources feed val on publish: a pointer into the typed plant state.
	meas  []source
	stats []source
}

type source struct {
	id  TagID
	src *float64
}

func (t *tagTable) add(info TagInfo) TagID {
	if _, dup := t.byName[info.Name]; dup {
		panic("water: duplicate tag " + info.Name) // a bug in the registry, not an input error
	}
	if info.Bool {
		info.Min, info.Max = 0, 1
	}
	id := TagID(len(t.info))
	t.info = append(t.info, info)
	t.byName[info.Name] = id
	t.val = append(t.val, 0)
	t.cmd = append(t.cmd, 0)
	return id
}

func (t *tagTable) measurement(name, unit string, lo, hi float64, src *float64, desc string) TagID {
	id := t.add(TagInfo{Name: name, Unit: unit, Kind: Measurement, Min: lo, Max: hi, Description: desc})
	t.meas = append(t.meas, source{id, src})
	return id
}

func (t *tagTable) status(name, unit string, isBool bool, lo, hi float64, src *float64, desc string) TagID {
	id := t.add(TagInfo{Name: name, Unit: unit, Kind: Status, Bool: isBool, Min: lo, Max: hi, Description: desc})
	t.stats = append(t.stats, source{id, src})
	return id
}

func (t *tagTable) actuator(name, unit string, isBool bool, lo, hi float64, desc string) TagID {
	return t.add(TagInfo{Name: name, Unit: unit, Kind: Actuator, Bool: isBool, Min: lo, Max: hi, Description: desc})
}

// Tags lists every tag of the plant, in TagID order.
func (p *Plant) Tags() []TagInfo {
	return append([]TagInfo(nil), p.tags.info...)
}

// Lookup resolves a tag name to its ID.
func (p *Plant) Lookup(name string) (TagID, bool) {
	id, ok := p.tags.byName[name]
	return id, ok
}

// Info describes the tag id; ok is false for an ID the plant does not have.
func (p *Plant) Info(id TagID) (TagInfo, bool) {
	if id < 0 || int(id) >= len(p.tags.info) {
		return TagInfo{}, false
	}
	return p.tags.info[id], true
}

// Read returns the tag's current value by name.
func (p *Plant) Read(name string) (float64, bool) {
	id, ok := p.tags.byName[name]
	if !ok {
		return 0, false
	}
	return p.tags.val[id], true
}

// Write commands an actuator by name. Values outside the tag's range are
// clamped; booleans take any non-zero value as 1.
func (p *Plant) Write(name string, v float64) error {
	id, ok := p.tags.byName[name]
	if !ok {
		return fmt.Errorf("water: write %q: %w", name, ErrUnknownTag)
	}
	return p.Set(id, v)
}

// Get returns the tag's current value. It panics on an ID not obtained from
// Lookup, like an out-of-range slice index.
func (p *Plant) Get(id TagID) float64 { return p.tags.val[id] }

// Set commands an actuator, as Write does. A stuck actuator accepts the
// command but keeps its position until the fault is cleared.
func (p *Plant) Set(id TagID, v float64) error {
	if id < 0 || int(id) >= len(p.tags.info) {
		return fmt.Errorf("water: tag id %d: %w", id, ErrUnknownTag)
	}
	info := &p.tags.info[id]
	if info.Kind != Actuator {
		return fmt.Errorf("water: write %s: %w", info.Name, ErrReadOnly)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("water: write %s: %w", info.Name, ErrBadValue)
	}
	if info.Bool {
		v = b2f(v != 0)
	}
	v = min(max(v, info.Min), info.Max)
	p.tags.cmd[id] = v
	if !p.stuck[id] {
		p.tags.val[id] = v
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
