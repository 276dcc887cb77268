package analyze_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/sensor/analyze"
)

var (
	client = netip.MustParseAddrPort("127.10.2.10:40000")
	server = netip.MustParseAddrPort("127.10.1.10:502")
	odd    = netip.MustParseAddrPort("127.10.1.10:5020")
	outst  = netip.MustParseAddrPort("127.10.1.20:20000")
	t0     = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
)

// recorder collects copies of records.
type recorder struct{ recs []analyze.Record }

func (r *recorder) emit(rec *analyze.Record) { r.recs = append(r.recs, *rec) }

func newAnalyzer(cfg analyze.Config) (*analyze.Analyzer, *recorder) {
	rec := &recorder{}
	cfg.Emit = rec.emit
	return analyze.New(cfg), rec
}

func adu(tid uint16, unit uint8, fc modbus.FunctionCode, data ...byte) []byte {
	return modbus.AppendADU(nil, &modbus.ADU{TransactionID: tid, UnitID: unit, PDU: modbus.PDU{Function: fc, Data: data}})
}

// TestModbusMatching pairs pipelined requests and responses by transaction
// id whatever the order, split across writes, with latency and the
// request's address on read responses.
func TestModbusMatching(t *testing.T) {
	a, rec := newAnalyzer(analyze.Config{})
	c := a.NewConn(client, server)
	reqs := append(adu(1, 1, modbus.FuncReadHoldingRegisters, 0, 10, 0, 2), adu(2, 1, modbus.FuncWriteSingleRegister, 0, 3, 0x0F, 0x6E)...)
	c.Data(client, reqs[:5], t0, 1)
	c.Data(client, reqs[5:], t0, 2)
	resps := append(adu(2, 1, modbus.FuncWriteSingleRegister, 0, 3, 0x0F, 0x6E), adu(1, 1, modbus.FuncReadHoldingRegisters, 4, 0, 7, 0, 9)...)
	c.Data(server, resps, t0.Add(3*time.Millisecond), 3)
	if len(rec.recs) != 4 {
		t.Fatalf("%d records", len(rec.recs))
	}
	w, r := rec.recs[2], rec.recs[3]
	if !w.Matched || w.ReqFrame != 2 || w.Modbus.Func() != 6 || w.Modbus.ValueList()[0] != 3950 {
		t.Errorf("write response: %s", analyze.Format(&w))
	}
	if !r.Matched || r.ReqFrame != 2 || r.Latency != 3*time.Millisecond || r.Modbus.Address != 10 || r.Modbus.Quantity != 2 ||
		r.Modbus.NValues != 2 || r.Modbus.Values[1] != 9 {
		t.Errorf("read response: %s", analyze.Format(&r))
	}
	if rec.recs[1].Modbus.ValueList()[0] != 3950 || rec.recs[0].Anomalies != 0 {
		t.Errorf("requests: %s / %s", analyze.Format(&rec.recs[0]), analyze.Format(&rec.recs[1]))
	}
	// A response nobody asked for.
	c.Data(server, adu(9, 1, modbus.FuncReadCoils, 1, 1), t0, 4)
	if last := rec.recs[len(rec.recs)-1]; last.Matched || !last.Anomalies.Has(analyze.AnomUnmatched) {
		t.Errorf("unmatched: %s", analyze.Format(&last))
	}
}

func TestModbusPendingBound(t *testing.T) {
	a, _ := newAnalyzer(analyze.Config{MaxPending: 4})
	c := a.NewConn(client, server)
	for i := range 10 {
		c.Data(client, adu(uint16(i), 1, modbus.FuncReadCoils, 0, 0, 0, 1), t0, uint64(i+1))
	}
	if st := a.Stats(); st.PendingEvicted != 6 {
		t.Fatalf("evicted %d, want 6", st.PendingEvicted)
	}
	// The newest four are still matched; the oldest was evicted.
	rec := &recorder{}
	a2 := analyze.New(analyze.Config{MaxPending: 4, Emit: rec.emit})
	c2 := a2.NewConn(client, server)
	for i := range 5 {
		c2.Data(client, adu(uint16(i), 1, modbus.FuncReadCoils, 0, 0, 0, 1), t0, uint64(i+1))
	}
	c2.Data(server, append(adu(0, 1, modbus.FuncReadCoils, 1, 1), adu(4, 1, modbus.FuncReadCoils, 1, 0)...), t0, 6)
	got := rec.recs[len(rec.recs)-2:]
	if got[0].Matched || !got[1].Matched {
		t.Errorf("after eviction: %s / %s", analyze.Format(&got[0]), analyze.Format(&got[1]))
	}
}

