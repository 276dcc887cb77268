// Package rules turns analyzer records into alerts: a catalog of rules (the
// equivalents of Digital Bond's Quickdraw Modbus and DNP3 detections,
// protocol anomalies, and a policy of authorized masters, function codes
// and writable ranges), each with an id, a name, a severity, a description
// and ATT&CK for ICS technique ids, and an engine that evaluates them with
// thresholds counted on record time, so that replaying a capture gives the
// same alerts as watching it live.
//
// The engine emits sensor/alert.Alert values to an alert.Sink. It is not
// safe for concurrent use, except Stats.
package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
)

// Track says what a threshold counts by.
type Track uint8

// Tracks.
const (
	BySrc  Track = iota // the record's sender
	ByDst               // the record's receiver
	ByPair              // sender and receiver
)

// String names the track.
func (t Track) String() string {
	switch t {
	case ByDst:
		return "dst"
	case ByPair:
		return "pair"
	}
	return "src"
}

// Threshold makes a rule alert only when Count matching records of the
// same key (Track) fall within Window of record time. After it alerts, the
// key is suppressed for Window: a storm gives one alert per window. Count 1
// alerts on the first match and suppresses the rest of the window.
type Threshold struct {
	Count  int
	Window time.Duration
	Track  Track
	// Distinct counts only records to a destination (address and port) not
	// already counted in the window: a client retrying one server is not a
	// sweep.
	Distinct bool
}

// String formats the threshold like "5 in 1m0s by pair".
func (t *Threshold) String() string {
	if t == nil {
		return ""
	}
	s := strconv.Itoa(t.Count) + " in " + t.Window.String() + " by " + t.Track.String()
	if t.Distinct {
		s += ", distinct destinations"
	}
	return s
}

// Info describes a rule; List returns them all for `otrange sensor rules`.
type Info struct {
	ID          string
	Name        string
	Severity    alert.Severity
	Description string
	// Techniques are ATT&CK for ICS ids: the established (v18) id, followed
	// by the v19 id where MITRE's 2026 revision replaced it with a
	// sub-technique (T0855 → T1692.001, T0856 → T1692.002,
	// T0803 → T1691.001, T0804 → T1691.002).
	Techniques []string
	// Protocol is "modbus", "dnp3" or "any".
	Protocol string
	// Threshold is nil when every match alerts.
	Threshold *Threshold
	// NeedsPolicy says the rule is quiet without a policy that lists what
	// it checks (authorized masters, pairs, writable ranges).
	NeedsPolicy bool
	// Quickdraw names the Digital Bond Quickdraw rule it mirrors, if any.
	Quickdraw string
}

// match returns whether the record matches, and the alert's message; it is
// called for every record its selector lets through, so it must not
// allocate unless it matches.
type matchFunc func(e *Engine, r *analyze.Record) (string, bool)

// selector says which records without anomalies a rule can match, so that
// the engine calls its match function only on those: a valid record meets
// the few rules of its protocol, direction and function code instead of
// the whole catalog. Records with anomalies (rare) meet every rule of their
// protocol, as do the anomaly rules, whose selector is onAnomalies.
//
// A selector may let through records its rule does not match (match
// decides), never the reverse: TestSelectorsCoverMatches checks it.
type selector struct {
	requests, responses bool
	// fc selects by function code: Modbus as sent (with the exception
	// bit), the DNP3 application function; nil selects every code.
	fc func(fc uint8) bool
}

// onAnomalies selects no record without anomalies.
var onAnomalies = selector{}

// onRequests selects valid requests with function codes fc (nil: all).
func onRequests(fc func(uint8) bool) selector { return selector{requests: true, fc: fc} }

// onResponses selects valid responses with function codes fc (nil: all).
func onResponses(fc func(uint8) bool) selector { return selector{responses: true, fc: fc} }

// codes selects the function codes cs.
func codes(cs ...uint8) func(uint8) bool {
	return func(fc uint8) bool { return slices.Contains(cs, fc) }
}

// takes reports whether s lets through valid records of direction d and
// function code fc.
func (s selector) takes(d analyze.Direction, fc uint8) bool {
	if d == analyze.Request && !s.requests || d == analyze.Response && !s.responses {
		return false
	}
	return s.fc == nil || s.fc(fc)
}

// matcher is a rule's selector and match function.
type matcher struct {
	on    selector
	match matchFunc
}

// rule is a catalog entry.
type rule struct {
	Info
	matcher
}

// appliesTo reports whether the rule is about protocol p.
func (ru *rule) appliesTo(p analyze.Protocol) bool {
	return ru.Protocol == "any" || ru.Protocol == p.String()
}

