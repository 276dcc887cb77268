package rules_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/rules"
)

var (
	hmi      = netip.MustParseAddrPort("127.10.2.10:40000")
	plc      = netip.MustParseAddrPort("127.10.1.10:502")
	rtu      = netip.MustParseAddrPort("127.10.1.20:20000")
	attacker = netip.MustParseAddrPort("127.66.0.1:41000")
	t0       = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
)

const testPolicy = `
masters: [127.10.2.10]
pairs:
  - master: 127.10.2.10
    device: 127.10.1.10
    protocol: modbus
    functions: [3, 6, 16]
    writable:
      - registers: 0-9
        min: 0
        max: 4000
  - master: 127.10.2.10
    device: 127.10.1.20
    protocol: dnp3
    functions: [1, 2, 3, 4]
`

// mb builds a Modbus record.
func mb(src, dst netip.AddrPort, dir analyze.Direction, fc uint8, mod func(*analyze.ModbusFields)) analyze.Record {
	r := analyze.Record{Flow: analyze.Flow{Src: src, Dst: dst}, Protocol: analyze.ProtoModbus, Dir: dir, Valid: true}
	r.Modbus.Function, r.Modbus.UnitID, r.Modbus.TransactionID = fc, 1, 7
	if mod != nil {
		mod(&r.Modbus)
	}
	return r
}

// dn builds a DNP3 application record.
func dn(src, dst netip.AddrPort, fc uint8, mod func(*analyze.DNP3Fields)) analyze.Record {
	r := analyze.Record{Flow: analyze.Flow{Src: src, Dst: dst}, Protocol: analyze.ProtoDNP3, Valid: true}
	r.DNP3 = analyze.DNP3Fields{LinkSrc: 3, LinkDst: 4, HasApp: true, AppFunction: fc, AppControl: 0xC0}
	if fc >= 129 {
		r.Dir = analyze.Response
		r.DNP3.LinkSrc, r.DNP3.LinkDst = 4, 3
	}
	if mod != nil {
		mod(&r.DNP3)
	}
	return r
}

func anom(proto analyze.Protocol, a analyze.Anomaly) analyze.Record {
	return analyze.Record{Flow: analyze.Flow{Src: attacker, Dst: plc}, Protocol: proto, Anomalies: a, Detail: "test"}
}

// sweep is n refused connection attempts from the attacker, each to
// another port of the PLC's address.
func sweep(n int) []analyze.Record {
	out := make([]analyze.Record, n)
	for i := range out {
		out[i] = analyze.Record{Flow: analyze.Flow{Src: attacker, Dst: netip.AddrPortFrom(plc.Addr(), uint16(100+i))},
			Dir: analyze.Request, Anomalies: analyze.AnomRefused, Detail: "connection refused"}
	}
	return out
}

func withObj(g, v uint8) func(*analyze.DNP3Fields) {
	return func(d *analyze.DNP3Fields) {
		d.Objects[0] = analyze.DNP3Object{Group: g, Variation: v, Qualifier: 0x07, Count: 1, HasData: true}
		d.NObjects = 1
	}
}

func exception(code uint8) func(*analyze.ModbusFields) {
	return func(m *analyze.ModbusFields) { m.Function |= 0x80; m.Exception = code }
}

func diag(sub uint16) func(*analyze.ModbusFields) {
	return func(m *analyze.ModbusFields) { m.SubFunction, m.HasSubFunction = sub, true }
}

func times(n int, r analyze.Record) []analyze.Record {
	out := make([]analyze.Record, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// benign is a minute of normal polling: the HMI reads and writes the PLC
// within the policy, the master polls the RTU, which answers.
func benign() []analyze.Record {
	var out []analyze.Record
	for range 30 {
		out = append(out,
			mb(hmi, plc, analyze.Request, 3, func(m *analyze.ModbusFields) { m.Address, m.Quantity = 0, 10 }),
			mb(plc, hmi, analyze.Response, 3, func(m *analyze.ModbusFields) { m.Address, m.Quantity = 0, 10 }),
			mb(hmi, plc, analyze.Request, 6, func(m *analyze.ModbusFields) { m.Address, m.Quantity, m.Values[0], m.NValues = 2, 1, 1500, 1 }),
			dn(hmi, rtu, 1, nil),
			dn(rtu, hmi, 129, nil),
		)
	}
	return out
}

// run evaluates recs one second apart from t0 and returns the alerts.
func run(t *testing.T, policy string, recs []analyze.Record) []alert.Alert {
	t.Helper()
	var p *rules.Policy
	if policy != "" {
		var err error
		if p, err = rules.ParsePolicy("test.yaml", []byte(policy)); err != nil {
			t.Fatal(err)
		}
	}
	var out []alert.Alert
	e, err := rules.New(rules.Config{Policy: p, Sink: alert.SinkFunc(func(a alert.Alert) { out = append(out, a) })})
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		recs[i].Time = t0.Add(time.Duration(i) * time.Second)
		recs[i].Frame = uint64(i + 1)
		e.Evaluate(&recs[i])
	}
	return out
}

func ids(as []alert.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.RuleID)
	}
	return out
}

