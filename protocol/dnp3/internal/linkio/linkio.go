// Package linkio moves DNP3 link frames over a connection for the
// outstation and the master: a frame reader over the stream framer (TCP) or
// over whole datagrams (UDP), and writers for application fragments and
// bare link frames.
//
// Writes are synchronous: a write returns once the kernel has taken every
// octet (or failed), so a caller that writes a response and then calls
// CloseWrite knows the FIN goes out after the response.
package linkio

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
)

// MaxDatagram is the largest UDP datagram a packet reader accepts.
const MaxDatagram = 65535

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
	packet  bool
	Dropped uint64 // frames or headers the framer dropped (bad CRC, garbage, partial frames in a datagram)
	Refused uint64 // datagrams refused by the peer (ICMP port unreachable), which a packet reader survives
}

// NewReader returns a reader of a byte stream; idle > 0 sets a read
// deadline before each read.
func NewReader(c net.Conn, idle time.Duration) *Reader {
	return &Reader{c: c, f: dnp3.NewFramer(0), buf: make([]byte, 2048), idle: idle}
}

// NewPacketReader returns a reader of a connected datagram socket: each
// datagram holds whole frames, and a partial frame at its end is dropped
// rather than joined to the next datagram.
func NewPacketReader(c net.Conn, idle time.Duration) *Reader {
	return &Reader{c: c, f: dnp3.NewFramer(0), buf: make([]byte, MaxDatagram), idle: idle, packet: true}
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
		if r.packet && r.f.Buffered() > 0 { // the datagram ended inside a frame
			r.Dropped++
			r.f.Reset()
		}
		if r.err != nil {
			return Frame{}, r.err
		}
		if r.idle > 0 {
			r.c.SetReadDeadline(time.Now().Add(r.idle))
		}
		n, err := r.c.Read(r.buf)
		if r.packet && errors.Is(err, syscall.ECONNREFUSED) {
			// nobody listened when a datagram arrived (a device restarting):
			// the socket still works, and the device may come back
			r.Refused++
			err = nil
		}
		r.pending, r.err = r.buf[:n], err
	}
}

// Writer serialises writes of whole frames to a connection. An application
// fragment goes out in one write: on a datagram socket, one datagram.
type Writer struct {
	mu      sync.Mutex
	out     func([]byte) error
	closeW  func() error
	timeout time.Duration
	seq     uint8
	buf     []byte
	closed  bool
}

// ErrWriteClosed is returned by writes after CloseWrite.
var ErrWriteClosed = errors.New("linkio: write side closed")

// NewWriter returns a writer with a per-write deadline (0: none).
func NewWriter(c net.Conn, timeout time.Duration) *Writer {
	w := &Writer{timeout: timeout}
	w.out = func(b []byte) error {
		if w.timeout > 0 {
			c.SetWriteDeadline(time.Now().Add(w.timeout))
		}
		_, err := c.Write(b)
		return err
	}
	w.closeW = func() error {
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			return cw.CloseWrite()
		}
		return nil
	}
	return w
}

// NewPacketWriter returns a writer that sends each write as one datagram
// to addr through pc (shared with other writers: no deadline is set).
func NewPacketWriter(pc net.PacketConn, addr net.Addr) *Writer {
	return &Writer{
		out: func(b []byte) error {
			_, err := pc.WriteTo(b, addr)
			return err
		},
		closeW: func() error { return nil },
	}
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

// CloseWrite waits for any write under way to finish, refuses later ones,
// and half-closes a stream connection: the peer reads everything written
// so far, then end of stream. It is a no-op on datagram writers.
func (w *Writer) CloseWrite() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	return w.closeW()
}

func (w *Writer) write(b []byte) error {
	if w.closed {
		return ErrWriteClosed
	}
	return w.out(b)
}
