package dnp3

import "testing"

// benchFrame is a typical response: a class 1 event and static binaries and
// analogs (one link frame, 3 headers, 9 points).
func benchFrame() []byte {
	apdu := AppendResponseHeader(nil, NewAppControl(true, true, true, false, 3), FuncResponse, IINClass1Events)
	apdu = AppendObjectHeader(apdu, ObjectHeader{Group: 2, Variation: 2, Qualifier: QualIndex16Count16, Count: 1})
	apdu = AppendIndex(apdu, QualIndex16Count16, 4)
	apdu, _ = AppendMeasurement(apdu, 2, 2, Measurement{Value: 1, Flags: FlagOnline | FlagState, Time: 1234567})
	apdu = AppendObjectHeader(apdu, ObjectHeader{Group: 1, Variation: 2, Qualifier: QualStartStop8, Start: 0, Stop: 3})
	for i := range 4 {
		apdu, _ = AppendMeasurement(apdu, 1, 2, Measurement{Value: float64(i & 1), Flags: FlagOnline})
	}
	apdu = AppendObjectHeader(apdu, ObjectHeader{Group: 30, Variation: 5, Qualifier: QualStartStop8, Start: 0, Stop: 3})
	for i := range 4 {
		apdu, _ = AppendMeasurement(apdu, 30, 5, Measurement{Value: float64(i) * 1.5, Flags: FlagOnline})
	}
	b, _ := AppendAPDU(nil, NewControl(false, true, false, false, LinkUnconfirmedUserData), 1, 1024, 0, apdu)
	return b
}

// decodeAll decodes a link frame, its transport segment, the application
// fragment and every point, as the sensor does per frame.
func decodeAll(b []byte, fr *Frame, re *Reassembler) (sum float64, ok bool) {
	if _, err := fr.Decode(b); err != nil {
		return 0, false
	}
	raw, err := re.Push(fr.UserData)
	if err != nil || raw == nil {
		return 0, false
	}
	frag, err := ParseFragment(raw)
	if err != nil {
		return 0, false
	}
	it := frag.Iter()
	for it.Next() {
		h := it.Header()
		for p := h.Points(); p.Next(); {
			m, err := DecodeMeasurement(h.Group, h.Variation, p.Value(), p.Bits())
			if err != nil {
				return 0, false
			}
			sum += m.Value
		}
	}
	return sum, it.Err() == nil
}

func TestDecodeAllocatesNothing(t *testing.T) {
	b := benchFrame()
	var fr Frame
	re := NewReassembler(0)
	sum, ok := decodeAll(b, &fr, re)
	if !ok || sum != 1+2+9 {
		t.Fatalf("decode failed: sum %v ok %v", sum, ok)
	}
	if n := testing.AllocsPerRun(100, func() { decodeAll(b, &fr, re) }); n != 0 {
		t.Fatalf("%v allocations per decode, want 0", n)
	}
	fm := NewFramer(0)
	if n := testing.AllocsPerRun(100, func() {
		fm.Write(b)
		for f, _ := fm.Next(); f != nil; f, _ = fm.Next() {
		}
	}); n != 0 {
		t.Fatalf("%v allocations per framed frame, want 0", n)
	}
}

func BenchmarkDecodeFrameAndFragment(b *testing.B) {
	frame := benchFrame()
	var fr Frame
	re := NewReassembler(0)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		decodeAll(frame, &fr, re)
	}
}

func BenchmarkFramer(b *testing.B) {
	frame := benchFrame()
	fm := NewFramer(0)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		fm.Write(frame)
		for f, _ := fm.Next(); f != nil; f, _ = fm.Next() {
		}
	}
}

// BenchmarkCRC is the CRC of one full 16-octet data block.
func BenchmarkCRC(b *testing.B) {
	block := make([]byte, 16)
	for i := range block {
		block[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(block)))
	var c uint16
	for b.Loop() {
		c ^= CRC(block)
	}
	crcSink = c
}

var crcSink uint16
