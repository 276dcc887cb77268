package modbus

import (
	"errors"
	"testing"
)

func TestParseResponseSpecExamples(t *testing.T) {
	for _, tt := range specResponses {
		t.Run(tt.name, func(t *testing.T) {
			var q Request
			var r Response
			if err := ParseResponse(pduOf(t, tt.hex), &r); err != nil {
				t.Fatalf("ParseResponse(%s): %v", tt.hex, err)
			}
			if tt.name == "exception" {
				if r.Exception != ExIllegalDataAddress {
					t.Errorf("exception %v", r.Exception)
				}
				return
			}
			if err := ParseRequest(pduOf(t, tt.req), &q); err != nil {
				t.Fatal(err)
			}
			if err := CheckResponse(&q, &r); err != nil {
				t.Errorf("CheckResponse: %v", err)
			}
		})
	}
}

func TestParseResponseFields(t *testing.T) {
	var r Response
	check := func(hex string) {
		t.Helper()
		if err := ParseResponse(pduOf(t, hex), &r); err != nil {
			t.Fatalf("ParseResponse(%s): %v", hex, err)
		}
	}
	check("03 06 022b 0000 0064")
	if r.ByteCount != 6 || r.Register(0) != 0x22b || r.Register(2) != 0x64 || r.Register(3) != 0 {
		t.Errorf("fc3 %+v", r)
	}
	check("01 03 cd6b05")
	if !r.Bit(0) || r.Bit(1) || !r.Bit(18) || r.Bit(24) {
		t.Errorf("fc1 bits % x", r.Values)
	}
	check("0c 08 0000 0108 0121 2000")
	if r.Value != 0 || r.EventCount != 0x108 || r.MessageCount != 0x121 || string(r.Values) != "\x20\x00" {
		t.Errorf("fc12 %+v", r)
	}
	check("11 03 2a ff 00")
	if string(r.Values) != "\x2a\xff" || r.RunIndicator != 0 {
		t.Errorf("fc17 %+v", r)
	}
	check("18 0006 0002 01b8 1284")
	if r.Quantity != 2 || r.Register(1) != 0x1284 {
		t.Errorf("fc24 %+v", r)
	}
	check("14 0c 05 06 0dfe 0020 05 06 33cd 0040")
	var recs []FileRecord
	for fr := range r.FileRecords {
		recs = append(recs, fr)
	}
	if len(recs) != 2 || string(recs[1].Data) != "\x33\xcd\x00\x40" || recs[0].Length != 2 {
		t.Errorf("fc20 records %+v", recs)
	}
	check("2b 0e 01 01 00 00 03 00 07 436f6d70616e79 01 07 50726f64756374 02 04 56322e31")
	got := map[uint8]string{}
	for id, v := range r.DeviceObjects {
		got[id] = string(v)
	}
	if r.Conformity != 1 || r.MoreFollows || len(got) != 3 || got[0] != "Company" || got[2] != "V2.1" {
		t.Errorf("fc43 %+v objects %v", r, got)
	}
	check("2b 0e 02 82 ff 03 01 00 01 41")
	if !r.MoreFollows || r.NextObjectID != 3 || r.Conformity != 0x82 {
		t.Errorf("fc43 more follows %+v", r)
	}
}