// List returns every rule's description, in catalog order.
func List() []Info {
	out := make([]Info, len(catalog))
	for i, r := range catalog {
		out[i] = r.Info
		out[i].Techniques = append([]string(nil), r.Techniques...)
	}
	return out
}

// IDs returns every rule's id, in catalog order.
func IDs() []string {
	out := make([]string, len(catalog))
	for i, r := range catalog {
		out[i] = r.ID
	}
	return out
}

// Config configures an Engine.
type Config struct {
	Sensor  string     // sensor name in alerts; "" means "otrange"
	Policy  *Policy    // nil: no policy (policy rules are quiet)
	Sink    alert.Sink // required
	Disable []string   // rule ids to turn off
	// MaxKeys bounds the threshold states kept (default 65536); when full,
	// an arbitrary state is dropped and counted.
	MaxKeys int
}

// Stats are the engine's counters.
type Stats struct {
	Records     uint64 // records evaluated
	Alerts      uint64 // alerts emitted
	Suppressed  uint64 // matches inside a suppression window
	Pending     uint64 // matches counted toward a threshold not yet reached
	KeysEvicted uint64 // threshold states dropped because of MaxKeys
}

// stateKey names a threshold state.
type stateKey struct {
	rule int
	a, b netip.Addr
}

// maxEvidence bounds the frames listed in an alert.
const maxEvidence = 16

// counter is the threshold state of one key.
type counter struct {
	times         []time.Time
	frames        []uint64
	dsts          []netip.AddrPort // with Threshold.Distinct
	suppressUntil time.Time
}

// protocols is the number of analyze.Protocol values the engine indexes
// (unknown, Modbus, DNP3); a record of another value is treated as unknown.
const protocols = 3

// Engine evaluates the catalog on records.
type Engine struct {
	cfg    Config
	policy *Policy
	// byProto lists, per protocol, the catalog indexes of the enabled rules
	// about it, in catalog order: the rules a record with anomalies meets.
	byProto [protocols][]int
	// byFunc lists, per protocol, direction and function code, the enabled
	// rules whose selector takes such a valid record, in catalog order.
	byFunc                                        [protocols][2][256][]int
	states                                        map[stateKey]*counter
	nextID                                        uint64
	records, alerts, suppressed, pending, evicted atomic.Uint64
}

// New validates cfg and returns an engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Sink == nil {
		return nil, fmt.Errorf("rules: an alert sink is required")
	}
	if cfg.Sensor == "" {
		cfg.Sensor = "otrange"
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 65536
	}
	off := map[string]bool{}
	for _, id := range cfg.Disable {
		if ruleIndex(id) < 0 {
			return nil, fmt.Errorf("rules: cannot disable %q: no such rule", id)
		}
		off[id] = true
	}
	e := &Engine{cfg: cfg, policy: cfg.Policy, states: map[stateKey]*counter{}}
	if e.policy == nil {
		e.policy = &Policy{}
	}
	for p := range analyze.Protocol(protocols) {
		for i := range catalog {
			if ru := &catalog[i]; !off[ru.ID] && ru.appliesTo(p) {
				e.byProto[p] = append(e.byProto[p], i)
			}
		}
		for d := range analyze.Direction(2) {
			var prev, list []int
			for fc := range 256 {
				list = list[:0]
				for _, i := range e.byProto[p] {
					if catalog[i].on.takes(d, uint8(fc)) {
						list = append(list, i)
					}
				}
				if !slices.Equal(list, prev) { // neighbouring codes mostly share a list
					prev = slices.Clip(slices.Clone(list))
				}
				e.byFunc[p][d][fc] = prev
			}
		}
	}
	return e, nil
}

func ruleIndex(id string) int {
	for i, r := range catalog {
		if r.ID == id {
			return i
		}
	}
	return -1
}

// Stats returns the counters so far.
func (e *Engine) Stats() Stats {
	return Stats{Records: e.records.Load(), Alerts: e.alerts.Load(), Suppressed: e.suppressed.Load(),
		Pending: e.pending.Load(), KeysEvicted: e.evicted.Load()}
}

// Evaluate runs every enabled rule that can match r, in catalog order. It
// does not keep r.
func (e *Engine) Evaluate(r *analyze.Record) {
	e.records.Add(1)
	for _, i := range e.candidates(r) {
		ru := &catalog[i]
		msg, ok := ru.match(e, r)
		if !ok {
			continue
		}
		frames, fire := e.count(i, ru.Threshold, r)
		if fire {
			e.emit(ru, r, msg, frames)
		}
	}
}

