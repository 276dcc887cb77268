package modbus_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/otrange/otrange/internal/wiretest"
	"github.com/otrange/otrange/protocol/modbus"
)

// wireCase is one request of the Wireshark test; noResponse marks requests
// the device must not answer (listen-only mode).
type wireCase struct {
	unit       uint8
	req        modbus.PDU
	noResponse bool
}

// wireCases covers every public function code, the FC 8 sub-functions, the
// read device id codes, exceptions and listen-only mode.
func wireCases() []wireCase {
	var cs []wireCase
	add := func(unit uint8, reqs ...modbus.PDU) {
		for _, r := range reqs {
			cs = append(cs, wireCase{unit: unit, req: r})
		}
	}
	add(1, modbus.ReadCoils(0, 10), modbus.ReadDiscreteInputs(0, 20), modbus.ReadHoldingRegisters(0, 5),
		modbus.ReadInputRegisters(0, 3), modbus.WriteSingleCoil(3, true), modbus.WriteSingleRegister(4, 0x1234),
		modbus.ReadExceptionStatus())
	for _, sub := range []uint16{0x02, 0x03, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x14} {
		data := uint16(0)
		if sub == modbus.DiagChangeASCIIInputDelimiter {
			data = 0x0a00
		}
		add(1, modbus.Diagnostic(sub, data))
	}
	add(1, modbus.Diagnostic(0, 0xa537), modbus.Diagnostic(modbus.DiagRestartCommunications, 0xff00),
		modbus.GetCommEventCounter(), modbus.GetCommEventLog(),
		modbus.WriteMultipleCoils(0, []bool{true, false, true, true, false, false, true, true, true, false}),
		modbus.WriteMultipleRegisters(10, []uint16{0x000a, 0x0102}), modbus.ReportServerID(),
		modbus.WriteFileRecord([]modbus.FileRecord{{File: 4, Record: 7, Data: []byte{0x06, 0xaf, 0x04, 0xbe, 0x10, 0x0d}}}),
		modbus.ReadFileRecord([]modbus.FileRecord{{File: 4, Record: 7, Length: 3}, {File: 3, Record: 9, Length: 2}}),
		modbus.MaskWriteRegister(4, 0x00f2, 0x0025), modbus.ReadWriteMultipleRegisters(0, 4, 20, []uint16{0xff, 0xff, 0xff}),
		modbus.ReadFIFOQueue(0x10))
	for _, code := range []uint8{modbus.DevIDBasic, modbus.DevIDRegular, modbus.DevIDExtended} {
		add(1, modbus.ReadDeviceIdentification(code, 0))
	}
	add(0xff, modbus.ReadDeviceIdentification(modbus.DevIDSpecific, 0x80))
	// Exceptions: illegal address, illegal function, illegal value.
	add(7, modbus.ReadHoldingRegisters(99, 5), modbus.PDU{Function: 0x41}, modbus.ReadHoldingRegisters(0, 200))
	// Listen-only: nothing answered until Restart Communications.
	cs = append(cs, wireCase{1, modbus.Diagnostic(modbus.DiagForceListenOnlyMode, 0), true},
		wireCase{1, modbus.ReadHoldingRegisters(0, 1), true},
		wireCase{1, modbus.Diagnostic(modbus.DiagRestartCommunications, 0), true})
	add(1, modbus.ReadHoldingRegisters(0, 1))
	return cs
}

