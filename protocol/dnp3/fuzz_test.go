package dnp3

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// seedFrames are real frames from the shared captures plus frames we build.
func seedFrames(f *testing.F) [][]byte {
	var out [][]byte
	for _, h := range []string{hexSelect, hexSelectResp, hexColdRestart, hexWriteTime, hexDisableUnsol, hexUnsolNull,
		"056411c4ffff0300d0d0c1c1123c02060107063c04ed8763"} {
		b, err := hex.DecodeString(h)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return append(out, benchFrame())
}

func FuzzLinkFrame(f *testing.F) {
	for _, b := range seedFrames(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fr Frame
		n, err := fr.Decode(b)
		if err != nil {
			return
		}
		if n > len(b) || n > MaxFrameSize || len(fr.UserData) > MaxUserData {
			t.Fatalf("consumed %d of %d, user data %d", n, len(b), len(fr.UserData))
		}
		again, err := AppendFrame(nil, fr.Control, fr.Destination, fr.Source, fr.UserData)
		if err != nil || !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encode differs:\n%x\n%x", again, b[:n])
		}
	})
}

func FuzzReassembler(f *testing.F) {
	f.Add([]byte{3, 0xC0, 1, 2}, uint16(16))
	f.Add([]byte{2, 0x40, 1, 2, 0x81, 2, 3, 0x02, 9}, uint16(4))
	f.Fuzz(func(t *testing.T, b []byte, bound uint16) {
		r := NewReassembler(int(bound))
		limit := cap(r.buf)
		for len(b) > 0 { // each segment: one length octet then the segment
			n := min(int(b[0]), len(b)-1)
			frag, err := r.Push(b[1 : 1+n])
			if err == nil && len(frag) > limit {
				t.Fatalf("fragment %d over bound %d", len(frag), limit)
			}
			b = b[1+n:]
		}
	})
}

func FuzzFragment(f *testing.F) {
	for _, b := range seedFrames(f) {
		var fr Frame
		if _, err := fr.Decode(b); err == nil && len(fr.UserData) > 1 {
			f.Add(bytes.Clone(fr.UserData[1:]))
		}
	}
	f.Add([]byte{0xC0, 0x81, 0, 0, 0x78, 1, 0x5B, 2, 3, 0, 1, 2, 3, 1, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		frag, err := ParseFragment(b)
		if err != nil {
			return
		}
		it := frag.Iter()
		for it.Next() {
			h := it.Header()
			_ = h.String()
			for p := h.Points(); p.Next(); {
				switch h.Group {
				case 12:
					DecodeCROB(p.Value())
				case 41:
					DecodeAnalogOutput(h.Variation, p.Value())
				case 50, 51:
					DecodeTime(p.Value())
				case 52:
					DecodeDelay(h.Variation, p.Value())
				default:
					DecodeMeasurement(h.Group, h.Variation, p.Value(), p.Bits())
				}
			}
		}
		_ = frag.IIN.String()
	})
}

func FuzzFramer(f *testing.F) {
	var all []byte
	for _, b := range seedFrames(f) {
		f.Add(b, uint8(7))
		all = append(all, b...)
	}
	f.Add(all, uint8(1))
	f.Add(append([]byte{0x05, 0x64, 0x05, 0x05, 0x64}, all...), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		fr := NewFramer(MaxFrameSize)
		step := int(chunk) + 1
		for len(b) > 0 {
			n := fr.Write(b[:min(step, len(b))])
			b = b[n:]
			for {
				f, err := fr.Next()
				if f == nil && err == nil {
					break
				}
				if f != nil {
					enc, err := AppendFrame(nil, f.Control, f.Destination, f.Source, f.UserData)
					var again Frame
					if err != nil {
						t.Fatal(err)
					}
					if _, err := again.Decode(enc); err != nil {
						t.Fatalf("framer returned a frame that does not decode: %v", err)
					}
				}
			}
			if fr.Buffered() > MaxFrameSize {
				t.Fatalf("buffered %d", fr.Buffered())
			}
		}
	})
}

// FuzzDatagram decodes any UDP payload as link frames: no panic, and a
// datagram accepted whole is exactly its frames re-encoded one after
// another.
func FuzzDatagram(f *testing.F) {
	seeds := seedFrames(f)
	for i, b := range seeds {
		f.Add(b)
		f.Add(append(append([]byte(nil), b...), seeds[(i+1)%len(seeds)]...))
		f.Add(append(append([]byte(nil), b...), 0x05, 0x64))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fr Frame
		var again []byte
		err := DecodeDatagram(b, &fr, func(f *Frame) error {
			var err error
			again, err = AppendFrame(again, f.Control, f.Destination, f.Source, f.UserData)
			return err
		})
		if err != nil {
			if _, ok := err.(*DecodeError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("datagram re-encodes differently:\n%x\n%x", again, b)
		}
	})
}
