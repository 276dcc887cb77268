package modbus

import (
	"bytes"
	"errors"
	"testing"
)

// threeADUs is three pipelined ADUs: a request, a response and an exception.
const threeADUs = "0001 0000 0006 01 03 006b 0003" +
	"0001 0000 0009 01 03 06 022b 0000 0064" +
	"0002 0000 0003 01 83 02"

// drain returns the transaction ids of every ADU s frames now, and the errors.
func drain(s *Stream) (tids []uint16, errs []error) {
	for {
		var a ADU
		ok, err := s.Next(&a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			return tids, errs
		}
		tids = append(tids, a.TransactionID)
	}
}

func TestStreamSplits(t *testing.T) {
	b := hx(t, threeADUs)
	for chunk := 1; chunk <= len(b); chunk++ {
		s := NewStream(1024)
		var tids []uint16
		for i := 0; i < len(b); i += chunk {
			if err := s.Write(b[i:min(i+chunk, len(b))]); err != nil {
				t.Fatalf("chunk %d: Write: %v", chunk, err)
			}
			got, errs := drain(s)
			if len(errs) != 0 {
				t.Fatalf("chunk %d: errors %v", chunk, errs)
			}
			tids = append(tids, got...)
		}
		if want := []uint16{1, 1, 2}; !equal(tids, want) || s.Buffered() != 0 || s.Frames() != 3 {
			t.Fatalf("chunk %d: tids %v buffered %d frames %d, want %v, 0, 3", chunk, tids, s.Buffered(), s.Frames(), want)
		}
	}
}

func TestStreamResync(t *testing.T) {
	tests := []struct {
		name        string
		hex         string
		wantTIDs    []uint16
		wantErrs    int
		wantDropped uint64
	}{
		{"garbage before a frame", "dead beef 0000 0000 0006 01 03 0000 0001", []uint16{0}, 1, 4},
		{"bad protocol id between frames", "0001 0000 0002 01 07" + "0009 0005 0002 01 07" + "0003 0000 0002 01 07", []uint16{1, 3}, 1, 8},
		{"bad length", "0001 0000 0100 01 07" + "0002 0000 0002 01 07", []uint16{2}, 1, 8},
		{"only garbage", "ffff ffff ffff ffff", nil, 1, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStream(0)
			if err := s.Write(hx(t, tt.hex)); err != nil {
				t.Fatal(err)
			}
			tids, errs := drain(s)
			if !equal(tids, tt.wantTIDs) || len(errs) != tt.wantErrs || s.Dropped() != tt.wantDropped {
				t.Fatalf("tids %v errs %v dropped %d; want %v, %d errors, %d dropped", tids, errs, s.Dropped(), tt.wantTIDs, tt.wantErrs, tt.wantDropped)
			}
			var de *DecodeError
			if !errors.As(errs[0], &de) {
				t.Errorf("error %v is not a *DecodeError", errs[0])
			}
		})
	}
}

func TestStreamCap(t *testing.T) {
	s := NewStream(10) // raised to MaxADULen
	if s.Free() != MaxADULen {
		t.Fatalf("Free = %d, want %d", s.Free(), MaxADULen)
	}
	if err := s.Write(make([]byte, MaxADULen+1)); !errors.Is(err, ErrStreamFull) {
		t.Fatalf("Write beyond cap = %v, want ErrStreamFull", err)
	}
	if s.Buffered() != 0 {
		t.Fatalf("a refused Write buffered %d bytes", s.Buffered())
	}
	b := hx(t, "0001 0000 0002 01 07")
	for range 100 { // compaction keeps the buffer bounded
		if err := s.Write(b); err != nil {
			t.Fatal(err)
		}
		var a ADU
		if ok, err := s.Next(&a); !ok || err != nil {
			t.Fatalf("Next = %v, %v", ok, err)
		}
	}
	if cap(s.buf) > MaxADULen*2 {
		t.Errorf("buffer grew to %d", cap(s.buf))
	}
	if err := s.Write(b[:3]); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	if s.Buffered() != 0 || s.Free() != MaxADULen {
		t.Errorf("after Reset buffered %d free %d", s.Buffered(), s.Free())
	}
}

func TestStreamDataAliases(t *testing.T) {
	s := NewStream(0)
	b := hx(t, "0001 0000 0006 01 03 006b 0003")
	if err := s.Write(b); err != nil {
		t.Fatal(err)
	}
	var a ADU
	if ok, err := s.Next(&a); !ok || err != nil {
		t.Fatalf("Next = %v, %v", ok, err)
	}
	if !bytes.Equal(a.PDU.Data, b[8:]) {
		t.Fatalf("data % x", a.PDU.Data)
	}
}

// equal compares two uint16 slices, nil equal to empty.
func equal(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
