package baseline

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/otrange/otrange/sensor/analyze"
)

// ModelVersion is the version of the model's JSON form this program writes
// and reads.
const ModelVersion = 1

// maxModelBytes bounds a model file read back.
const maxModelBytes = 64 << 20

// Model is the learned communication model, in the JSON form it is saved in.
type Model struct {
	Version      int       `json:"version"`
	LearnedFrom  time.Time `json:"learned_from"`
	LearnedUntil time.Time `json:"learned_until"`
	Requests     uint64    `json:"requests"` // requests learned
	Pairs        []Pair    `json:"pairs"`
	Dropped      Dropped   `json:"dropped"`
}

// Dropped counts what the bounds left out of the model while learning.
type Dropped struct {
	Pairs        uint64 `json:"pairs"`
	Streams      uint64 `json:"streams"`
	Values       uint64 `json:"values"`
	RangesMerged uint64 `json:"ranges_merged"`
}

// Pair is what one client asked one server.
type Pair struct {
	Client    netip.Addr `json:"client"`
	Server    netip.Addr `json:"server"`
	Protocol  string     `json:"protocol"` // modbus or dnp3
	Functions []int      `json:"functions"`
	Areas     []Area     `json:"areas,omitempty"`
	Values    []Values   `json:"values,omitempty"`
	Streams   []Stream   `json:"streams,omitempty"`
}

// Area is a set of registers or points read or written: Modbus tables are
// coils, discrete_inputs, input_registers and holding_registers; DNP3
// tables are object groups (g12, g41...). Unit is the Modbus unit id or the
// DNP3 outstation address.
type Area struct {
	Unit   int         `json:"unit"`
	Table  string      `json:"table"`
	Access string      `json:"access"` // read or write
	Ranges [][2]uint32 `json:"ranges"` // inclusive
}

// Values is the range of values written to one holding register.
type Values struct {
	Unit    int `json:"unit"`
	Address int `json:"address"`
	Min     int `json:"min"`
	Max     int `json:"max"`
}

// Stream is the learned rhythm of one request stream.
type Stream struct {
	Unit      int     `json:"unit"`
	Function  int     `json:"function"`
	Address   int     `json:"address"`
	Intervals int     `json:"intervals"`
	MeanS     float64 `json:"mean_s"`
	StddevS   float64 `json:"stddev_s"`
	Regular   bool    `json:"regular"`
}

// Model returns the model learned so far (complete once Learning is false).
func (b *Baseline) Model() *Model {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := &Model{Version: ModelVersion, LearnedFrom: b.from.UTC(), LearnedUntil: b.until.UTC(), Requests: b.learned,
		Dropped: Dropped{Pairs: b.pairsDropped.Load(), Streams: b.streamsDropped.Load(), Values: b.valuesDropped.Load(),
			RangesMerged: b.rangesMerged.Load()}}
	if b.learning {
		m.LearnedFrom, m.LearnedUntil = b.start.UTC(), b.now.UTC()
	}
	byPair := map[pairKey]*Pair{}
	for k, p := range b.pairs {
		mp := &Pair{Client: k.client, Server: k.server, Protocol: k.proto.String(), Functions: []int{}}
		for fc := range 256 {
			if p.hasFunc(uint8(fc)) {
				mp.Functions = append(mp.Functions, fc)
			}
		}
		for ak, rs := range p.areas {
			a := Area{Unit: int(ak.unit), Table: tableName(k.proto, ak.table), Access: "read"}
			if ak.write {
				a.Access = "write"
			}
			for _, s := range rs.spans {
				a.Ranges = append(a.Ranges, [2]uint32{s.lo, s.hi})
			}
			mp.Areas = append(mp.Areas, a)
		}
		slices.SortFunc(mp.Areas, func(x, y Area) int {
			return cmp.Or(cmp.Compare(x.Unit, y.Unit), strings.Compare(x.Table, y.Table), strings.Compare(x.Access, y.Access))
		})
		byPair[k] = mp
	}
	for k, v := range b.values {
		if mp := byPair[k.pair]; mp != nil {
			mp.Values = append(mp.Values, Values{Unit: int(k.unit), Address: int(k.addr), Min: int(v.min), Max: int(v.max)})
		}
	}
	for k, s := range b.streams {
		if mp := byPair[k.pair]; mp != nil {
			regular := s.regular
			if b.learning {
				regular = int(s.n) >= b.opts.MinPolls && s.mean > 0 && s.std() <= b.opts.MaxJitter*s.mean
			}
			mp.Streams = append(mp.Streams, Stream{Unit: int(k.unit), Function: int(k.fc), Address: int(k.addr),
				Intervals: int(s.n), MeanS: round9(s.mean), StddevS: round9(s.std()), Regular: regular})
		}
	}
	for _, mp := range byPair {
		slices.SortFunc(mp.Values, func(x, y Values) int { return cmp.Or(cmp.Compare(x.Unit, y.Unit), cmp.Compare(x.Address, y.Address)) })
		slices.SortFunc(mp.Streams, func(x, y Stream) int {
			return cmp.Or(cmp.Compare(x.Unit, y.Unit), cmp.Compare(x.Function, y.Function), cmp.Compare(x.Address, y.Address))
		})
		m.Pairs = append(m.Pairs, *mp)
	}
	slices.SortFunc(m.Pairs, func(x, y Pair) int {
		return cmp.Or(x.Client.Compare(y.Client), x.Server.Compare(y.Server), strings.Compare(x.Protocol, y.Protocol))
	})
	if m.Pairs == nil {
		m.Pairs = []Pair{}
	}
	return m
}

