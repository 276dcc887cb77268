package baseline

import (
	"errors"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
)

// Rule ids of the baseline's alerts.
const (
	RuleNewPair       = "baseline.new_pair"
	RuleNewFunction   = "baseline.new_function"
	RuleNewWrite      = "baseline.new_write_register"
	RuleValueRange    = "baseline.value_out_of_range"
	RulePollRhythm    = "baseline.poll_rhythm"
	defaultLearnFor   = time.Hour
	ewmaWeight        = 0.25
	stopCheckInterval = time.Second
)

// Options configure a Baseline. The zero value of each field means its
// default.
type Options struct {
	Sensor string     // sensor name in alerts; "" means "otrange"
	Sink   alert.Sink // required
	// LearnFor and LearnRecords end learning: LearnFor of record time from
	// the first record, or LearnRecords requests learned, whichever comes
	// first. Both zero: one hour.
	LearnFor     time.Duration
	LearnRecords uint64
	// Model, when set, is used as learned: no learning.
	Model *Model

	Window       time.Duration // one alert per deviation key per Window (default 10m)
	ValueMargin  float64       // margin around learned values (default 0.1)
	RhythmFactor float64       // faster/slower factor of poll_rhythm (default 2)
	StopFactor   float64       // silence, in learned means, that is a stop (default 5)
	MinSilence   time.Duration // shortest silence that is a stop (default 10s)
	MinPolls     int           // learned intervals of a regular stream (default 10)
	MaxJitter    float64       // largest stddev/mean of a regular stream (default 0.5)

	MaxPairs   int // default 1024
	MaxStreams int // default 8192
	MaxValues  int // default 8192
	MaxRanges  int // per register or point set, default 64
	MaxKeys    int // suppression keys, default 4096

	Logger *slog.Logger // nil: discard
}

// Stats are the baseline's counters.
type Stats struct {
	Records        uint64 // records observed
	Learned        uint64 // requests learned
	Alerts         uint64 // alerts emitted
	Suppressed     uint64 // deviations inside their suppression window
	PairsDropped   uint64 // pairs not learned: MaxPairs
	StreamsDropped uint64 // streams not learned: MaxStreams
	ValuesDropped  uint64 // registers without a value range: MaxValues
	RangesMerged   uint64 // range merges forced by MaxRanges
	KeysEvicted    uint64 // suppression keys evicted: MaxKeys
}

type pairKey struct {
	client, server netip.Addr
	proto          analyze.Protocol
}

// Modbus tables (the DNP3 table is the object group).
const (
	tableCoils    uint8 = 0
	tableDiscrete uint8 = 1
	tableInput    uint8 = 3
	tableHolding  uint8 = 4
)

type areaKey struct {
	unit  uint16 // Modbus unit id or DNP3 outstation link address
	table uint8
	write bool
}

type pair struct {
	funcs [4]uint64
	areas map[areaKey]*rangeSet
}

func (p *pair) hasFunc(fc uint8) bool { return p.funcs[fc>>6]&(1<<(fc&63)) != 0 }
func (p *pair) setFunc(fc uint8)      { p.funcs[fc>>6] |= 1 << (fc & 63) }

type streamKey struct {
	pair pairKey
	unit uint16
	fc   uint8
	addr uint16
}

// Stream alert states.
const (
	rhythmOK uint8 = iota
	rhythmFast
	rhythmSlow
	rhythmStopped
)

type stream struct {
	n        uint32 // learned intervals
	mean, m2 float64
	last     time.Time
	regular  bool
	// detection
	ewma  float64
	seen  uint32
	state uint8
	flow  analyze.Flow
	frame uint64
}

func (s *stream) learn(t time.Time) {
	if !s.last.IsZero() {
		if d := t.Sub(s.last).Seconds(); d > 0 {
			s.n++
			delta := d - s.mean
			s.mean += delta / float64(s.n)
			s.m2 += delta * (d - s.mean)
		}
	}
	if t.After(s.last) {
		s.last = t
	}
}

func (s *stream) std() float64 {
	if s.n < 2 {
		return 0
	}
	return math.Sqrt(s.m2 / float64(s.n-1))
}

type valueKey struct {
	pair pairKey
	unit uint8
	addr uint16
}

type valRange struct{ min, max uint16 }

type devKey struct {
	rule uint8
	pair pairKey
	unit uint16
	a    uint32
}