// TestWiresharkAgrees sends every function code over loopback port 502 and
// checks that tshark's Modbus/TCP dissector finds nothing malformed and reads
// back the transaction ids, unit ids, function codes and exception codes
// that were sent.
func TestWiresharkAgrees(t *testing.T) {
	wiretest.TsharkPath(t)
	srvIP, cliIP := hostPair(t)
	rec := wiretest.Capture(t, wiretest.Host(net.IP(srvIP.AsSlice())))
	dev, _ := testDevice(t)
	addr := serveOn(t, net.JoinHostPort(srvIP.String(), "502"), dev)
	c := dialFrom(t, cliIP, addr)

	var want, wantReqs, wantObjs []string
	for i, wc := range wireCases() {
		tid := uint16(0x100 + i)
		a := modbus.ADU{TransactionID: tid, UnitID: wc.unit, PDU: wc.req}
		if err := c.WriteRaw(modbus.AppendADU(nil, &a)); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		want = append(want, fmt.Sprintf("q %d %d %d -", tid, wc.unit, wc.req.Function))
		wantReqs = append(wantReqs, fmt.Sprintf("%d\t%s", tid, requestDetail(wc.req)))
		if wc.noResponse {
			continue
		}
		resp := readResponse(t, c, tid)
		exc := "-"
		if resp.PDU.IsException() {
			exc = fmt.Sprint(uint8(resp.PDU.Exception()))
		}
		want = append(want, fmt.Sprintf("r %d %d %d %s", tid, wc.unit, resp.PDU.Function.Base(), exc))
		if o := objectDetail(t, resp.PDU); o != "" {
			wantObjs = append(wantObjs, fmt.Sprintf("%d\t%s", tid, o))
		}
	}
	c.Close()
	pcap := rec.Stop()

	out := wiretest.Tshark(t, pcap, "-Y", "mbtcp", "-T", "fields", "-E", "occurrence=f",
		"-e", "tcp.dstport", "-e", "mbtcp.trans_id", "-e", "mbtcp.unit_id", "-e", "modbus.func_code", "-e", "modbus.exception_code")
	got := tsharkRows(string(out))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tshark read:\n%s\nwe sent:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	out = wiretest.Tshark(t, pcap, "-Y", "mbtcp && tcp.dstport == 502", "-T", "fields",
		"-e", "mbtcp.trans_id", "-e", "modbus.reference_num", "-e", "modbus.read_reference_num", "-e", "modbus.word_cnt",
		"-e", "modbus.bit_cnt", "-e", "modbus.diagnostic_code", "-e", "modbus.read_device_id", "-e", "modbus.object_id")
	if got := strings.TrimRight(string(out), "\n"); got != strings.Join(wantReqs, "\n") {
		t.Errorf("request fields, tshark:\n%s\nwe sent:\n%s", got, strings.Join(wantReqs, "\n"))
	}
	out = wiretest.Tshark(t, pcap, "-Y", "mbtcp && tcp.srcport == 502 && modbus.func_code == 43", "-T", "fields",
		"-e", "mbtcp.trans_id", "-e", "modbus.conformity_level", "-e", "modbus.num_objects", "-e", "modbus.object_id")
	if got := strings.TrimRight(string(out), "\n"); got != strings.Join(wantObjs, "\n") {
		t.Errorf("device identification, tshark:\n%s\nwe sent:\n%s", got, strings.Join(wantObjs, "\n"))
	}
	bad := wiretest.Tshark(t, pcap, "-Y", "_ws.malformed || _ws.expert.severity >= warning || mbtcp.cannot_classify", "-V")
	if len(strings.TrimSpace(string(bad))) != 0 {
		t.Errorf("tshark flags frames as malformed or with warnings:\n%s", bad)
	}
}

// readResponse reads ADUs until the one with transaction id tid.
func readResponse(t *testing.T, c *modbus.Client, tid uint16) modbus.ADU {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		a, err := c.ReadADU(ctx)
		if err != nil {
			t.Fatalf("waiting for tid %d: %v", tid, err)
		}
		if a.TransactionID == tid {
			return a
		}
		t.Fatalf("got tid %d while waiting for %d: a no-response request was answered", a.TransactionID, tid)
	}
}

// tsharkRows turns tshark's field rows into "q|r tid unit fc exc" lines.
func tsharkRows(out string) []string {
	var rows []string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			continue
		}
		dir := "r"
		if f[0] == "502" {
			dir = "q"
		}
		exc := f[4]
		if exc == "" {
			exc = "-"
		}
		rows = append(rows, fmt.Sprintf("%s %s %s %s %s", dir, f[1], f[2], f[3], exc))
	}
	return rows
}

// requestDetail renders the request fields tshark reports, in the order of
// the tshark query: reference number, read reference number, word count, bit
// count, diagnostic code, read device id code, object id.
func requestDetail(p modbus.PDU) string {
	f := make([]string, 7)
	w := func(i int) string { return fmt.Sprint(uint16(p.Data[i])<<8 | uint16(p.Data[i+1])) }
	switch p.Function {
	case modbus.FuncReadCoils, modbus.FuncReadDiscreteInputs, modbus.FuncWriteMultipleCoils:
		f[0], f[3] = w(0), w(2)
	case modbus.FuncReadHoldingRegisters, modbus.FuncReadInputRegisters, modbus.FuncWriteMultipleRegisters:
		f[0], f[2] = w(0), w(2)
	case modbus.FuncWriteSingleCoil, modbus.FuncWriteSingleRegister, modbus.FuncMaskWriteRegister, modbus.FuncReadFIFOQueue:
		f[0] = w(0)
	case modbus.FuncReadWriteMultipleRegisters:
		f[1] = w(0)
	case modbus.FuncDiagnostics:
		f[4] = w(0)
	case modbus.FuncEncapsulatedInterface:
		f[5], f[6] = fmt.Sprint(p.Data[1]), fmt.Sprint(p.Data[2])
	case modbus.FuncReadFileRecord, modbus.FuncWriteFileRecord:
		var r modbus.Request
		if modbus.ParseRequest(p, &r) == nil {
			var lens []string
			for fr := range r.FileRecords {
				lens = append(lens, fmt.Sprint(fr.Length))
			}
			f[2] = strings.Join(lens, ",")
		}
	}
	return strings.Join(f, "\t")
}

// objectDetail renders a FC 43/14 response as tshark reports it:
// conformity level, number of objects, object ids.
func objectDetail(t *testing.T, p modbus.PDU) string {
	if p.Function != modbus.FuncEncapsulatedInterface {
		return ""
	}
	var r modbus.Response
	if err := modbus.ParseResponse(p, &r); err != nil {
		t.Fatalf("our FC 43 response does not parse: %v", err)
	}
	var ids []string
	for id := range r.DeviceObjects {
		ids = append(ids, fmt.Sprint(id))
	}
	return fmt.Sprintf("0x%02x\t%d\t%s", r.Conformity, r.NumObjects, strings.Join(ids, ","))
}