// candidates returns the catalog indexes of the enabled rules that can
// match r: all those of its protocol when it has anomalies, else those
// whose selector takes its direction and function code. A valid DNP3
// record without an application layer (a link-only frame) has no function
// code: no rule but the anomaly rules takes it.
func (e *Engine) candidates(r *analyze.Record) []int {
	p := r.Protocol
	if p >= protocols {
		p = analyze.ProtoUnknown
	}
	if r.Anomalies != 0 {
		return e.byProto[p]
	}
	if !r.Valid || r.Dir > analyze.Response {
		return nil
	}
	switch p {
	case analyze.ProtoModbus:
		return e.byFunc[p][r.Dir][r.Modbus.Function]
	case analyze.ProtoDNP3:
		if r.DNP3.HasApp {
			return e.byFunc[p][r.Dir][r.DNP3.AppFunction]
		}
	}
	return nil
}

// count applies the rule's threshold and returns the evidence frames and
// whether to alert.
func (e *Engine) count(i int, th *Threshold, r *analyze.Record) ([]uint64, bool) {
	if th == nil {
		return []uint64{r.Frame}, true
	}
	k := stateKey{rule: i}
	src, dst := r.Flow.Src.Addr(), r.Flow.Dst.Addr()
	switch th.Track {
	case BySrc:
		k.a = src
	case ByDst:
		k.a = dst
	case ByPair:
		k.a, k.b = src, dst
	}
	c := e.states[k]
	if c == nil {
		if len(e.states) >= e.cfg.MaxKeys {
			for old := range e.states {
				delete(e.states, old)
				e.evicted.Add(1)
				break
			}
		}
		c = &counter{}
		e.states[k] = c
	}
	t := r.Time
	if t.Before(c.suppressUntil) {
		e.suppressed.Add(1)
		return nil, false
	}
	// Forget what fell out of the window, then count this record.
	cut := 0
	for cut < len(c.times) && t.Sub(c.times[cut]) > th.Window {
		cut++
	}
	c.times = append(c.times[:0], c.times[cut:]...)
	c.frames = append(c.frames[:0], c.frames[cut:]...)
	if th.Distinct {
		c.dsts = append(c.dsts[:0], c.dsts[cut:]...)
		if slices.Contains(c.dsts, r.Flow.Dst) {
			e.pending.Add(1)
			return nil, false
		}
		c.dsts = append(c.dsts, r.Flow.Dst)
	}
	c.times = append(c.times, t)
	c.frames = append(c.frames, r.Frame)
	if len(c.times) < th.Count {
		e.pending.Add(1)
		return nil, false
	}
	frames := c.frames
	if len(frames) > maxEvidence {
		frames = frames[len(frames)-maxEvidence:]
	}
	frames = append([]uint64(nil), frames...)
	c.times, c.frames, c.dsts = c.times[:0], c.frames[:0], c.dsts[:0]
	c.suppressUntil = t.Add(th.Window)
	return frames, true
}

// emit builds and sends the alert.
func (e *Engine) emit(ru *rule, r *analyze.Record, msg string, frames []uint64) {
	e.nextID++
	e.alerts.Add(1)
	a := alert.Alert{
		ID:         e.cfg.Sensor + "-" + strconv.FormatInt(r.Time.UnixNano(), 10) + "-" + strconv.FormatUint(e.nextID, 10),
		Time:       r.Time,
		Sensor:     e.cfg.Sensor,
		RuleID:     ru.ID,
		RuleName:   ru.Name,
		Severity:   ru.Severity,
		Techniques: append([]string(nil), ru.Techniques...),
		SrcAddr:    r.Flow.Src.Addr().String(),
		SrcPort:    r.Flow.Src.Port(),
		DstAddr:    r.Flow.Dst.Addr().String(),
		DstPort:    r.Flow.Dst.Port(),
		Protocol:   r.Protocol.String(),
		Evidence:   alert.Evidence{FlowID: r.Flow.ID(), Frames: frames},
		Message:    msg,
	}
	if r.Valid {
		switch r.Protocol {
		case analyze.ProtoModbus:
			m := &r.Modbus
			a.Function = modbus.FunctionCode(m.Function).String()
			unit := int(m.UnitID)
			a.Unit = &unit
			if m.Address != 0 || m.Quantity != 0 {
				addr := int(m.Address)
				a.Address = &addr
			}
			if r.Dir == analyze.Request && m.NValues > 0 && (m.Func() == 5 || m.Func() == 6) {
				v := int(m.Values[0])
				a.Value = &v
			}
		case analyze.ProtoDNP3:
			d := &r.DNP3
			if d.HasApp {
				a.Function = dnp3.FunctionCode(d.AppFunction).String()
			}
			unit := int(d.LinkDst) // the outstation: the receiver of a request
			if r.Dir == analyze.Response {
				unit = int(d.LinkSrc)
			}
			a.Unit = &unit
		}
	}
	e.cfg.Sink.Emit(a)
}