// Baseline learns the model, then checks records against it.
type Baseline struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	learning bool
	start    time.Time
	from     time.Time
	until    time.Time
	learned  uint64
	pairs    map[pairKey]*pair
	streams  map[streamKey]*stream
	values   map[valueKey]*valRange
	suppress map[devKey]time.Time
	now      time.Time
	nextStop time.Time
	nextID   uint64
	pending  []alert.Alert
	abuf     [maxAreas]area // areas of the record at hand

	records, alerts, suppressed, pairsDropped, streamsDropped, valuesDropped, rangesMerged, keysEvicted atomic.Uint64
	learnedCount                                                                                        atomic.Uint64
	learningFlag                                                                                        atomic.Bool
}

// New validates opts and returns a baseline, learning unless opts.Model is
// set.
func New(opts Options) (*Baseline, error) {
	if opts.Sink == nil {
		return nil, errors.New("baseline: an alert sink is required")
	}
	if opts.Sensor == "" {
		opts.Sensor = "otrange"
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"ValueMargin", opts.ValueMargin}, {"RhythmFactor", opts.RhythmFactor}, {"StopFactor", opts.StopFactor},
		{"MaxJitter", opts.MaxJitter}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return nil, errors.New("baseline: " + f.name + " must be a finite number >= 0")
		}
	}
	if opts.RhythmFactor != 0 && opts.RhythmFactor <= 1 || opts.StopFactor != 0 && opts.StopFactor <= 1 {
		return nil, errors.New("baseline: RhythmFactor and StopFactor must be above 1")
	}
	if opts.LearnFor < 0 || opts.Window < 0 || opts.MinSilence < 0 {
		return nil, errors.New("baseline: durations must not be negative")
	}
	if opts.LearnFor == 0 && opts.LearnRecords == 0 {
		opts.LearnFor = defaultLearnFor
	}
	deff := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	deff(&opts.ValueMargin, 0.1)
	deff(&opts.RhythmFactor, 2)
	deff(&opts.StopFactor, 5)
	deff(&opts.MaxJitter, 0.5)
	defi := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defi(&opts.MinPolls, 10)
	defi(&opts.MaxPairs, 1024)
	defi(&opts.MaxStreams, 8192)
	defi(&opts.MaxValues, 8192)
	defi(&opts.MaxRanges, 64)
	defi(&opts.MaxKeys, 4096)
	if opts.Window == 0 {
		opts.Window = 10 * time.Minute
	}
	if opts.MinSilence == 0 {
		opts.MinSilence = 10 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b := &Baseline{opts: opts, log: log, learning: true, pairs: map[pairKey]*pair{}, streams: map[streamKey]*stream{},
		values: map[valueKey]*valRange{}, suppress: map[devKey]time.Time{}}
	if opts.Model != nil {
		if err := b.load(opts.Model); err != nil {
			return nil, err
		}
		b.finish(time.Time{})
	}
	b.learningFlag.Store(b.learning)
	return b, nil
}

// Learning reports whether the baseline is still learning.
func (b *Baseline) Learning() bool { return b.learningFlag.Load() }

// Stats returns the counters so far.
func (b *Baseline) Stats() Stats {
	return Stats{Records: b.records.Load(), Learned: b.learnedCount.Load(), Alerts: b.alerts.Load(),
		Suppressed: b.suppressed.Load(), PairsDropped: b.pairsDropped.Load(), StreamsDropped: b.streamsDropped.Load(),
		ValuesDropped: b.valuesDropped.Load(), RangesMerged: b.rangesMerged.Load(), KeysEvicted: b.keysEvicted.Load()}
}

// EndLearning ends the learning period now (at the last record's time).
func (b *Baseline) EndLearning() {
	b.mu.Lock()
	if b.learning {
		b.finish(b.now)
	}
	out := b.takePending()
	b.mu.Unlock()
	b.emit(out)
}

// Observe learns from or checks one record. It does not keep r.
func (b *Baseline) Observe(r *analyze.Record) {
	b.records.Add(1)
	b.mu.Lock()
	b.advance(r.Time)
	if r.Valid && r.Dir == analyze.Request && (r.Protocol == analyze.ProtoModbus || r.Protocol == analyze.ProtoDNP3 && r.DNP3.HasApp) {
		if b.learning {
			if b.start.IsZero() {
				b.start = r.Time
			}
			if (b.opts.LearnFor > 0 && r.Time.Sub(b.start) >= b.opts.LearnFor) ||
				(b.opts.LearnRecords > 0 && b.learned >= b.opts.LearnRecords) {
				b.finish(r.Time)
			}
		}
		if b.learning {
			b.learn(r)
		} else {
			b.check(r)
		}
	}
	out := b.takePending()
	b.mu.Unlock()
	b.emit(out)
}