func TestBenignPollingIsQuiet(t *testing.T) {
	if got := run(t, testPolicy, benign()); len(got) != 0 {
		t.Fatalf("benign polling raised %v", ids(got))
	}
}

// TestEachRule checks that every rule fires on its crafted sequence, once,
// and that nothing else fires, with benign polling around it.
func TestEachRule(t *testing.T) {
	cases := []struct {
		rule   string
		policy string
		recs   []analyze.Record
	}{
		{rules.ModbusReadUnauthorized, testPolicy, times(3, mb(attacker, plc, analyze.Request, 3, nil))},
		{rules.ModbusWriteUnauthorized, "masters: [127.10.2.10]", []analyze.Record{mb(attacker, plc, analyze.Request, 6, func(m *analyze.ModbusFields) { m.Values[0], m.NValues = 3950, 1 })}},
		{rules.ModbusMiscUnauthorized, "masters: [127.10.2.10]", times(2, mb(attacker, plc, analyze.Request, 11, nil))},
		{rules.ModbusFunctionScan, "", times(10, mb(plc, attacker, analyze.Response, 65, exception(1)))},
		{rules.ModbusPointsScan, "", times(5, mb(plc, attacker, analyze.Response, 3, exception(2)))},
		{rules.ModbusListenOnly, "", []analyze.Record{mb(hmi, plc, analyze.Request, 8, diag(4))}},
		{rules.ModbusRestartComms, "", []analyze.Record{mb(hmi, plc, analyze.Request, 8, diag(1))}},
		{rules.ModbusClearCounters, "", []analyze.Record{mb(hmi, plc, analyze.Request, 8, diag(10))}},
		{rules.ModbusDeviceID, "", []analyze.Record{mb(hmi, plc, analyze.Request, 43, func(m *analyze.ModbusFields) { m.MEIType = 14 })}},
		{rules.ModbusServerID, "", []analyze.Record{mb(hmi, plc, analyze.Request, 17, nil)}},
		{rules.ModbusIllegalSize, "", times(3, anom(analyze.ProtoModbus, analyze.AnomIllegalSize))},
		{rules.ModbusIncorrectLength, "", []analyze.Record{anom(analyze.ProtoModbus, analyze.AnomIncorrectLength)}},
		{rules.ModbusNonModbus, "", times(4, anom(analyze.ProtoModbus, analyze.AnomNonProtocol))},
		{rules.ModbusBusyStorm, "", times(5, mb(plc, hmi, analyze.Response, 3, exception(6)))},
		{rules.ModbusAckStorm, "", times(6, mb(plc, hmi, analyze.Response, 3, exception(5)))},
		{rules.DNP3ReadUnauthorized, testPolicy, times(2, dn(attacker, rtu, 1, nil))},
		{rules.DNP3WriteUnauthorized, "masters: [127.10.2.10]", []analyze.Record{dn(attacker, rtu, 5, nil)}},
		{rules.DNP3MiscUnauthorized, "masters: [127.10.2.10]", []analyze.Record{dn(attacker, rtu, 7, nil)}},
		{rules.DNP3ColdRestart, "", []analyze.Record{dn(hmi, rtu, 13, nil)}},
		{rules.DNP3WarmRestart, "", []analyze.Record{dn(hmi, rtu, 14, nil)}},
		{rules.DNP3StopApp, "", []analyze.Record{dn(hmi, rtu, 18, nil)}},
		{rules.DNP3DisableUnsol, "", []analyze.Record{dn(hmi, rtu, 21, nil)}},
		{rules.DNP3UnsolStorm, "", times(12, dn(rtu, hmi, 130, nil))},
		{rules.DNP3Broadcast, "", []analyze.Record{dn(hmi, rtu, 1, func(d *analyze.DNP3Fields) { d.LinkDst = 0xFFFF })}},
		{rules.DNP3FileOperation, "", []analyze.Record{dn(hmi, rtu, 25, nil)}},
		{rules.DNP3TimeChange, "none", []analyze.Record{dn(hmi, rtu, 2, withObj(50, 1))}},
		{rules.DNP3NonDNP3, "", times(2, anom(analyze.ProtoDNP3, analyze.AnomNonProtocol))},
		{rules.DNP3Scan, "", times(5, dn(rtu, hmi, 129, func(d *analyze.DNP3Fields) { d.IIN = 0x0002 }))},
		{rules.NetScan, "", sweep(12)},
		{rules.AnomalyCRC, "", times(3, anom(analyze.ProtoDNP3, analyze.AnomBadCRC))},
		{rules.AnomalyLength, "", times(3, anom(analyze.ProtoModbus, analyze.AnomInvalidLength))},
		{rules.AnomalyFunction, "", []analyze.Record{anom(analyze.ProtoDNP3, analyze.AnomUnknownFunction)}},
		{rules.AnomalyObjects, "", []analyze.Record{anom(analyze.ProtoDNP3, analyze.AnomTooManyObjects)}},
		{rules.AnomalyReassembly, "", []analyze.Record{anom(analyze.ProtoDNP3, analyze.AnomReassemblyOverflow)}},
		{rules.PolicyFunction, testPolicy, times(2, mb(hmi, plc, analyze.Request, 4, func(m *analyze.ModbusFields) { m.Quantity = 1 }))},
		{rules.PolicyWriteRange, testPolicy, []analyze.Record{mb(hmi, plc, analyze.Request, 6, func(m *analyze.ModbusFields) { m.Address, m.Values[0], m.NValues = 12, 1, 1 })}},
		{rules.PolicyWriteValue, testPolicy, []analyze.Record{mb(hmi, plc, analyze.Request, 16, func(m *analyze.ModbusFields) {
			m.Address, m.Quantity, m.NValues = 4, 2, 2
			m.Values[0], m.Values[1] = 100, 4001
		})}},
	}
	tested := map[string]bool{}
	for _, c := range cases {
		tested[c.rule] = true
		t.Run(c.rule, func(t *testing.T) {
			policy := c.policy
			switch policy {
			case "":
				policy = "masters: [127.10.2.10]"
			case "none":
				policy = ""
			}
			recs := append(benign()[:10], c.recs...)
			recs = append(recs, benign()[:10]...)
			got := run(t, policy, recs)
			if len(got) != 1 || got[0].RuleID != c.rule {
				t.Fatalf("got %v, want exactly one %s", ids(got), c.rule)
			}
			a := got[0]
			if a.Message == "" || len(a.Techniques) == 0 || a.Evidence.FlowID == "" || len(a.Evidence.Frames) == 0 {
				t.Errorf("incomplete alert: %+v", a)
			}
			if !strings.HasPrefix(a.Evidence.FlowID, "tcp:") || a.Protocol != c.recs[0].Protocol.String() {
				t.Errorf("flow id %q, protocol %q", a.Evidence.FlowID, a.Protocol)
			}
		})
	}
	for _, info := range rules.List() {
		if !tested[info.ID] {
			t.Errorf("rule %s has no test case", info.ID)
		}
	}
}

