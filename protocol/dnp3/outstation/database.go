package outstation

import (
	"fmt"
	"math"
	"sync"

	"github.com/otrange/otrange/protocol/dnp3"
)

// PointType is a kind of point in the database.
type PointType uint8

// Point types.
const (
	BinaryInput PointType = iota
	BinaryOutput
	Counter
	// FrozenCounter points mirror the counters: one per counter, with its
	// class, holding the value of the last IMMED_FREEZE or FREEZE_CLEAR.
	FrozenCounter
	AnalogInput
	AnalogOutput
	numTypes
)

// String names the type.
func (t PointType) String() string {
	return [...]string{"binary input", "binary output", "counter", "frozen counter", "analog input", "analog output"}[t]
}

// staticGV and eventGV are the group and default variation of each type's
// static and event objects.
var (
	staticGV = [numTypes][2]uint8{{1, 2}, {10, 2}, {20, 1}, {21, 1}, {30, 5}, {40, 3}}
	eventGV  = [numTypes][2]uint8{{2, 2}, {11, 2}, {22, 5}, {23, 5}, {32, 7}, {42, 7}}
)

// typeOfGroup maps a static or event group to its point type.
func typeOfGroup(g uint8) (t PointType, event, ok bool) {
	for t := range numTypes {
		if staticGV[t][0] == g {
			return t, false, true
		}
		if eventGV[t][0] == g {
			return t, true, true
		}
	}
	return 0, false, false
}

type point struct {
	m         dnp3.Measurement
	class     uint8
	deadband  float64
	lastEvent float64
}

type event struct {
	id    uint64
	typ   PointType
	index uint16
	class uint8
	m     dnp3.Measurement
	owner *session // non-nil while sent and awaiting confirmation
}

// Database holds the outstation's points and its event buffer. It is safe
// for concurrent use: the device model updates it while masters read it.
type Database struct {
	mu       sync.Mutex
	points   [numTypes][]point
	events   []event
	max      int
	nextID   uint64
	overflow bool
	dropped  uint64
	now      func() dnp3.Time
	notify   func()
}

func newDatabase(p Points, maxEvents int, now func() dnp3.Time, notify func()) *Database {
	d := &Database{max: maxEvents, now: now, notify: notify, events: make([]event, 0, maxEvents)}
	for t, cfgs := range p.all() {
		d.points[t] = make([]point, len(cfgs))
		for i, c := range cfgs {
			d.points[t][i] = point{m: dnp3.Measurement{Flags: dnp3.FlagOnline}, class: c.Class, deadband: c.Deadband}
		}
	}
	return d
}

// Len returns how many points of type t exist.
func (d *Database) Len(t PointType) int { return len(d.points[t]) }

// Get returns the current value of a point.
func (d *Database) Get(t PointType, index int) (dnp3.Measurement, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t >= numTypes || index < 0 || index >= len(d.points[t]) {
		return dnp3.Measurement{}, fmt.Errorf("outstation: no %v %d", t, index)
	}
	return d.points[t][index].m, nil
}

// Update sets a point's value and quality. A zero Time is stamped with the
// outstation's clock. A point with a class makes an event when its flags
// change, or its value changes (beyond the deadband for analogs).
func (d *Database) Update(t PointType, index int, m dnp3.Measurement) error {
	if t >= numTypes || index < 0 || index >= len(d.points[t]) {
		return fmt.Errorf("outstation: no %v %d", t, index)
	}
	d.mu.Lock()
	made := d.update(t, index, m)
	d.mu.Unlock()
	if made && d.notify != nil {
		d.notify()
	}
	return nil
}

// update sets a point under the lock and reports whether it made an event.
func (d *Database) update(t PointType, index int, m dnp3.Measurement) bool {
	if !m.HasTime {
		m.Time, m.HasTime = d.now(), true
	}
	p := &d.points[t][index]
	changed := p.m.Flags != m.Flags
	switch t {
	case AnalogInput, AnalogOutput:
		changed = changed || math.Abs(m.Value-p.lastEvent) > p.deadband || (p.deadband == 0 && m.Value != p.lastEvent)
	default:
		changed = changed || m.Value != p.m.Value
	}
	p.m = m
	made := changed && p.class > 0
	if made {
		p.lastEvent = m.Value
		d.addEvent(event{typ: t, index: uint16(index), class: p.class, m: m})
	}
	return made
}