// Advance tells the baseline that record time reached t without a record,
// so that stopped polling streams are noticed on a quiet network.
func (b *Baseline) Advance(t time.Time) {
	b.mu.Lock()
	b.advance(t)
	out := b.takePending()
	b.mu.Unlock()
	b.emit(out)
}

// takePending returns the alerts built under the lock, to be emitted after
// it; with none it returns nil and allocates nothing.
func (b *Baseline) takePending() []alert.Alert {
	out := b.pending
	if len(out) > 0 {
		b.pending = nil
	}
	return out
}

func (b *Baseline) emit(out []alert.Alert) {
	for _, a := range out {
		b.opts.Sink.Emit(a)
	}
}

func (b *Baseline) advance(t time.Time) {
	if t.After(b.now) {
		b.now = t
	}
	if b.learning || t.Before(b.nextStop) {
		return
	}
	b.nextStop = t.Add(stopCheckInterval)
	for k, s := range b.streams {
		if !s.regular || s.state == rhythmStopped || s.last.IsZero() {
			continue
		}
		limit := max(time.Duration(b.opts.StopFactor*s.mean*float64(time.Second)), b.opts.MinSilence)
		if silence := t.Sub(s.last); silence > limit {
			s.state = rhythmStopped
			b.deviation(devKey{rule: 5, pair: k.pair, unit: k.unit, a: uint32(k.fc)<<16 | uint32(k.addr)}, t, nil, &s.flow, s.frame,
				RulePollRhythm, "Polling stream stopped", alert.Medium, []string{"T0815", "T0804", "T1691.002"},
				"polling stream "+streamName(k)+" stopped: no request for "+silence.Round(time.Millisecond).String()+
					", learned every "+secs(s.mean), int(k.unit), int(k.fc), int(k.addr), -1)
		}
	}
}

func secs(f float64) string {
	return time.Duration(f * float64(time.Second)).Round(time.Millisecond).String()
}

func streamName(k streamKey) string {
	return k.pair.client.String() + "→" + k.pair.server.String() + " " + k.pair.proto.String() + " unit " +
		strconv.Itoa(int(k.unit)) + " function " + strconv.Itoa(int(k.fc)) + " address " + strconv.Itoa(int(k.addr))
}

// finish ends learning at t and classifies the streams.
func (b *Baseline) finish(t time.Time) {
	b.learning = false
	b.learningFlag.Store(false)
	if !t.IsZero() {
		b.from, b.until = b.start, t
	}
	for _, s := range b.streams {
		s.regular = int(s.n) >= b.opts.MinPolls && s.mean > 0 && s.std() <= b.opts.MaxJitter*s.mean
		s.ewma, s.seen, s.state = s.mean, 0, rhythmOK
	}
	b.log.Info("baseline learned", "pairs", len(b.pairs), "streams", len(b.streams), "requests", b.learned)
}

// requestFunction returns the function code of a request record.
func requestFunction(r *analyze.Record) uint8 {
	if r.Protocol == analyze.ProtoDNP3 {
		return r.DNP3.AppFunction
	}
	return r.Modbus.Func()
}

func keyOf(r *analyze.Record) pairKey {
	return pairKey{client: r.Flow.Src.Addr().Unmap(), server: r.Flow.Dst.Addr().Unmap(), proto: r.Protocol}
}

// unitOf is the Modbus unit id or the DNP3 outstation address.
func unitOf(r *analyze.Record) uint16 {
	if r.Protocol == analyze.ProtoDNP3 {
		return r.DNP3.LinkDst
	}
	return uint16(r.Modbus.UnitID)
}

// pollAddr names a stream within a pair, unit and function.
func pollAddr(r *analyze.Record) uint16 {
	if r.Protocol == analyze.ProtoDNP3 {
		if r.DNP3.NObjects == 0 {
			return 0
		}
		o := &r.DNP3.Objects[0]
		return uint16(o.Group)<<8 | uint16(o.Variation)
	}
	return r.Modbus.Address
}

// area is one register or point range touched by a request.
type area struct {
	table  uint8
	write  bool
	lo, hi uint32
}

// maxAreas bounds the areas taken from one record.
const maxAreas = analyze.MaxObjects * analyze.MaxIndexes

