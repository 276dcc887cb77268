package modbus

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestParseRequestSpecExamples(t *testing.T) {
	for _, tt := range specRequests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			if err := ParseRequest(pduOf(t, tt.hex), &r); err != nil {
				t.Fatalf("ParseRequest(%s): %v", tt.hex, err)
			}
		})
	}
}

func TestParseRequestFields(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want Request
	}{
		{"fc3", "03 006b 0003", Request{Function: 3, Address: 0x6b, Quantity: 3}},
		{"fc1 max", "01 0000 07d0", Request{Function: 1, Quantity: 2000}},
		{"fc1 last address", "01 ffff 0001", Request{Function: 1, Address: 0xffff, Quantity: 1}},
		{"fc5 on", "05 00ac ff00", Request{Function: 5, Address: 0xac, Quantity: 1, Value: 0xff00}},
		{"fc6", "06 0001 0003", Request{Function: 6, Address: 1, Quantity: 1, Value: 3}},
		{"fc8 return query data", "08 0000 a537", Request{Function: 8, SubFunction: 0, Value: 0xa537}},
		{"fc8 restart", "08 0001 ff00", Request{Function: 8, SubFunction: 1, Value: 0xff00}},
		{"fc15", "0f 0013 000a 02 cd01", Request{Function: 15, Address: 0x13, Quantity: 10}},
		{"fc16 max", "10 0000 007b f6" + string(bytes.Repeat([]byte("0000"), 123)), Request{Function: 16, Quantity: 123}},
		{"fc22", "16 0004 00f2 0025", Request{Function: 22, Address: 4, Quantity: 1, AndMask: 0xf2, OrMask: 0x25}},
		{"fc23", "17 0003 0006 000e 0003 06 00ff 00ff 00ff", Request{Function: 23, Address: 3, Quantity: 6, WriteAddress: 14, WriteQuantity: 3}},
		{"fc24", "18 04de", Request{Function: 24, Address: 0x4de}},
		{"fc43/14", "2b 0e 03 05", Request{Function: 43, MEIType: 14, ReadDeviceIDCode: 3, ObjectID: 5}},
		{"fc43/13", "2b 0d 0102", Request{Function: 43, MEIType: 13}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			if err := ParseRequest(pduOf(t, tt.hex), &r); err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			r.Values = nil
			if !reflect.DeepEqual(r, tt.want) {
				t.Errorf("got %+v\nwant %+v", r, tt.want)
			}
		})
	}
}

func TestParseRequestValues(t *testing.T) {
	var r Request
	if err := ParseRequest(pduOf(t, "0f 0013 000a 02 cd01"), &r); err != nil {
		t.Fatal(err)
	}
	want := []bool{true, false, true, true, false, false, true, true, true, false}
	for i, w := range want {
		if r.Coil(i) != w {
			t.Errorf("coil %d = %v, want %v", i, r.Coil(i), w)
		}
	}
	if err := ParseRequest(pduOf(t, "10 0001 0002 04 000a 0102"), &r); err != nil {
		t.Fatal(err)
	}
	if r.Register(0) != 0x000a || r.Register(1) != 0x0102 {
		t.Errorf("registers %04x %04x", r.Register(0), r.Register(1))
	}
	if err := ParseRequest(pduOf(t, "15 0d 06 0004 0007 0003 06af 04be 100d"), &r); err != nil {
		t.Fatal(err)
	}
	var recs []FileRecord
	for fr := range r.FileRecords {
		recs = append(recs, fr)
	}
	if len(recs) != 1 || recs[0].File != 4 || recs[0].Record != 7 || recs[0].Length != 3 || !bytes.Equal(recs[0].Data, hx(t, "06af04be100d")) {
		t.Errorf("file records %+v", recs)
	}
}