func round9(f float64) float64 { return math.Round(f*1e9) / 1e9 }

// Write saves the model as indented JSON.
func (m *Model) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

// WriteFile saves the model to path, atomically (a temporary file renamed).
func (m *Model) WriteFile(path string) error {
	var buf bytes.Buffer
	if err := m.Write(&buf); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("baseline model: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("baseline model: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("baseline model: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("baseline model: %w", err)
	}
	return nil
}

// ReadModel decodes and validates a saved model. Unknown fields, another
// version, and values this program could not have written are errors.
func ReadModel(r io.Reader) (*Model, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxModelBytes+1))
	if err != nil {
		return nil, fmt.Errorf("baseline model: %w", err)
	}
	if len(data) > maxModelBytes {
		return nil, fmt.Errorf("baseline model: larger than %d bytes", maxModelBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Model
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("baseline model: %w", err)
	}
	if dec.More() {
		return nil, errors.New("baseline model: data after the model")
	}
	if m.Version != ModelVersion {
		return nil, fmt.Errorf("baseline model: version %d, this program reads %d", m.Version, ModelVersion)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("baseline model: %w", err)
	}
	return &m, nil
}

// ReadModelFile reads a model saved with WriteFile.
func ReadModelFile(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("baseline model: %w", err)
	}
	defer f.Close()
	m, err := ReadModel(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func parseProto(s string) (analyze.Protocol, bool) {
	switch s {
	case "modbus":
		return analyze.ProtoModbus, true
	case "dnp3":
		return analyze.ProtoDNP3, true
	}
	return 0, false
}

func parseTable(p analyze.Protocol, s string) (uint8, bool) {
	if p == analyze.ProtoDNP3 {
		if !strings.HasPrefix(s, "g") {
			return 0, false
		}
		n, err := strconv.ParseUint(s[1:], 10, 8)
		return uint8(n), err == nil
	}
	for _, t := range []uint8{tableCoils, tableDiscrete, tableInput, tableHolding} {
		if tableName(p, t) == s {
			return t, true
		}
	}
	return 0, false
}

func (m *Model) validate() error {
	in := func(v, lo, hi int) bool { return v >= lo && v <= hi }
	finite := func(f float64) bool { return f >= 0 && f < 1e9 }
	for i, p := range m.Pairs {
		where := fmt.Sprintf("pair %d (%s→%s)", i, p.Client, p.Server)
		proto, ok := parseProto(p.Protocol)
		if !ok {
			return fmt.Errorf("%s: protocol %q", where, p.Protocol)
		}
		if !p.Client.IsValid() || !p.Server.IsValid() {
			return fmt.Errorf("%s: missing address", where)
		}
		maxUnit := 255
		if proto == analyze.ProtoDNP3 {
			maxUnit = 0xFFFF
		}
		for _, fc := range p.Functions {
			if !in(fc, 0, 255) {
				return fmt.Errorf("%s: function %d", where, fc)
			}
		}
		for _, a := range p.Areas {
			if _, ok := parseTable(proto, a.Table); !ok || !in(a.Unit, 0, maxUnit) || (a.Access != "read" && a.Access != "write") {
				return fmt.Errorf("%s: area %+v", where, a)
			}
			for _, r := range a.Ranges {
				if r[0] > r[1] {
					return fmt.Errorf("%s: area %s range %d..%d", where, a.Table, r[0], r[1])
				}
			}
		}
		for _, v := range p.Values {
			if !in(v.Unit, 0, 255) || !in(v.Address, 0, 0xFFFF) || !in(v.Min, 0, 0xFFFF) || !in(v.Max, v.Min, 0xFFFF) {
				return fmt.Errorf("%s: values %+v", where, v)
			}
		}
		for _, s := range p.Streams {
			if !in(s.Unit, 0, maxUnit) || !in(s.Function, 0, 255) || !in(s.Address, 0, 0xFFFF) || s.Intervals < 0 ||
				!finite(s.MeanS) || !finite(s.StddevS) {
				return fmt.Errorf("%s: stream %+v", where, s)
			}
		}
	}
	return nil
}

// load fills the baseline from a validated model, within the bounds.
func (b *Baseline) load(m *Model) error {
	if m.Version != ModelVersion {
		return fmt.Errorf("baseline: model version %d, this program reads %d", m.Version, ModelVersion)
	}
	if err := m.validate(); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	b.from, b.until, b.learned = m.LearnedFrom, m.LearnedUntil, m.Requests
	b.learnedCount.Store(m.Requests)
	for _, mp := range m.Pairs {
		proto, _ := parseProto(mp.Protocol)
		k := pairKey{client: mp.Client.Unmap(), server: mp.Server.Unmap(), proto: proto}
		p := b.pairs[k]
		if p == nil {
			if len(b.pairs) >= b.opts.MaxPairs {
				b.pairsDropped.Add(1)
				continue
			}
			p = &pair{areas: map[areaKey]*rangeSet{}}
			b.pairs[k] = p
		}
		for _, fc := range mp.Functions {
			p.setFunc(uint8(fc))
		}
		for _, a := range mp.Areas {
			t, _ := parseTable(proto, a.Table)
			ak := areaKey{unit: uint16(a.Unit), table: t, write: a.Access == "write"}
			rs := p.areas[ak]
			if rs == nil {
				rs = &rangeSet{}
				p.areas[ak] = rs
			}
			for _, r := range a.Ranges {
				b.rangesMerged.Add(uint64(rs.add(r[0], r[1], b.opts.MaxRanges)))
			}
		}
		for _, v := range mp.Values {
			vk := valueKey{pair: k, unit: uint8(v.Unit), addr: uint16(v.Address)}
			if b.values[vk] == nil && len(b.values) >= b.opts.MaxValues {
				b.valuesDropped.Add(1)
				continue
			}
			b.values[vk] = &valRange{uint16(v.Min), uint16(v.Max)}
		}
		for _, s := range mp.Streams {
			sk := streamKey{pair: k, unit: uint16(s.Unit), fc: uint8(s.Function), addr: uint16(s.Address)}
			if b.streams[sk] == nil && len(b.streams) >= b.opts.MaxStreams {
				b.streamsDropped.Add(1)
				continue
			}
			st := &stream{n: uint32(min(s.Intervals, math.MaxUint32)), mean: s.MeanS}
			if st.n > 1 {
				st.m2 = s.StddevS * s.StddevS * float64(st.n-1)
			}
			b.streams[sk] = st
		}
	}
	return nil
}