// TestModbusAnomalies: each kind of garbage gives one anomaly record of the
// right class, and framing resumes after it.
func TestModbusAnomalies(t *testing.T) {
	good := adu(1, 1, modbus.FuncReadCoils, 0, 0, 0, 8)
	big := append([]byte{0, 1, 0, 0, 0x88, 0x04}, make([]byte, 400)...)
	cases := []struct {
		name  string
		chunk []byte
		want  analyze.Anomaly
	}{
		{"protocol id", []byte{0, 1, 0, 0x10, 0, 6, 1, 1, 0, 0, 0, 1}, analyze.AnomNonProtocol},
		{"huge length", []byte{0, 1, 0, 0, 0x88, 0x04, 1, 1, 0, 0}, analyze.AnomIllegalSize},
		{"over 300 bytes", big, analyze.AnomIllegalSize},
		{"stray bytes after an ADU", append(append([]byte{}, good...), 1, 1, 0x23), analyze.AnomIncorrectLength},
		{"length below 2", []byte{0, 1, 0, 0, 0, 1, 1, 1}, analyze.AnomInvalidLength},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, rec := newAnalyzer(analyze.Config{})
			conn := a.NewConn(client, server)
			conn.Data(client, c.chunk, t0, 1)
			conn.Gap(client)
			conn.Data(client, good, t0, 2)
			var anoms []analyze.Record
			for _, r := range rec.recs {
				if !r.Valid {
					anoms = append(anoms, r)
				}
			}
			if len(anoms) != 1 || anoms[0].Anomalies != c.want || anoms[0].Frame != 1 || anoms[0].Detail == "" {
				for _, r := range rec.recs {
					t.Log(analyze.Format(&r))
				}
				t.Fatalf("want one %s record", c.want)
			}
			if last := rec.recs[len(rec.recs)-1]; !last.Valid || last.Frame != 2 {
				t.Errorf("framing did not resume: %s", analyze.Format(&last))
			}
		})
	}
	// Bad PDUs: unknown function, invalid byte count; a padded exception
	// response is accepted.
	a, rec := newAnalyzer(analyze.Config{})
	conn := a.NewConn(client, server)
	conn.Data(client, adu(1, 1, 0x41), t0, 1)
	conn.Data(client, adu(2, 1, modbus.FuncWriteMultipleRegisters, 0, 0, 0, 1, 4, 0, 0), t0, 2)
	conn.Data(server, adu(2, 1, modbus.FuncWriteMultipleRegisters|0x80, 6, 0), t0, 3)
	if r := rec.recs[0]; r.Anomalies != analyze.AnomUnknownFunction {
		t.Errorf("unknown function: %s", analyze.Format(&r))
	}
	if r := rec.recs[1]; r.Anomalies != analyze.AnomInvalidLength {
		t.Errorf("bad byte count: %s", analyze.Format(&r))
	}
	if r := rec.recs[2]; r.Anomalies != 0 || r.Modbus.Exception != 6 || !r.Matched {
		t.Errorf("padded exception: %s", analyze.Format(&r))
	}
}

// TestDetection finds Modbus and DNP3 by content on other ports, ignores
// other protocols, and swaps roles when the connection was opened from the
// protocol's port.
func TestDetection(t *testing.T) {
	a, rec := newAnalyzer(analyze.Config{})
	mb := a.NewConn(client, odd)
	mb.Data(client, adu(1, 1, modbus.FuncReadCoils, 0, 0, 0, 1), t0, 1)
	if mb.Protocol() != analyze.ProtoModbus || len(rec.recs) != 1 {
		t.Fatalf("modbus on 5020 not found: %v", mb.Protocol())
	}
	frame, _ := dnp3.AppendFrame(nil, dnp3.NewControl(true, true, false, false, dnp3.LinkRequestLinkStatus), 4, 3, nil)
	dn := a.NewConn(client, netip.MustParseAddrPort("127.10.1.20:2000"))
	dn.Data(client, frame, t0, 2)
	if dn.Protocol() != analyze.ProtoDNP3 || len(rec.recs) != 2 || rec.recs[1].DNP3.LinkDst != 4 {
		t.Fatalf("dnp3 on 2000 not found: %v", dn.Protocol())
	}
	web := a.NewConn(client, netip.MustParseAddrPort("127.10.1.10:8080"))
	for i := range 4 {
		web.Data(client, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), t0, uint64(3+i))
	}
	if !web.Ignored() || len(rec.recs) != 2 || a.Stats().ConnsIgnored != 1 {
		t.Errorf("http: ignored %v, %d records", web.Ignored(), len(rec.recs))
	}
	// Opened from port 502 to an ephemeral port: 502 still serves.
	rev := a.NewConn(server, client)
	rev.Data(server, adu(1, 1, modbus.FuncReadCoils|0x80, 6), t0, 9)
	if r := rec.recs[len(rec.recs)-1]; r.Dir != analyze.Response || r.Modbus.Exception != 6 {
		t.Errorf("reversed: %s", analyze.Format(&r))
	}
	// HTTP on 502 and on 20000 is reported.
	mbPort := a.NewConn(client, server)
	mbPort.Data(client, []byte("GET / HTTP/1.1\r\n\r\n"), t0, 10)
	dnPort := a.NewConn(client, outst)
	dnPort.Data(client, []byte("GET / HTTP/1.1\r\n\r\n"), t0, 11)
	n := len(rec.recs)
	if n < 2 || !rec.recs[n-2].Anomalies.Has(analyze.AnomNonProtocol) || !rec.recs[n-1].Anomalies.Has(analyze.AnomNonProtocol) ||
		rec.recs[n-1].Protocol != analyze.ProtoDNP3 {
		t.Errorf("non-protocol on ports: %s / %s", analyze.Format(&rec.recs[n-2]), analyze.Format(&rec.recs[n-1]))
	}
}