// areas lists what r reads and writes into buf.
func areas(r *analyze.Record, buf *[maxAreas]area) []area {
	out := buf[:0]
	if r.Protocol == analyze.ProtoModbus {
		m := &r.Modbus
		rng := func(addr, qty uint16) (uint32, uint32) {
			return uint32(addr), min(uint32(addr)+uint32(max(qty, 1))-1, math.MaxUint16)
		}
		lo, hi := rng(m.Address, m.Quantity)
		switch m.Func() {
		case 1:
			out = append(out, area{tableCoils, false, lo, hi})
		case 2:
			out = append(out, area{tableDiscrete, false, lo, hi})
		case 3:
			out = append(out, area{tableHolding, false, lo, hi})
		case 4:
			out = append(out, area{tableInput, false, lo, hi})
		case 5:
			out = append(out, area{tableCoils, true, lo, lo})
		case 15:
			out = append(out, area{tableCoils, true, lo, hi})
		case 6, 22:
			out = append(out, area{tableHolding, true, lo, lo})
		case 16:
			out = append(out, area{tableHolding, true, lo, hi})
		case 23:
			out = append(out, area{tableHolding, false, lo, hi})
			wlo, whi := rng(m.WriteAddress, m.WriteQuantity)
			out = append(out, area{tableHolding, true, wlo, whi})
		}
		return out
	}
	d := &r.DNP3
	write := d.AppFunction >= 2 && d.AppFunction <= 6
	if d.AppFunction != 1 && !write {
		return out
	}
	for i := range min(d.NObjects, len(d.Objects)) {
		o := &d.Objects[i]
		rc := o.Qualifier & 0x0F
		switch {
		case rc == 6: // all points
			out = append(out, area{o.Group, write, 0, math.MaxUint32})
		case rc <= 5 && !o.HasData:
			out = append(out, area{o.Group, write, min(o.Start, o.Stop), max(o.Start, o.Stop)})
		case o.NIndexes > 0:
			for _, ix := range o.IndexList() {
				out = append(out, area{o.Group, write, ix, ix})
			}
			if o.IndexesTruncated && rc <= 5 {
				out = append(out, area{o.Group, write, min(o.Start, o.Stop), max(o.Start, o.Stop)})
			}
		default: // count only (time, class data): the group as point 0
			out = append(out, area{o.Group, write, 0, 0})
		}
	}
	return out
}

// writtenValues calls f for each holding register value r writes.
func writtenValues(r *analyze.Record, f func(addr, v uint16) bool) {
	if r.Protocol != analyze.ProtoModbus {
		return
	}
	m := &r.Modbus
	var base uint16
	switch m.Func() {
	case 6, 16:
		base = m.Address
	case 23:
		base = m.WriteAddress
	default:
		return
	}
	for i, v := range m.ValueList() {
		a := uint32(base) + uint32(i)
		if a > math.MaxUint16 {
			return
		}
		if !f(uint16(a), v) {
			return
		}
	}
}

func (b *Baseline) learn(r *analyze.Record) {
	b.learned++
	b.learnedCount.Add(1)
	k := keyOf(r)
	p := b.pairs[k]
	if p == nil {
		if len(b.pairs) >= b.opts.MaxPairs {
			b.pairsDropped.Add(1)
			return
		}
		p = &pair{areas: map[areaKey]*rangeSet{}}
		b.pairs[k] = p
	}
	fc := requestFunction(r)
	p.setFunc(fc)
	unit := unitOf(r)
	for _, a := range areas(r, &b.abuf) {
		ak := areaKey{unit: unit, table: a.table, write: a.write}
		rs := p.areas[ak]
		if rs == nil {
			rs = &rangeSet{}
			p.areas[ak] = rs
		}
		if n := rs.add(a.lo, a.hi, b.opts.MaxRanges); n > 0 {
			b.rangesMerged.Add(uint64(n))
		}
	}
	writtenValues(r, func(addr, v uint16) bool {
		vk := valueKey{pair: k, unit: uint8(unit), addr: addr}
		vr := b.values[vk]
		if vr == nil {
			if len(b.values) >= b.opts.MaxValues {
				b.valuesDropped.Add(1)
				return true
			}
			b.values[vk] = &valRange{v, v}
			return true
		}
		vr.min, vr.max = min(vr.min, v), max(vr.max, v)
		return true
	})
	sk := streamKey{pair: k, unit: unit, fc: fc, addr: pollAddr(r)}
	s := b.streams[sk]
	if s == nil {
		if len(b.streams) >= b.opts.MaxStreams {
			b.streamsDropped.Add(1)
			return
		}
		s = &stream{}
		b.streams[sk] = s
	}
	s.learn(r.Time)
	s.flow, s.frame = r.Flow, r.Frame
}