// TestThresholdAndSuppression counts on record time: four busy exceptions
// do not alert, the fifth does, the storm that follows within the minute is
// suppressed, and a new storm after the window alerts again. Spreading the
// same five over more than a minute does not alert.
func TestThresholdAndSuppression(t *testing.T) {
	busy := mb(plc, hmi, analyze.Response, 3, exception(6))
	got := run(t, "", times(4, busy))
	if len(got) != 0 {
		t.Fatalf("4 exceptions raised %v", ids(got))
	}
	// 70 in 70 s: alerts at 5 (t=4 s), suppressed until t=64 s, then the
	// next 5 (t=64..68 s) alert again.
	got = run(t, "", times(70, busy))
	if len(got) != 2 {
		t.Fatalf("storm of 70 raised %d alerts, want 2", len(got))
	}
	if f := got[0].Evidence.Frames; !slices.Equal(f, []uint64{1, 2, 3, 4, 5}) {
		t.Errorf("evidence frames %v, want the five counted", f)
	}
	if got[1].Evidence.Frames[0] != 65 {
		t.Errorf("second alert counted from frame %d, want 65", got[1].Evidence.Frames[0])
	}
	// Record time, not wall time: five exceptions 20 s apart never make 5
	// within a minute.
	var e *rules.Engine
	var out []alert.Alert
	e, _ = rules.New(rules.Config{Sink: alert.SinkFunc(func(a alert.Alert) { out = append(out, a) })})
	for i := range 5 {
		r := busy
		r.Time = t0.Add(time.Duration(i) * 20 * time.Second)
		e.Evaluate(&r)
	}
	if len(out) != 0 {
		t.Errorf("five exceptions over 80 s raised %v", ids(out))
	}
	if st := e.Stats(); st.Records != 5 || st.Pending != 5 {
		t.Errorf("stats %+v", st)
	}
	// Per pair: storms from two servers are counted apart.
	other := busy
	other.Flow.Src = netip.MustParseAddrPort("127.10.1.11:502")
	mixed := append(times(3, busy), times(3, other)...)
	if got := run(t, "", mixed); len(got) != 0 {
		t.Errorf("3+3 exceptions from two servers raised %v", ids(got))
	}
}