// dnp3Request builds the link frames of a request fragment.
func dnp3Request(seq uint8, fc dnp3.FunctionCode, objects []byte, from, to uint16) []byte {
	apdu := append(dnp3.AppendRequestHeader(nil, dnp3.NewAppControl(true, true, false, false, seq), fc), objects...)
	out, _ := dnp3.AppendAPDU(nil, dnp3.NewControl(true, true, false, false, dnp3.LinkUnconfirmedUserData), to, from, 0, apdu)
	return out
}

func dnp3Response(seq uint8, fc dnp3.FunctionCode, iin dnp3.IIN, objects []byte, from, to uint16) []byte {
	apdu := append(dnp3.AppendResponseHeader(nil, dnp3.NewAppControl(true, true, false, fc == dnp3.FuncUnsolicited, seq), fc, iin), objects...)
	out, _ := dnp3.AppendAPDU(nil, dnp3.NewControl(false, true, false, false, dnp3.LinkUnconfirmedUserData), to, from, 0, apdu)
	return out
}

func TestDNP3(t *testing.T) {
	a, rec := newAnalyzer(analyze.Config{})
	c := a.NewConn(client, outst)
	// READ g1v2 [3..5]; a big response in several segments; matched by seq.
	read := dnp3Request(5, dnp3.FuncRead, []byte{1, 2, 0, 3, 5}, 3, 4)
	c.Data(client, read, t0, 1)
	objs := dnp3.AppendObjectHeader(nil, dnp3.ObjectHeader{Group: 30, Variation: 2, Qualifier: dnp3.QualStartStop16, Start: 0, Stop: 199})
	objs = append(objs, make([]byte, 200*3)...)
	resp := dnp3Response(5, dnp3.FuncResponse, dnp3.IINNeedTime, objs, 4, 3)
	c.Data(outst, resp[:100], t0.Add(time.Second), 2)
	c.Data(outst, resp[100:], t0.Add(2*time.Second), 3)
	if len(rec.recs) != 2 {
		for _, r := range rec.recs {
			t.Log(analyze.Format(&r))
		}
		t.Fatalf("%d records", len(rec.recs))
	}
	q, r := rec.recs[0], rec.recs[1]
	if q.Dir != analyze.Request || q.DNP3.AppFunction != 1 || q.DNP3.Seq() != 5 || q.DNP3.NObjects != 1 ||
		q.DNP3.Objects[0].Group != 1 || q.DNP3.Objects[0].IndexList()[2] != 5 || q.DNP3.Objects[0].HasData {
		t.Errorf("read: %s", analyze.Format(&q))
	}
	if !r.Matched || r.ReqFrame != 1 || r.Frame != 3 || r.Latency != 2*time.Second || r.DNP3.IIN != uint16(dnp3.IINNeedTime) ||
		r.DNP3.Objects[0].Count != 200 || !r.DNP3.Objects[0].IndexesTruncated || r.Len != len(objs)+4 {
		t.Errorf("response: %s", analyze.Format(&r))
	}
	// A bad data CRC, non-DNP3 bytes, an unknown function, too many objects.
	bad := dnp3Request(6, dnp3.FuncRead, []byte{60, 2, 6}, 3, 4)
	bad[len(bad)-1] ^= 0xFF
	c.Data(client, bad, t0, 4)
	c.Data(client, []byte("hello"), t0, 5)
	c.Data(client, dnp3Request(7, 0x50, nil, 3, 4), t0, 6)
	var many []byte
	for range 70 {
		many = append(many, 60, 1, 6)
	}
	c.Data(client, dnp3Request(8, dnp3.FuncRead, many, 3, 4), t0, 7)
	want := []analyze.Anomaly{analyze.AnomBadCRC, analyze.AnomNonProtocol, analyze.AnomUnknownFunction, analyze.AnomTooManyObjects}
	got := rec.recs[2:]
	if len(got) != len(want) {
		t.Fatalf("%d records after the good ones", len(got))
	}
	for i, w := range want {
		if !got[i].Anomalies.Has(w) {
			t.Errorf("record %d: %s, want %s", i, analyze.Format(&got[i]), w)
		}
	}
	if got[3].DNP3.NObjects != analyze.MaxObjects || !got[3].DNP3.ObjectsTruncated {
		t.Errorf("objects kept: %d", got[3].DNP3.NObjects)
	}
}