// isCommand reports requests that act on a device rather than read it.
func isCommand(p analyze.Protocol, fc uint8) bool {
	if p == analyze.ProtoDNP3 {
		return fc != 0 && fc != 1 && fc != 23 && fc != 24 && fc != 129 && fc != 130
	}
	switch fc {
	case 5, 6, 8, 15, 16, 21, 22, 23, 90, 125, 126:
		return true
	}
	return false
}

func (b *Baseline) check(r *analyze.Record) {
	k := keyOf(r)
	fc := requestFunction(r)
	unit := unitOf(r)
	cmd := isCommand(r.Protocol, fc)
	p := b.pairs[k]
	if p == nil {
		sev, tech, what := alert.Medium, []string{"T0846"}, "reads"
		if cmd {
			sev, tech, what = alert.High, []string{"T0855", "T1692.001"}, "sends commands"
		}
		b.deviation(devKey{rule: 1, pair: k}, r.Time, r, &r.Flow, r.Frame, RuleNewPair, "New communication pair", sev, tech,
			"new pair: "+k.client.String()+" "+what+" to "+k.server.String()+" over "+k.proto.String()+
				", never seen while learning", -1, -1, -1, -1)
		return
	}
	if !p.hasFunc(fc) {
		tech := []string{"T0888"}
		if cmd {
			tech = []string{"T0855", "T1692.001"}
		}
		b.deviation(devKey{rule: 2, pair: k, a: uint32(fc)}, r.Time, r, &r.Flow, r.Frame, RuleNewFunction, "New function code for a pair",
			alert.Medium, tech, "new function "+r.Protocol.FunctionName(fc)+" ("+strconv.Itoa(int(fc))+") from "+k.client.String()+
				" to "+k.server.String()+", never used by this pair while learning", -1, -1, -1, -1)
		return
	}
	var touched []area
	if r.Protocol.IsWrite(fc) {
		touched = areas(r, &b.abuf)
	}
	for _, a := range touched {
		if !a.write {
			continue
		}
		rs := p.areas[areaKey{unit: unit, table: a.table, write: true}]
		if rs != nil && rs.contains(a.lo, a.hi) {
			continue
		}
		b.deviation(devKey{rule: 3, pair: k, unit: unit, a: uint32(a.table)<<24 | a.lo&0xFFFFFF}, r.Time, r, &r.Flow, r.Frame,
			RuleNewWrite, "Write to a register never written", alert.High, []string{"T0836", "T0855", "T1692.001"},
			"write to "+tableName(r.Protocol, a.table)+" "+strconv.FormatUint(uint64(a.lo), 10)+rangeEnd(a)+" of unit "+
				strconv.Itoa(int(unit))+" on "+k.server.String()+" by "+k.client.String()+": never written while learning",
			int(unit), -1, int(a.lo), -1)
		return
	}
	reported := false
	writtenValues(r, func(addr, v uint16) bool {
		vr := b.values[valueKey{pair: k, unit: uint8(unit), addr: addr}]
		if vr == nil {
			return true
		}
		lo, hi := b.allowed(vr)
		if float64(v) >= lo && float64(v) <= hi {
			return true
		}
		b.deviation(devKey{rule: 4, pair: k, unit: unit, a: uint32(addr)}, r.Time, r, &r.Flow, r.Frame, RuleValueRange,
			"Written value out of the learned range", alert.High, []string{"T0836", "T0855", "T1692.001"},
			"value "+strconv.Itoa(int(v))+" written to holding register "+strconv.Itoa(int(addr))+" of unit "+strconv.Itoa(int(unit))+
				" on "+k.server.String()+" by "+k.client.String()+" is outside the learned "+strconv.Itoa(int(vr.min))+".."+
				strconv.Itoa(int(vr.max))+" (allowed "+strconv.FormatFloat(lo, 'f', -1, 64)+".."+strconv.FormatFloat(hi, 'f', -1, 64)+")",
			int(unit), -1, int(addr), int(v))
		reported = true
		return false
	})
	sk := streamKey{pair: k, unit: unit, fc: fc, addr: pollAddr(r)}
	s := b.streams[sk]
	if s == nil || !s.regular {
		return
	}
	if s.last.IsZero() { // loaded model: the first request starts the clock
		s.last, s.flow, s.frame = r.Time, r.Flow, r.Frame
		return
	}
	if d := r.Time.Sub(s.last).Seconds(); d > 0 {
		s.ewma += ewmaWeight * (d - s.ewma)
		s.seen++
		s.last = r.Time
	}
	s.flow, s.frame = r.Flow, r.Frame
	if s.state == rhythmStopped {
		s.state, s.seen, s.ewma = rhythmOK, 0, s.mean
		return
	}
	if reported || int(s.seen) < b.opts.MinPolls {
		return
	}
	f := b.opts.RhythmFactor
	switch {
	case s.state == rhythmOK && (s.ewma < s.mean/f || s.ewma > s.mean*f):
		what := "faster"
		s.state = rhythmFast
		if s.ewma > s.mean {
			what, s.state = "slower", rhythmSlow
		}
		b.deviation(devKey{rule: 5, pair: k, unit: unit, a: uint32(fc)<<16 | uint32(sk.addr)}, r.Time, r, &r.Flow, r.Frame,
			RulePollRhythm, "Polling rhythm changed", alert.Medium, []string{},
			"polling stream "+streamName(sk)+" runs "+what+": every "+secs(s.ewma)+" on average, learned every "+secs(s.mean),
			int(unit), int(fc), int(sk.addr), -1)
	case s.state != rhythmOK && s.ewma >= s.mean/math.Sqrt(f) && s.ewma <= s.mean*math.Sqrt(f):
		s.state = rhythmOK
	}
}