// TestSweepCountsDistinctDestinations: a client retrying one refused
// server (an HMI reconnecting to a restarted PLC) is not a sweep, however
// often it tries; ten different refused destinations are.
func TestSweepCountsDistinctDestinations(t *testing.T) {
	retry := sweep(1)[0]
	if got := run(t, "", times(40, retry)); len(got) != 0 {
		t.Fatalf("40 retries to one server raised %v", ids(got))
	}
	if got := run(t, "", sweep(9)); len(got) != 0 {
		t.Fatalf("9 refused destinations raised %v", ids(got))
	}
	recs := append(times(5, retry), sweep(10)...)
	got := run(t, "", recs)
	if len(got) != 1 || got[0].RuleID != rules.NetScan {
		t.Fatalf("got %v, want one %s", ids(got), rules.NetScan)
	}
	if f := got[0].Evidence.Frames; len(f) != 10 || f[0] != 1 {
		t.Errorf("evidence frames %v, want the ten distinct attempts from frame 1", f)
	}
	if !strings.Contains(got[0].Message, attacker.Addr().String()) {
		t.Errorf("message %q does not name the source", got[0].Message)
	}
}

func TestDisableAndBounds(t *testing.T) {
	var out []alert.Alert
	e, err := rules.New(rules.Config{Disable: []string{rules.DNP3ColdRestart}, MaxKeys: 2,
		Sink: alert.SinkFunc(func(a alert.Alert) { out = append(out, a) })})
	if err != nil {
		t.Fatal(err)
	}
	r := dn(hmi, rtu, 13, nil)
	e.Evaluate(&r)
	if len(out) != 0 {
		t.Errorf("disabled rule fired: %v", ids(out))
	}
	for i := range 5 { // five distinct pairs, two keys kept
		r := mb(plc, hmi, analyze.Response, 3, exception(6))
		r.Flow.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)}), 1)
		e.Evaluate(&r)
	}
	if st := e.Stats(); st.KeysEvicted != 3 {
		t.Errorf("evicted %d keys, want 3", st.KeysEvicted)
	}
	if _, err := rules.New(rules.Config{Disable: []string{"no.such"}, Sink: alert.SinkFunc(func(alert.Alert) {})}); err == nil {
		t.Error("disabling an unknown rule is accepted")
	}
	if _, err := rules.New(rules.Config{}); err == nil {
		t.Error("an engine without a sink is accepted")
	}
}

func TestList(t *testing.T) {
	seen := map[string]bool{}
	list := rules.List()
	for _, r := range list {
		if seen[r.ID] {
			t.Errorf("duplicate id %s", r.ID)
		}
		seen[r.ID] = true
		if r.Name == "" || r.Description == "" || r.Severity == "" || len(r.Techniques) == 0 {
			t.Errorf("%s: incomplete: %+v", r.ID, r)
		}
		for _, id := range r.Techniques {
			if !strings.HasPrefix(id, "T0") && !strings.HasPrefix(id, "T1691.") && !strings.HasPrefix(id, "T1692.") {
				t.Errorf("%s: technique %q is not an ICS id", r.ID, id)
			}
		}
		if slices.Contains(r.Techniques, "T0855") && !slices.Contains(r.Techniques, "T1692.001") {
			t.Errorf("%s: T0855 without its v19 id", r.ID)
		}
	}
	if !seen["modbus.write.unauthorized"] {
		t.Error("the established rule id modbus.write.unauthorized is gone")
	}
	list[0].Techniques[0] = "changed"
	if rules.List()[0].Techniques[0] == "changed" {
		t.Error("List returns the catalog's own slices")
	}
}

// TestIdentificationAllowedByPolicy: an identification read the policy
// allows for its pair (the engineering workstation's routine) is quiet; the
// same read from elsewhere still alerts.
func TestIdentificationAllowedByPolicy(t *testing.T) {
	policy := "masters: [127.10.2.10]\npairs: [{master: 127.10.2.10, device: 127.10.1.10, functions: [3, 17, 43]}]"
	devid := func(m *analyze.ModbusFields) { m.MEIType = 14 }
	if got := run(t, policy, []analyze.Record{mb(hmi, plc, analyze.Request, 43, devid), mb(hmi, plc, analyze.Request, 17, nil)}); len(got) != 0 {
		t.Errorf("allowed identification reads alerted: %v", ids(got))
	}
	if got := run(t, policy, []analyze.Record{mb(attacker, plc, analyze.Request, 43, devid)}); len(got) == 0 {
		t.Error("an identification read by the attacker raised nothing")
	}
}