// freeze copies counters start..stop to their frozen counters, stamped
// now; with clear the counters go back to zero. A frozen counter with a
// class makes a frozen counter event (g23) when the frozen value or flags
// change, as Update does for other points.
func (d *Database) freeze(start, stop int, clear bool) {
	d.mu.Lock()
	now := d.now()
	made := false
	for i := start; i <= stop; i++ {
		m := d.points[Counter][i].m
		m.Time, m.HasTime = now, true
		made = d.update(FrozenCounter, i, m) || made
		if clear {
			m.Value = 0
			made = d.update(Counter, i, m) || made
		}
	}
	d.mu.Unlock()
	if made && d.notify != nil {
		d.notify()
	}
}

// SetBool sets a binary point's state, keeping its flags.
func (d *Database) SetBool(t PointType, index int, v bool) error {
	m, err := d.Get(t, index)
	if err != nil {
		return err
	}
	m.Value, m.HasTime = 0, false
	if v {
		m.Value = 1
	}
	return d.Update(t, index, m)
}

// SetValue sets a counter's or analog's value, keeping its flags.
func (d *Database) SetValue(t PointType, index int, v float64) error {
	m, err := d.Get(t, index)
	if err != nil {
		return err
	}
	m.Value, m.HasTime = v, false
	return d.Update(t, index, m)
}

// addEvent appends an event, dropping the oldest unsent one when full.
func (d *Database) addEvent(e event) {
	d.nextID++
	e.id = d.nextID
	if len(d.events) >= d.max {
		d.overflow = true
		d.dropped++
		drop := 0
		for i := range d.events {
			if d.events[i].owner == nil {
				drop = i
				break
			}
		}
		d.events = append(d.events[:drop], d.events[drop+1:]...)
	}
	d.events = append(d.events, e)
}

// Events returns how many events are buffered.
func (d *Database) Events() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.events)
}

// Dropped returns how many events were lost to overflow.
func (d *Database) Dropped() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped
}

// classMask returns bit c set for each class with unclaimed events, and
// whether the buffer overflowed.
func (d *Database) classMask() (mask uint8, overflow bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.events {
		if d.events[i].owner == nil {
			mask |= 1 << d.events[i].class
		}
	}
	return mask, d.overflow
}

// claim marks up to limit unclaimed events for owner that match classes
// (bit per class) and, if typ is valid, the type; it calls emit for each
// until emit returns false, and returns the claimed ids.
func (d *Database) claim(owner *session, classes uint8, typ PointType, limit int, emit func(e *event) bool) []uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []uint64
	for i := range d.events {
		e := &d.events[i]
		if len(ids) >= limit {
			break
		}
		if e.owner != nil || classes&(1<<e.class) == 0 || (typ < numTypes && e.typ != typ) {
			continue
		}
		if !emit(e) {
			break
		}
		e.owner = owner
		ids = append(ids, e.id)
	}
	return ids
}

// confirm removes the events with the given ids (they were received).
func (d *Database) confirm(ids []uint64) {
	if len(ids) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	set := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	kept := d.events[:0]
	for _, e := range d.events {
		if !set[e.id] {
			kept = append(kept, e)
		}
	}
	clear(d.events[len(kept):])
	d.events = kept
	if len(d.events) < d.max {
		d.overflow = false
	}
}

// release gives back events claimed by owner (no confirmation came).
func (d *Database) release(owner *session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.events {
		if d.events[i].owner == owner {
			d.events[i].owner = nil
		}
	}
}

// unclaim gives back the events with the given ids.
func (d *Database) unclaim(ids []uint64) {
	if len(ids) == 0 {
		return
	}
	set := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.events {
		if set[d.events[i].id] {
			d.events[i].owner = nil
		}
	}
}

// reset clears events (cold restart).
func (d *Database) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = d.events[:0]
	d.overflow = false
}

// static calls fn for points start..stop of type t under the lock.
func (d *Database) static(t PointType, start, stop int, fn func(i int, m dnp3.Measurement)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := start; i <= stop; i++ {
		fn(i, d.points[t][i].m)
	}
}

// setClass assigns class c to points start..stop of type t.
func (d *Database) setClass(t PointType, start, stop int, c uint8) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := start; i <= stop; i++ {
		d.points[t][i].class = c
	}
}