// allowed returns the learned value range widened by the margin.
func (b *Baseline) allowed(vr *valRange) (float64, float64) {
	lo, hi := float64(vr.min), float64(vr.max)
	m := max(b.opts.ValueMargin*(hi-lo), b.opts.ValueMargin*hi, 1)
	return lo - m, hi + m
}

func rangeEnd(a area) string {
	if a.hi == a.lo {
		return ""
	}
	return ".." + strconv.FormatUint(uint64(a.hi), 10)
}

func tableName(p analyze.Protocol, t uint8) string {
	if p == analyze.ProtoDNP3 {
		return "g" + strconv.Itoa(int(t))
	}
	switch t {
	case tableCoils:
		return "coils"
	case tableDiscrete:
		return "discrete_inputs"
	case tableInput:
		return "input_registers"
	case tableHolding:
		return "holding_registers"
	}
	return "table" + strconv.Itoa(int(t))
}

// deviation emits an alert for key unless it is suppressed. r may be nil
// (a stopped stream); unit, fn, addr and value are -1 when absent (fn is
// used only without r).
func (b *Baseline) deviation(key devKey, t time.Time, r *analyze.Record, flow *analyze.Flow, frame uint64, rule, name string,
	sev alert.Severity, techniques []string, msg string, unit, fn, addr, value int) {
	if until, ok := b.suppress[key]; ok && t.Before(until) {
		b.suppressed.Add(1)
		return
	}
	if _, ok := b.suppress[key]; !ok && len(b.suppress) >= b.opts.MaxKeys {
		for k2, until := range b.suppress {
			delete(b.suppress, k2)
			if !t.Before(until) {
				continue // expired: not worth counting
			}
			b.keysEvicted.Add(1)
			break
		}
	}
	b.suppress[key] = t.Add(b.opts.Window)
	b.alerts.Add(1)
	b.nextID++
	a := alert.Alert{
		ID:         b.opts.Sensor + "-" + strconv.FormatInt(t.UnixNano(), 10) + "-b" + strconv.FormatUint(b.nextID, 10),
		Time:       t,
		Sensor:     b.opts.Sensor,
		RuleID:     rule,
		RuleName:   name,
		Severity:   sev,
		Techniques: techniques,
		SrcAddr:    flow.Src.Addr().String(),
		SrcPort:    flow.Src.Port(),
		DstAddr:    flow.Dst.Addr().String(),
		DstPort:    flow.Dst.Port(),
		Protocol:   key.pair.proto.String(),
		Evidence:   alert.Evidence{FlowID: flow.ID()},
		Message:    msg,
	}
	if frame != 0 {
		a.Evidence.Frames = []uint64{frame}
	}
	if r != nil {
		a.Function = r.Protocol.FunctionName(requestFunction(r))
		u := int(unitOf(r))
		a.Unit = &u
	} else if fn >= 0 {
		a.Function = key.pair.proto.FunctionName(uint8(fn))
	}
	if unit >= 0 {
		a.Unit = &unit
	}
	if addr >= 0 {
		a.Address = &addr
	}
	if value >= 0 {
		a.Value = &value
	}
	b.pending = append(b.pending, a)
}
