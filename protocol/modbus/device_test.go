package modbus

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// newTestDevice returns a Device over a small Bank with a full identity.
func newTestDevice(t *testing.T) (*Device, *Bank) {
	t.Helper()
	bank := NewBank(BankConfig{HoldingRegisters: 10, Files: 2, FileRecords: 100})
	d, err := NewDevice(DeviceConfig{
		Data: bank,
		Identity: Identity{
			VendorName: "Company", ProductCode: "Product", MajorMinorRevision: "V2.1",
			ProductName: "Pump PLC", Extended: map[uint8]string{0x80: "site-a"},
		},
		ServerID:        []byte{0x2a},
		ExceptionStatus: func() uint8 { return 0x6d },
	})
	if err != nil {
		t.Fatalf("NewDevice: %v", err)
	}
	return d, bank
}

// serve sends req to d and returns the response, failing on errors other
// than exceptions and ErrNoResponse.
func serve(t *testing.T, d Handler, req PDU) (PDU, error) {
	t.Helper()
	resp, err := d.ServeModbus(context.Background(), 1, req)
	var ee *ExceptionError
	if err != nil && !errors.As(err, &ee) && !errors.Is(err, ErrNoResponse) {
		t.Fatalf("%v: %v", req.Function, err)
	}
	if err == nil {
		var r Response
		if perr := ParseResponse(resp, &r); perr != nil {
			t.Fatalf("%v: the device's response does not parse: %v (% x)", req.Function, perr, resp.Data)
		}
		var q Request
		if ParseRequest(req, &q) == nil {
			if cerr := CheckResponse(&q, &r); cerr != nil {
				t.Fatalf("%v: the response does not match: %v", req.Function, cerr)
			}
		}
	}
	return resp, err
}

func TestDeviceSimpleFunctions(t *testing.T) {
	d, _ := newTestDevice(t)
	tests := []struct {
		name string
		req  PDU
		want string
	}{
		{"fc7", ReadExceptionStatus(), "07 6d"},
		{"fc8 return query data", pduOf(t, "08 0000 a537 0102"), "08 0000 a537 0102"},
		{"fc8 diagnostic register", Diagnostic(DiagReturnDiagnosticRegister, 0), "08 0002 0000"},
		{"fc8 ascii delimiter", Diagnostic(DiagChangeASCIIInputDelimiter, 0x3a00), "08 0003 3a00"},
		{"fc17", ReportServerID(), "11 02 2a ff"},
		{"fc3 goes to the bank", ReadHoldingRegisters(0, 1), "03 02 0000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := serve(t, d, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if want := pduOf(t, tt.want); resp.Function != want.Function || !bytes.Equal(resp.Data, want.Data) {
				t.Errorf("got %v % x, want %s", resp.Function, resp.Data, tt.want)
			}
		})
	}
}