func TestParseResponseErrors(t *testing.T) {
	tests := []struct {
		name, hex, field string
		offset           int
	}{
		{"unknown function", "41 00", "function", 0},
		{"exception without code", "83", "length", 1},
		{"exception with two bytes", "83 0202", "length", 1},
		{"fc3 byte count beyond data", "03 04 0000", "byte_count", 1},
		{"fc3 odd byte count", "03 03 000000", "byte_count", 1},
		{"fc1 byte count 0", "01 00", "byte_count", 1},
		{"fc1 byte count 251", "01 fb" + zeros(251), "byte_count", 1},
		{"fc5 bad value", "05 0000 0001", "value", 3},
		{"fc16 quantity 0", "10 0000 0000", "quantity", 3},
		{"fc7 empty", "07", "length", 1},
		{"fc8 restart echo without data", "08 0001", "length", 1},
		{"fc11 short", "0b 0000", "length", 1},
		{"fc12 short byte count", "0c 05 0000 0000 0000", "byte_count", 1},
		{"fc12 too many events", "0c 47 0000 0000 0000" + zeros(65), "byte_count", 1},
		{"fc17 byte count beyond data", "11 05 01 ff", "byte_count", 1},
		{"fc20 bad sub-response length", "14 04 04 06 0000", "file.response_length", 2},
		{"fc20 byte count beyond data", "14 03 03 06 0000", "byte_count", 1},
		{"fc20 bad reference type in a good length", "14 04 03 05 0000", "file.reference_type", 3},
		{"fc22 short", "16 0000", "length", 1},
		{"fc24 fifo count 32", "18 0042 0020" + zeros(64), "fifo_count", 3},
		{"fc24 byte count mismatch", "18 0004 0002 0000", "byte_count", 1},
		{"fc43 bad more follows", "2b 0e 01 01 01 00 00", "more_follows", 4},
		{"fc43 object overruns", "2b 0e 01 01 00 00 01 00 05 41", "object", 7},
		{"fc43 trailing bytes", "2b 0e 01 01 00 00 00 41", "object", 7},
		{"fc43 short header", "2b 0e 01 01", "length", 1},
		{"fc43 read device id code 0", "2b 0e 00 01 00 00 00", "read_device_id_code", 2},
		{"fc43 read device id code 5", "2b 0e 05 01 00 00 00", "read_device_id_code", 2},
		{"fc43 conformity 0", "2b 0e 01 00 00 00 00", "conformity_level", 3},
		{"fc43 conformity 0x84", "2b 0e 01 84 00 00 00", "conformity_level", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			err := ParseResponse(pduOf(t, tt.hex), &r)
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != tt.field || de.Offset != tt.offset {
				t.Fatalf("ParseResponse(%s) = %v, want field %s at %d", tt.hex, err, tt.field, tt.offset)
			}
		})
	}
}

func TestCheckResponseMismatch(t *testing.T) {
	tests := []struct{ name, req, resp, field string }{
		{"other function", "03 0000 0002", "04 04 00000000", "function"},
		{"fc3 byte count", "03 0000 0002", "03 02 0000", "byte_count"},
		{"fc1 byte count", "01 0000 0009", "01 01 00", "byte_count"},
		{"fc6 value", "06 0001 0003", "06 0001 0004", "value"},
		{"fc5 address", "05 0001 ff00", "05 0002 ff00", "address"},
		{"fc16 quantity", "10 0001 0001 02 0000", "10 0001 0002", "quantity"},
		{"fc22 mask", "16 0004 00f2 0025", "16 0004 00f2 0026", "or_mask"},
		{"fc8 sub-function", "08 0001 0000", "08 0004 0000", "sub_function"},
		{"fc8 echo", "08 0000 a537", "08 0000 a538", "echo"},
		{"fc43 code", "2b 0e 01 00", "2b 0e 02 01 00 00 00", "read_device_id_code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q Request
			var r Response
			if err := ParseRequest(pduOf(t, tt.req), &q); err != nil {
				t.Fatal(err)
			}
			if err := ParseResponse(pduOf(t, tt.resp), &r); err != nil {
				t.Fatal(err)
			}
			var me *MismatchError
			if err := CheckResponse(&q, &r); !errors.As(err, &me) || me.Field != tt.field {
				t.Fatalf("CheckResponse = %v, want a mismatch of %s", err, tt.field)
			}
		})
	}
	var q Request
	var r Response
	_ = ParseRequest(pduOf(t, "03 0000 0002"), &q)
	_ = ParseResponse(pduOf(t, "83 02"), &r)
	if err := CheckResponse(&q, &r); err != nil {
		t.Errorf("an exception does not answer its request: %v", err)
	}
}

func TestParseResponseAllocs(t *testing.T) {
	p := pduOf(t, "03 06 022b 0000 0064")
	var r Response
	if n := testing.AllocsPerRun(100, func() { _ = ParseResponse(p, &r) }); n != 0 {
		t.Errorf("ParseResponse allocates %v times", n)
	}
}

// zeros returns the hex of n zero bytes.
func zeros(n int) string {
	b := make([]byte, 2*n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}
