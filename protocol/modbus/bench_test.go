package modbus

import "testing"

// benchADU is a typical poll: read 10 holding registers.
var benchADU = []byte{0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x6b, 0x00, 0x0a}

func BenchmarkDecodeADU(b *testing.B) {
	var a ADU
	b.ReportAllocs()
	b.SetBytes(int64(len(benchADU)))
	for b.Loop() {
		if _, err := DecodeADU(benchADU, &a); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStream(b *testing.B) {
	// A segment carrying a request and its 10-register response.
	seg := append(append([]byte(nil), benchADU...),
		0x00, 0x01, 0x00, 0x00, 0x00, 0x17, 0x01, 0x03, 0x14,
		0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8, 0, 9, 0, 10)
	s := NewStream(4096)
	var a ADU
	b.ReportAllocs()
	b.SetBytes(int64(len(seg)))
	for b.Loop() {
		if err := s.Write(seg); err != nil {
			b.Fatal(err)
		}
		for {
			ok, err := s.Next(&a)
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
		}
	}
}

func BenchmarkParseRequest(b *testing.B) {
	p := PDU{Function: FuncWriteMultipleRegisters, Data: []byte{0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0a, 0x01, 0x02}}
	var r Request
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseRequest(p, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseResponse(b *testing.B) {
	p := PDU{Function: FuncReadHoldingRegisters, Data: []byte{0x06, 0x02, 0x2b, 0x00, 0x00, 0x00, 0x64}}
	var r Response
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseResponse(p, &r); err != nil {
			b.Fatal(err)
		}
	}
}