func TestDeviceExceptions(t *testing.T) {
	d, _ := newTestDevice(t)
	noData, err := NewDevice(DeviceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		h    Handler
		req  PDU
		want ExceptionCode
	}{
		{"unknown sub-function", d, Diagnostic(0x15, 0), ExIllegalFunction},
		{"counter with data", d, Diagnostic(DiagReturnBusMessageCount, 1), ExIllegalDataValue},
		{"restart with bad data", d, Diagnostic(DiagRestartCommunications, 1), ExIllegalDataValue},
		{"listen only with data", d, Diagnostic(DiagForceListenOnlyMode, 1), ExIllegalDataValue},
		{"fc8 malformed", d, pduOf(t, "08 00"), ExIllegalDataValue},
		{"devid specific absent", d, ReadDeviceIdentification(DevIDSpecific, 0x42), ExIllegalDataAddress},
		{"devid bad code", d, pduOf(t, "2b 0e 05 00"), ExIllegalDataValue},
		{"other MEI type", d, pduOf(t, "2b 0d 00"), ExIllegalFunction},
		{"unknown function", d, PDU{Function: 0x41}, ExIllegalFunction},
		{"data function without data handler", noData, ReadCoils(0, 1), ExIllegalFunction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.h
			if h == nil {
				h = d
			}
			_, err := serve(t, h, tt.req)
			var ee *ExceptionError
			if !errors.As(err, &ee) || ee.Code != tt.want {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNewDeviceValidates(t *testing.T) {
	bad := []DeviceConfig{
		{ServerID: make([]byte, 251)},
		{Identity: Identity{Extended: map[uint8]string{0x10: "x"}}},
		{Identity: Identity{VendorName: strings.Repeat("v", 245)}},
	}
	for i, cfg := range bad {
		if _, err := NewDevice(cfg); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
}

func TestDeviceCountersAndEventLog(t *testing.T) {
	d, _ := newTestDevice(t)
	serve(t, d, ReadHoldingRegisters(0, 1))       // ok
	serve(t, d, ReadHoldingRegisters(100, 1))     // exception 2
	serve(t, d, WriteSingleRegister(1, 7))        // ok
	resp, _ := serve(t, d, GetCommEventCounter()) // not counted as an event
	if want := "\x00\x00\x00\x02"; string(resp.Data) != want {
		t.Errorf("fc11 % x, want 2 events", resp.Data)
	}
	for sub, want := range map[uint16]uint16{
		DiagReturnBusMessageCount: 5, DiagReturnServerMessageCount: 6, DiagReturnBusExceptionErrorCount: 1,
		DiagReturnServerNoResponseCount: 0, DiagReturnBusCommErrorCount: 0, DiagReturnServerNAKCount: 0,
		DiagReturnServerBusyCount: 0, DiagReturnBusCharacterOverrunCount: 0,
	} {
		// each query is itself a message: bus count 5 on the first query
		resp, err := serve(t, d, Diagnostic(sub, 0))
		if err != nil {
			t.Fatal(err)
		}
		got := be16(resp.Data, 2)
		if sub == DiagReturnBusMessageCount || sub == DiagReturnServerMessageCount {
			continue // depends on map order; checked below through Counters
		}
		if got != want {
			t.Errorf("counter 0x%02x = %d, want %d", sub, got, want)
		}
	}
	if c := d.Counters(); c.BusMessages != 12 || c.ServerMessages != 12 || c.BusExceptions != 1 {
		t.Errorf("counters %+v", c)
	}
	resp, _ = serve(t, d, GetCommEventLog())
	var r Response
	if err := ParseResponse(resp, &r); err != nil {
		t.Fatal(err)
	}
	if r.MessageCount != 13 || r.EventCount != 10 || len(r.Values) != 25 {
		t.Errorf("event log: messages %d events %d log % x", r.MessageCount, r.EventCount, r.Values)
	}
	// Most recent first: the receive event of this request, then the send
	// event of the previous one; the exception answer logged 0x41.
	if r.Values[0] != eventReceive || r.Values[1] != eventSend || !bytes.Contains(r.Values, []byte{eventSend | eventSendReadEx}) {
		t.Errorf("events % x", r.Values)
	}
	serve(t, d, Diagnostic(DiagClearCounters, 0))
	if c := d.Counters(); c != (DiagCounters{}) {
		t.Errorf("after clear: %+v", c)
	}
}

func TestDeviceEventLogBounded(t *testing.T) {
	d, _ := newTestDevice(t)
	for range 100 {
		serve(t, d, ReadHoldingRegisters(0, 1))
	}
	resp, _ := serve(t, d, GetCommEventLog())
	if len(resp.Data) != 7+maxEventLogBytes {
		t.Errorf("event log of %d bytes", len(resp.Data)-7)
	}
}

func TestDeviceListenOnly(t *testing.T) {
	d, bank := newTestDevice(t)
	if _, err := serve(t, d, Diagnostic(DiagForceListenOnlyMode, 0)); !errors.Is(err, ErrNoResponse) {
		t.Fatalf("force listen only answered: %v", err)
	}
	if !d.ListenOnly() {
		t.Fatal("not in listen-only mode")
	}
	for _, req := range []PDU{ReadHoldingRegisters(0, 1), WriteSingleRegister(0, 9), Diagnostic(DiagClearCounters, 0), PDU{Function: 0x41}} {
		if _, err := serve(t, d, req); !errors.Is(err, ErrNoResponse) {
			t.Errorf("%v in listen-only mode: %v", req.Function, err)
		}
	}
	if bank.Holding(0) != 0 {
		t.Error("a write was executed in listen-only mode")
	}
	if c := d.Counters(); c.ServerNoResponses != 5 || c.BusMessages != 5 {
		t.Errorf("counters in listen-only mode %+v", c)
	}
	if _, err := serve(t, d, Diagnostic(DiagRestartCommunications, 0)); !errors.Is(err, ErrNoResponse) {
		t.Errorf("restart in listen-only mode answered: %v", err)
	}
	if d.ListenOnly() {
		t.Fatal("restart did not end listen-only mode")
	}
	if c := d.Counters(); c != (DiagCounters{}) {
		t.Errorf("restart left counters %+v", c)
	}
	if _, err := serve(t, d, WriteSingleRegister(0, 9)); err != nil || bank.Holding(0) != 9 {
		t.Errorf("after restart: %v, register %d", err, bank.Holding(0))
	}
}

func TestDeviceRestart(t *testing.T) {
	d, _ := newTestDevice(t)
	serve(t, d, ReadHoldingRegisters(0, 1))
	resp, err := serve(t, d, Diagnostic(DiagRestartCommunications, restartClearLog))
	if err != nil || string(resp.Data) != "\x00\x01\xff\x00" {
		t.Fatalf("restart: % x %v", resp.Data, err)
	}
	resp, _ = serve(t, d, GetCommEventLog())
	var r Response
	if err := ParseResponse(resp, &r); err != nil {
		t.Fatal(err)
	}
	// The log was cleared by the restart: the restart event and this request.
	if r.EventCount != 0 || string(r.Values) != "\x80\x00" {
		t.Errorf("after restart: events %d log % x", r.EventCount, r.Values)
	}
}

func TestDeviceIdentification(t *testing.T) {
	d, _ := newTestDevice(t)
	tests := []struct {
		name     string
		code, id uint8
		wantIDs  string
	}{
		{"basic", DevIDBasic, 0, "\x00\x01\x02"},
		{"basic from 1", DevIDBasic, 1, "\x01\x02"},
		{"basic from an unknown id restarts at 0", DevIDBasic, 0x55, "\x00\x01\x02"},
		{"regular", DevIDRegular, 0, "\x00\x01\x02\x04"},
		{"extended", DevIDExtended, 0, "\x00\x01\x02\x04\x80"},
		{"extended from 0x80", DevIDExtended, 0x80, "\x80"},
		{"specific", DevIDSpecific, 4, "\x04"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := serve(t, d, ReadDeviceIdentification(tt.code, tt.id))
			if err != nil {
				t.Fatal(err)
			}
			var r Response
			if err := ParseResponse(resp, &r); err != nil {
				t.Fatal(err)
			}
			var ids []byte
			for id := range r.DeviceObjects {
				ids = append(ids, id)
			}
			if string(ids) != tt.wantIDs || r.Conformity != 0x83 || r.MoreFollows || r.ReadDeviceIDCode != tt.code {
				t.Errorf("ids % x conformity %#x more %v code %d", ids, r.Conformity, r.MoreFollows, r.ReadDeviceIDCode)
			}
		})
	}
}

func TestDeviceIdentificationMoreFollows(t *testing.T) {
	ext := map[uint8]string{}
	for i := range 5 {
		ext[uint8(0x80+i)] = strings.Repeat(string(rune('a'+i)), 100)
	}
	d, err := NewDevice(DeviceConfig{Identity: Identity{VendorName: "v", ProductCode: "p", MajorMinorRevision: "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if d.conformity != 0x81 {
		t.Errorf("basic-only conformity %#x", d.conformity)
	}
	d, _ = NewDevice(DeviceConfig{Identity: Identity{Extended: ext}})
	var got []uint8
	next := uint8(0)
	for range 10 {
		resp, err := serve(t, d, ReadDeviceIdentification(DevIDExtended, next))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Len() > MaxPDULen {
			t.Fatalf("response of %d bytes", resp.Len())
		}
		var r Response
		if err := ParseResponse(resp, &r); err != nil {
			t.Fatal(err)
		}
		for id := range r.DeviceObjects {
			got = append(got, id)
		}
		if !r.MoreFollows {
			break
		}
		next = r.NextObjectID
	}
	if want := []byte{0, 1, 2, 0x80, 0x81, 0x82, 0x83, 0x84}; !bytes.Equal(got, want) {
		t.Errorf("objects over several requests % x, want % x", got, want)
	}
}

func TestMux(t *testing.T) {
	a, b := NewBank(BankConfig{HoldingRegisters: 1}), NewBank(BankConfig{HoldingRegisters: 1})
	a.SetHolding(0, 1)
	b.SetHolding(0, 2)
	m := NewMux()
	m.Handle(1, a)
	m.Handle(2, b)
	read := func(unit uint8) (uint16, error) {
		resp, err := m.ServeModbus(context.Background(), unit, ReadHoldingRegisters(0, 1))
		return be16(resp.Data, 1), err
	}
	if v, err := read(1); v != 1 || err != nil {
		t.Errorf("unit 1: %d %v", v, err)
	}
	if v, err := read(2); v != 2 || err != nil {
		t.Errorf("unit 2: %d %v", v, err)
	}
	if _, err := read(3); !errors.Is(err, &ExceptionError{Code: ExGatewayPathUnavailable}) {
		t.Errorf("unknown unit: %v", err)
	}
	m.HandleDefault(a)
	m.Handle(2, nil)
	if v, err := read(2); v != 1 || err != nil {
		t.Errorf("removed unit with a default: %d %v", v, err)
	}
}

func TestBankFilesAndFIFO(t *testing.T) {
	b := NewBank(BankConfig{Files: 4, FileRecords: 10})
	written := 0
	b.OnWrite(func(fc FunctionCode, addr, qty uint16) {
		if fc == FuncWriteFileRecord && addr == 4 && qty == 3 {
			written++
		}
	})
	resp, err := serve(t, b, pduOf(t, "15 0d 06 0004 0007 0003 06af 04be 100d"))
	if err != nil || written != 1 || b.FileRecord(4, 8) != 0x04be {
		t.Fatalf("fc21: %v written %d record %#x", err, written, b.FileRecord(4, 8))
	}
	b.SetFileRecord(3, 9, 0x0040)
	resp, err = serve(t, b, ReadFileRecord([]FileRecord{{File: 4, Record: 7, Length: 2}, {File: 3, Record: 9, Length: 1}, {File: 1, Record: 0, Length: 1}}))
	if want := "\x0e\x05\x06\x06\xaf\x04\xbe\x03\x06\x00\x40\x03\x06\x00\x00"; err != nil || string(resp.Data) != want {
		t.Fatalf("fc20: % x %v", resp.Data, err)
	}
	b.SetFIFO(0x4de, []uint16{0x1b8, 0x1284})
	resp, err = serve(t, b, ReadFIFOQueue(0x4de))
	if err != nil || string(resp.Data) != "\x00\x06\x00\x02\x01\xb8\x12\x84" {
		t.Fatalf("fc24: % x %v", resp.Data, err)
	}
	b.SetFIFO(1, make([]uint16, 32))
	for name, tt := range map[string]struct {
		req  PDU
		want ExceptionCode
	}{
		"fc20 file 0":           {ReadFileRecord([]FileRecord{{File: 0, Length: 1}}), ExIllegalDataAddress},
		"fc20 file 5":           {ReadFileRecord([]FileRecord{{File: 5, Length: 1}}), ExIllegalDataAddress},
		"fc20 beyond records":   {ReadFileRecord([]FileRecord{{File: 1, Record: 9, Length: 2}}), ExIllegalDataAddress},
		"fc20 response too big": {ReadFileRecord(slices.Repeat([]FileRecord{{File: 1, Length: 10}}, 12)), ExIllegalDataValue},
		"fc21 beyond records":   {WriteFileRecord([]FileRecord{{File: 1, Record: 9, Data: make([]byte, 4)}}), ExIllegalDataAddress},
		"fc24 no queue":         {ReadFIFOQueue(2), ExIllegalDataAddress},
		"fc24 count 32":         {ReadFIFOQueue(1), ExIllegalDataValue},
	} {
		if _, err := serve(t, b, tt.req); !errors.Is(err, &ExceptionError{Code: tt.want}) {
			t.Errorf("%s: %v, want %v", name, err, tt.want)
		}
	}
	if b.FileRecord(1, 9) != 0 {
		t.Error("a refused FC 21 wrote")
	}
}
