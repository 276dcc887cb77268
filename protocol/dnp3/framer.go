package dnp3

import "errors"

// DefaultFramerBuffer is the framer buffer size used when none is given.
const DefaultFramerBuffer = 4 * MaxFrameSize

// FramerStats counts what a Framer did with the bytes it was given.
type FramerStats struct {
	Frames       uint64 // good frames returned
	BadHeaders   uint64 // start octets found but header invalid (resync)
	BadCRC       uint64 // frames dropped for a bad data block CRC
	GarbageBytes uint64 // octets skipped while looking for a start
}

// Framer cuts link frames out of a byte stream (one direction of a TCP
// connection). Frames may arrive split across writes or several in one.
// The buffer is capped; bytes that cannot start a frame are skipped and
// counted, so the framer always resynchronises on the next 0x05 0x64.
type Framer struct {
	buf   []byte
	r, w  int
	frame Frame
	stats FramerStats
}

// NewFramer returns a framer with a buffer of capacity octets (at least
// MaxFrameSize; DefaultFramerBuffer if <= 0).
func NewFramer(capacity int) *Framer {
	if capacity <= 0 {
		capacity = DefaultFramerBuffer
	}
	return &Framer{buf: make([]byte, max(capacity, MaxFrameSize))}
}

// Stats returns the counters.
func (f *Framer) Stats() FramerStats { return f.stats }

// Reset drops buffered bytes.
func (f *Framer) Reset() { f.r, f.w = 0, 0 }

// Buffered returns how many octets wait for the rest of a frame.
func (f *Framer) Buffered() int { return f.w - f.r }

// Write appends as much of p as fits and returns how many octets it took.
// Call Next until it returns no frame and no error before writing again;
// the buffer then always has room for at least MaxFrameSize octets.
func (f *Framer) Write(p []byte) int {
	if f.r > 0 && len(p) > len(f.buf)-f.w {
		f.w = copy(f.buf, f.buf[f.r:f.w])
		f.r = 0
	}
	n := copy(f.buf[f.w:], p)
	f.w += n
	return n
}

// Next returns the next complete frame, valid until the next call. It
// returns (nil, nil) when more bytes are needed, and (nil, err) when it
// dropped something (a bad header or a bad CRC): call it again to go on.
func (f *Framer) Next() (*Frame, error) {
	b := f.buf[f.r:f.w]
	i := startIndex(b)
	f.stats.GarbageBytes += uint64(i)
	f.r += i
	b = b[i:]
	if len(b) < HeaderSize {
		return nil, nil
	}
	h, err := ParseLinkHeader(b)
	if err != nil {
		f.stats.BadHeaders++
		f.r++ // skip this start and look for the next
		return nil, err
	}
	size := FrameSize(h.Length)
	if len(b) < size {
		return nil, nil
	}
	f.r += size
	_, err = f.frame.Decode(b[:size])
	if f.r == f.w {
		f.Reset()
	}
	if err != nil {
		f.stats.BadCRC++
		return nil, err
	}
	f.stats.Frames++
	return &f.frame, nil
}

// startIndex returns the index of the first possible start (0x05 0x64, or a
// trailing 0x05) in b, or len(b).
func startIndex(b []byte) int {
	for i, c := range b {
		if c == 0x05 && (i+1 == len(b) || b[i+1] == 0x64) {
			return i
		}
	}
	return len(b)
}

// ErrTrailing reports octets after the last frame of a datagram.
var ErrTrailing = errors.New("trailing octets")

// DecodeDatagram decodes the link frames of one UDP datagram into f, calling
// fn for each. A datagram must hold whole frames only; the first bad frame
// or stray octet stops decoding with an error.
func DecodeDatagram(b []byte, f *Frame, fn func(*Frame) error) error {
	for off := 0; off < len(b); {
		if len(b)-off < HeaderSize {
			return decodeErr("link", "datagram", b, off, ErrTrailing)
		}
		n, err := f.Decode(b[off:])
		if err != nil {
			if de, ok := err.(*DecodeError); ok {
				de.Offset += off
			}
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
		off += n
	}
	return nil
}
