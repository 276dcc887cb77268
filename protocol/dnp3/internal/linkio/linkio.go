// Package linkio moves DNP3 link frames over a net.Conn for the outstation
// and the master: a frame reader over the stream framer, and writers for
// application fragments and bare link frames.
package linkio

import (
	"net"
	"sync"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
)

// Frame is a link frame copied out of the reader's buffers.
type Frame struct {
	dnp3.LinkHeader
	UserData []byte
}

// Reader reads link frames from a connection. It is used by one goroutine.
type Reader struct {
	c       net.Conn
	f       *dnp3.Framer
	buf     []byte
	pending []byte
	err     error
	idle    time.Duration
	Dropped uint64 // frames or headers the framer dropped (bad CRC, garbage)
}

// NewReader returns a reader; idle > 0 sets a read deadline before each read.
func NewReader(c net.Conn, idle time.Duration) *Reader {
	return &Reader{c: c, f: dnp3.NewFramer(0), buf: make([]byte, 2048), idle: idle}
}

// Next blocks until a whole frame arrives and returns a copy of it. It
// returns the connection's error once the bytes read before it are used up.
func (r *Reader) Next() (Frame, error) {
	for {
		if len(r.pending) > 0 {
			n := r.f.Write(r.pending)
			r.pending = r.pending[n:]
		}
		fr, err := r.f.Next()
		if err != nil {
			r.Dropped++
			continue
		}
		if fr != nil {
			return Frame{LinkHeader: fr.LinkHeader, UserData: append([]byte(nil), fr.UserData...)}, nil
		}
		if len(r.pending) > 0 {
			continue
		}
		if r.err != nil {
			return Frame{}, r.err
		}
		if r.idle > 0 {
			r.c.SetReadDeadline(time.Now().Add(r.idle))
		}
		n, err := r.c.Read(r.buf)
		r.pending, r.err = r.buf[:n], err
	}
}

// Writer serialises writes of whole frames to a connection.
type Writer struct {
	mu      sync.Mutex
	c       net.Conn
	timeout time.Duration
	seq     uint8
	buf     []byte
}

// NewWriter returns a writer with a per-write deadline (0: none).
func NewWriter(c net.Conn, timeout time.Duration) *Writer {
	return &Writer{c: c, timeout: timeout}
}

// APDU sends an application fragment in transport segments and link frames
// with control ctl, from src to dest.
func (w *Writer) APDU(ctl dnp3.Control, dest, src uint16, apdu []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf, w.seq = dnp3.AppendAPDU(w.buf[:0], ctl, dest, src, w.seq, apdu)
	return w.write(w.buf)
}

// Link sends a link frame without user data.
func (w *Writer) Link(ctl dnp3.Control, dest, src uint16) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf, _ = dnp3.AppendFrame(w.buf[:0], ctl, dest, src, nil)
	return w.write(w.buf)
}

// Raw sends octets as they are.
func (w *Writer) Raw(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.write(b)
}

func (w *Writer) write(b []byte) error {
	if w.timeout > 0 {
		w.c.SetWriteDeadline(time.Now().Add(w.timeout))
	}
	_, err := w.c.Write(b)
	return err
}
