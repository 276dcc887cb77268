package modbus

import (
	"errors"
	"fmt"
)

// ErrStreamFull is returned by Stream.Write when the bytes would exceed the
// stream's cap; nothing of them is buffered.
var ErrStreamFull = errors.New("modbus: stream buffer full")

// Stream frames ADUs from the bytes of one direction of a TCP connection. The
// bytes may arrive in any split: an ADU across several writes, several ADUs in
// one write. It buffers at most maxBuffered bytes. On garbage Next reports a
// *DecodeError once and resynchronises by dropping bytes up to the next
// position that could start an MBAP header; Dropped counts them.
//
// A Stream is not safe for concurrent use.
type Stream struct {
	buf     []byte
	start   int // first unread byte of buf
	max     int
	dropped uint64
	frames  uint64
}

// NewStream returns a Stream that buffers at most maxBuffered bytes; values
// below MaxADULen are raised to it so that any valid ADU fits.
func NewStream(maxBuffered int) *Stream {
	return &Stream{max: max(maxBuffered, MaxADULen)}
}

// Buffered returns the number of bytes waiting to be framed.
func (s *Stream) Buffered() int { return len(s.buf) - s.start }

// Free returns how many bytes Write accepts now.
func (s *Stream) Free() int { return s.max - s.Buffered() }

// Dropped returns the number of bytes discarded while resynchronising.
func (s *Stream) Dropped() uint64 { return s.dropped }

// Frames returns the number of ADUs framed so far.
func (s *Stream) Frames() uint64 { return s.frames }

// Write buffers p. It returns ErrStreamFull, and buffers nothing, when p does
// not fit in the remaining space: drain the stream with Next first, or feed p
// in pieces of at most Free bytes. Write invalidates the Data of ADUs
// returned by earlier calls to Next.
func (s *Stream) Write(p []byte) error {
	if len(p) > s.Free() {
		return fmt.Errorf("%w: %d bytes buffered, %d more would exceed %d", ErrStreamFull, s.Buffered(), len(p), s.max)
	}
	if s.start > 0 {
		n := copy(s.buf, s.buf[s.start:])
		s.buf = s.buf[:n]
		s.start = 0
	}
	s.buf = append(s.buf, p...)
	return nil
}

// Next decodes the next whole ADU into a. It returns false and a nil error
// when more bytes are needed. On garbage it returns false and a *DecodeError
// after dropping bytes; call Next again to continue with what follows.
// a.PDU.Data aliases the stream's buffer until the next Write or Reset.
func (s *Stream) Next(a *ADU) (bool, error) {
	b := s.buf[s.start:]
	n, err := DecodeADU(b, a)
	switch {
	case err == nil:
		s.start += n
		s.frames++
		return true, nil
	case err == ErrIncomplete:
		return false, nil
	}
	skip := resyncOffset(b)
	s.start += skip
	s.dropped += uint64(skip)
	return false, err
}

// resyncOffset returns how many bytes of b to drop after a decode error: up to
// the next offset (at least 1) whose bytes could begin a valid MBAP header.
func resyncOffset(b []byte) int {
	for i := 1; i < len(b); i++ {
		if badMBAPByte(b[i:]) < 0 {
			return i
		}
	}
	return len(b)
}

// Reset discards the buffered bytes, keeping the buffer for reuse, e.g. when
// the sensor sees a gap in the TCP stream.
func (s *Stream) Reset() {
	s.buf = s.buf[:0]
	s.start = 0
}
