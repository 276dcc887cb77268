package rules

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
)

// dispatchPolicy has masters and pairs with functions and writable ranges,
// so that every policy rule has something to judge.
const dispatchPolicy = `
masters: [127.10.2.10]
pairs:
  - master: 127.10.2.10
    device: 127.10.1.10
    protocol: modbus
    functions: [3, 6, 16, 43]
    writable:
      - registers: 0-9
        min: -10
        max: 4000
      - coils: 0-3
  - master: 127.66.0.1
    device: 127.10.1.10
    protocol: modbus
    writable:
      - registers: 100-109
  - master: 127.10.2.10
    device: 127.10.1.20
    protocol: dnp3
    functions: [1, 2, 3, 4]
`

// dispatchRecords returns records over the whole key space the engine
// dispatches on (protocol, including values beyond DNP3; direction,
// including an invalid one; validity; every function code; DNP3 with and
// without an application layer; anomalies) with the other fields the rules
// read varied at random: senders in and out of the policy, sub-functions,
// exception codes, MEI types, objects, IIN bits, broadcast addresses,
// written addresses and values.
func dispatchRecords(rng *rand.Rand) []analyze.Record {
	hosts := []netip.AddrPort{
		netip.MustParseAddrPort("127.10.2.10:40000"),
		netip.MustParseAddrPort("127.10.1.10:502"),
		netip.MustParseAddrPort("127.10.1.20:20000"),
		netip.MustParseAddrPort("127.66.0.1:41000"),
	}
	pick := func(vs ...uint8) uint8 { return vs[rng.IntN(len(vs))] }
	t := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var out []analyze.Record
	for proto := range analyze.Protocol(4) {
		for dir := range analyze.Direction(3) {
			for _, valid := range []bool{true, false} {
				for fc := range 256 {
					for variant := range 12 {
						if (!valid || dir > analyze.Response || proto > analyze.ProtoDNP3) && variant >= 3 {
							continue // rules match few of these: fewer variants do
						}
						t = t.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
						r := analyze.Record{Time: t, Frame: uint64(len(out) + 1), Protocol: proto, Dir: dir, Valid: valid}
						r.Flow.Src, r.Flow.Dst = hosts[rng.IntN(len(hosts))], hosts[1+rng.IntN(2)]
						switch variant % 3 {
						case 0: // the policy's master and its devices
							r.Flow.Src = hosts[0]
						case 1:
							r.Flow.Dst = hosts[rng.IntN(len(hosts))]
						}
						if variant == 2 || rng.IntN(16) == 0 {
							r.Anomalies = analyze.Anomaly(1 << rng.IntN(12))
							r.Detail = "test"
						}
						m := &r.Modbus
						m.Function, m.UnitID = uint8(fc), pick(0, 1, 255)
						m.HasSubFunction = rng.IntN(4) != 0
						m.SubFunction = []uint16{1, 4, 10, 2}[variant%4]
						m.Exception = pick(1, 2, 5, 6, 4)
						m.MEIType = pick(14, 13)
						m.Address, m.Quantity = uint16(pick(0, 5, 9, 10, 100, 119)), uint16(1+rng.IntN(4))
						if variant%3 == 0 {
							m.Address = uint16(rng.IntN(9))
						}
						m.WriteAddress, m.WriteQuantity = uint16(rng.IntN(120)), uint16(1+rng.IntN(4))
						m.NValues = rng.IntN(4) + variant%2
						for i := range m.NValues {
							m.Values[i] = []uint16{0, 100, 4000, 4001, 0xFFF6, 0xFFF5}[rng.IntN(6)]
						}
						d := &r.DNP3
						d.HasApp = variant != 1
						d.AppFunction = uint8(fc)
						d.LinkSrc, d.LinkDst = 3, uint16(pick(4, 0xFF, 0xFD))*0x101
						d.IIN = uint16(rng.IntN(0x10000))
						d.NObjects = variant % 3
						for i := range d.NObjects {
							d.Objects[i] = analyze.DNP3Object{Group: []uint8{1, 30, 50, 70}[(variant+i)%4], Variation: 1, Qualifier: 0x07, Count: 1}
						}
						out = append(out, r)
					}
				}
			}
		}
	}
	return out
}

// evaluateEveryRule is Evaluate without the dispatch: every enabled rule of
// the record's protocol, in catalog order. It is the reference the
// dispatch must agree with.
func evaluateEveryRule(e *Engine, r *analyze.Record) {
	e.records.Add(1)
	for i := range catalog {
		ru := &catalog[i]
		if slices.Contains(e.cfg.Disable, ru.ID) || ru.Protocol != "any" && ru.Protocol != r.Protocol.String() {
			continue
		}
		msg, ok := ru.match(e, r)
		if !ok {
			continue
		}
		if frames, fire := e.count(i, ru.Threshold, r); fire {
			e.emit(ru, r, msg, frames)
		}
	}
}

// TestSelectorsCoverMatches checks the engine's dispatch: every rule that
// matches a record is among its candidates, and the engine raises the same
// alerts, in the same order, as evaluating every rule on every record.
func TestSelectorsCoverMatches(t *testing.T) {
	p, err := ParsePolicy("dispatch.yaml", []byte(dispatchPolicy))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		policy  *Policy
		disable []string
	}{
		{"no policy", nil, nil},
		{"policy", p, nil},
		{"policy, rules disabled", p, []string{ModbusWriteUnauthorized, AnomalyLength, DNP3FileOperation}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got, want []alert.Alert
			e, err := New(Config{Policy: tc.policy, Disable: tc.disable, Sink: alert.SinkFunc(func(a alert.Alert) { got = append(got, a) })})
			if err != nil {
				t.Fatal(err)
			}
			ref, err := New(Config{Policy: tc.policy, Disable: tc.disable, Sink: alert.SinkFunc(func(a alert.Alert) { want = append(want, a) })})
			if err != nil {
				t.Fatal(err)
			}
			recs := dispatchRecords(rand.New(rand.NewPCG(1, 2)))
			matched := map[string]int{}
			for i := range recs {
				r := &recs[i]
				cand := e.candidates(r)
				for j := range catalog {
					ru := &catalog[j]
					if !ru.appliesTo(r.Protocol) || slices.Contains(tc.disable, ru.ID) {
						continue
					}
					if _, ok := ru.match(e, r); ok {
						matched[ru.ID]++
						if !slices.Contains(cand, j) {
							t.Fatalf("%s matches a record its selector does not take: %s %s valid=%v modbus fc %d, dnp3 fc %d (app %v), anomalies %v",
								ru.ID, r.Protocol, r.Dir, r.Valid, r.Modbus.Function, r.DNP3.AppFunction, r.DNP3.HasApp, r.Anomalies)
						}
					}
				}
				e.Evaluate(r)
				evaluateEveryRule(ref, r)
			}
			if len(want) == 0 {
				t.Fatal("the records raised no alert: the test shows nothing")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("dispatch raised %d alerts, evaluating every rule %d", len(got), len(want))
				for i := range min(len(got), len(want)) {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("first difference at alert %d:\n got %+v\nwant %+v", i, got[i], want[i])
					}
				}
			}
			// Every enabled rule met a record it matches (the records
			// cover the catalog), so the check above judged every selector.
			for _, ru := range catalog {
				if matched[ru.ID] == 0 && !slices.Contains(tc.disable, ru.ID) && (tc.policy != nil || !ru.NeedsPolicy) {
					t.Errorf("no record matches %s", ru.ID)
				}
			}
		})
	}
}