func TestDNP3ReassemblyOverflow(t *testing.T) {
	a, rec := newAnalyzer(analyze.Config{MaxFragment: 300})
	c := a.NewConn(client, outst)
	objs := append(dnp3.AppendObjectHeader(nil, dnp3.ObjectHeader{Group: 30, Variation: 2, Qualifier: dnp3.QualStartStop16, Stop: 199}), make([]byte, 600)...)
	c.Data(outst, dnp3Response(1, dnp3.FuncResponse, 0, objs, 4, 3), t0, 1)
	if len(rec.recs) == 0 || !rec.recs[0].Anomalies.Has(analyze.AnomReassemblyOverflow) {
		t.Fatalf("records: %d", len(rec.recs))
	}
}

func TestDNP3OverUDP(t *testing.T) {
	a, rec := newAnalyzer(analyze.Config{})
	m := netip.MustParseAddrPort("127.10.2.10:20000")
	if !a.Datagram(m, outst, dnp3Request(2, dnp3.FuncColdRestart, nil, 3, 4), t0, 1) {
		t.Fatal("DNP3 datagram not recognised")
	}
	a.Datagram(outst, m, dnp3Response(2, dnp3.FuncResponse, 0, nil, 4, 3), t0.Add(time.Millisecond), 2)
	if len(rec.recs) != 2 || rec.recs[0].Flow.Transport != analyze.UDP || rec.recs[0].DNP3.AppFunction != 13 || !rec.recs[1].Matched {
		t.Fatalf("udp records: %v", rec.recs)
	}
	if a.Datagram(m, outst, []byte("not dnp3"), t0, 3) {
		t.Error("garbage is DNP3")
	}
	if last := rec.recs[len(rec.recs)-1]; !last.Anomalies.Has(analyze.AnomNonProtocol) {
		t.Errorf("garbage on 20000/udp: %s", analyze.Format(&last))
	}
	if a.Datagram(client, server, []byte{1, 2, 3}, t0, 4) {
		t.Error("a datagram on another port is DNP3")
	}
	if !strings.HasPrefix(rec.recs[0].Flow.ID(), "udp:") {
		t.Errorf("flow id %s", rec.recs[0].Flow.ID())
	}
}

// TestNoAllocs: decoding a polling exchange allocates nothing per record.
func TestNoAllocs(t *testing.T) {
	a := analyze.New(analyze.Config{Emit: func(*analyze.Record) {}})
	mc := a.NewConn(client, server)
	dc := a.NewConn(client, outst)
	req := adu(1, 1, modbus.FuncReadHoldingRegisters, 0, 0, 0, 10)
	resp := adu(1, 1, modbus.FuncReadHoldingRegisters, append([]byte{20}, make([]byte, 20)...)...)
	dreq := dnp3Request(1, dnp3.FuncRead, []byte{60, 1, 6}, 3, 4)
	dresp := dnp3Response(1, dnp3.FuncResponse, 0, append([]byte{1, 2, 0, 0, 7}, make([]byte, 8)...), 4, 3)
	step := func() {
		mc.Data(client, req, t0, 1)
		mc.Data(server, resp, t0, 2)
		dc.Data(client, dreq, t0, 3)
		dc.Data(outst, dresp, t0, 4)
	}
	step()
	if n := testing.AllocsPerRun(200, step); n != 0 {
		t.Errorf("%v allocations per exchange", n)
	}
}