func TestParseRequestErrors(t *testing.T) {
	tests := []struct {
		name    string
		hex     string
		field   string
		offset  int
		wantExc ExceptionCode
	}{
		{"unknown function", "41 0000", "function", 0, ExIllegalFunction},
		{"exception bit in a request", "83 0000 0001", "function", 0, ExIllegalFunction},
		{"fc3 short", "03 0000 00", "length", 1, ExIllegalDataValue},
		{"fc3 long", "03 0000 0001 00", "length", 1, ExIllegalDataValue},
		{"fc3 quantity 0", "03 0000 0000", "quantity", 3, ExIllegalDataValue},
		{"fc3 quantity 126", "03 0000 007e", "quantity", 3, ExIllegalDataValue},
		{"fc4 quantity 126", "04 0000 007e", "quantity", 3, ExIllegalDataValue},
		{"fc1 quantity 2001", "01 0000 07d1", "quantity", 3, ExIllegalDataValue},
		{"fc2 quantity 0", "02 0000 0000", "quantity", 3, ExIllegalDataValue},
		{"fc3 beyond 65535", "03 ffff 0002", "address", 1, ExIllegalDataAddress},
		{"fc5 bad value", "05 0000 0001", "value", 3, ExIllegalDataValue},
		{"fc6 short", "06 0000", "length", 1, ExIllegalDataValue},
		{"fc7 with data", "07 00", "length", 1, ExIllegalDataValue},
		{"fc8 short", "08 00", "length", 1, ExIllegalDataValue},
		{"fc8 restart without data", "08 0001", "length", 1, ExIllegalDataValue},
		{"fc15 quantity 1969", "0f 0000 07b1 f7", "quantity", 3, ExIllegalDataValue},
		{"fc15 byte count mismatch", "0f 0000 000a 01 ff", "byte_count", 5, ExIllegalDataValue},
		{"fc15 missing values", "0f 0000 000a 02 ff", "byte_count", 5, ExIllegalDataValue},
		{"fc16 quantity 124", "10 0000 007c f8", "quantity", 3, ExIllegalDataValue},
		{"fc16 byte count odd", "10 0000 0001 03 000000", "byte_count", 5, ExIllegalDataValue},
		{"fc16 extra bytes", "10 0000 0001 02 0000 00", "byte_count", 5, ExIllegalDataValue},
		{"fc16 short header", "10 0000 0001", "length", 1, ExIllegalDataValue},
		{"fc20 byte count 6", "14 06 06 0004 0001 00", "byte_count", 1, ExIllegalDataValue},
		{"fc20 bad reference type", "14 07 07 0004 0001 0002", "file.reference_type", 2, ExIllegalDataAddress},
		{"fc20 record 10000", "14 07 06 0004 2710 0002", "file.record_number", 5, ExIllegalDataAddress},
		{"fc20 partial sub-request", "14 0a 06 0004 0001 0002 06 00 01", "file.sub_request", 9, ExIllegalDataValue},
		{"fc21 data too short", "15 09 06 0004 0007 0002 06af", "file.record_length", 7, ExIllegalDataValue},
		{"fc22 short", "16 0004 00f2", "length", 1, ExIllegalDataValue},
		{"fc23 read quantity 0", "17 0000 0000 0000 0001 02 0000", "read_quantity", 3, ExIllegalDataValue},
		{"fc23 write quantity 122", "17 0000 0001 0000 007a f4", "write_quantity", 7, ExIllegalDataValue},
		{"fc23 byte count mismatch", "17 0000 0001 0000 0001 04 0000", "byte_count", 9, ExIllegalDataValue},
		{"fc24 long", "18 0000 00", "length", 1, ExIllegalDataValue},
		{"fc43 empty", "2b", "length", 1, ExIllegalDataValue},
		{"fc43/14 code 0", "2b 0e 00 00", "read_device_id_code", 2, ExIllegalDataValue},
		{"fc43/14 code 5", "2b 0e 05 00", "read_device_id_code", 2, ExIllegalDataValue},
		{"fc43/14 short", "2b 0e 01", "length", 1, ExIllegalDataValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			err := ParseRequest(pduOf(t, tt.hex), &r)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("ParseRequest(%s) = %v, want a *DecodeError", tt.hex, err)
			}
			if de.Field != tt.field || de.Offset != tt.offset || de.Exception != tt.wantExc {
				t.Errorf("got field %s offset %d exception %v (%v), want %s %d %v", de.Field, de.Offset, de.Exception, err, tt.field, tt.offset, tt.wantExc)
			}
			if c, ok := AsException(err); !ok || c != tt.wantExc {
				t.Errorf("AsException = %v, %v", c, ok)
			}
		})
	}
}

func TestBuildersRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		pdu  PDU
		hex  string
	}{
		{"ReadCoils", ReadCoils(0x13, 0x13), "01 0013 0013"},
		{"ReadDiscreteInputs", ReadDiscreteInputs(0xc4, 0x16), "02 00c4 0016"},
		{"ReadHoldingRegisters", ReadHoldingRegisters(0x6b, 3), "03 006b 0003"},
		{"ReadInputRegisters", ReadInputRegisters(8, 1), "04 0008 0001"},
		{"WriteSingleCoil", WriteSingleCoil(0xac, true), "05 00ac ff00"},
		{"WriteSingleCoil off", WriteSingleCoil(0xac, false), "05 00ac 0000"},
		{"WriteSingleRegister", WriteSingleRegister(1, 3), "06 0001 0003"},
		{"ReadExceptionStatus", ReadExceptionStatus(), "07"},
		{"Diagnostic", Diagnostic(0, 0xa537), "08 0000 a537"},
		{"GetCommEventCounter", GetCommEventCounter(), "0b"},
		{"GetCommEventLog", GetCommEventLog(), "0c"},
		{"WriteMultipleCoils", WriteMultipleCoils(0x13, []bool{true, false, true, true, false, false, true, true, true, false}), "0f 0013 000a 02 cd01"},
		{"WriteMultipleRegisters", WriteMultipleRegisters(1, []uint16{0x0a, 0x102}), "10 0001 0002 04 000a 0102"},
		{"ReportServerID", ReportServerID(), "11"},
		{"ReadFileRecord", ReadFileRecord([]FileRecord{{File: 4, Record: 1, Length: 2}, {File: 3, Record: 9, Length: 2}}), "14 0e 06 0004 0001 0002 06 0003 0009 0002"},
		{"WriteFileRecord", WriteFileRecord([]FileRecord{{File: 4, Record: 7, Data: hx(t, "06af04be100d")}}), "15 0d 06 0004 0007 0003 06af 04be 100d"},
		{"MaskWriteRegister", MaskWriteRegister(4, 0xf2, 0x25), "16 0004 00f2 0025"},
		{"ReadWriteMultipleRegisters", ReadWriteMultipleRegisters(3, 6, 14, []uint16{0xff, 0xff, 0xff}), "17 0003 0006 000e 0003 06 00ff 00ff 00ff"},
		{"ReadFIFOQueue", ReadFIFOQueue(0x4de), "18 04de"},
		{"ReadDeviceIdentification", ReadDeviceIdentification(DevIDBasic, 0), "2b 0e 01 00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := pduOf(t, tt.hex)
			if tt.pdu.Function != want.Function || !bytes.Equal(tt.pdu.Data, want.Data) {
				t.Fatalf("got %v % x, want %s", tt.pdu.Function, tt.pdu.Data, tt.hex)
			}
			var r Request
			if err := ParseRequest(tt.pdu, &r); err != nil {
				t.Errorf("ParseRequest of the built request: %v", err)
			}
		})
	}
}

func TestParseRequestAllocs(t *testing.T) {
	p := pduOf(t, "10 0001 0002 04 000a 0102")
	var r Request
	if n := testing.AllocsPerRun(100, func() { _ = ParseRequest(p, &r) }); n != 0 {
		t.Errorf("ParseRequest allocates %v times", n)
	}
	b := hx(t, "0001 0000 0006 01 03 006b 0003")
	var a ADU
	if n := testing.AllocsPerRun(100, func() { _, _ = DecodeADU(b, &a) }); n != 0 {
		t.Errorf("DecodeADU allocates %v times", n)
	}
}
