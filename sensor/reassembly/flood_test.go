package reassembly

import (
	"bytes"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// floodHandler follows one watched connection and only counts the others,
// so the test measures the reassembler's memory, not its own.
type floodHandler struct {
	watch        Key // client → server
	watched      *rstream
	opens, close int
	closedWatch  Reason
}

func (h *floodHandler) Open(c ConnInfo) (Stream, Stream) {
	h.opens++
	if c.Key == h.watch {
		h.watched = &rstream{t: nil, dir: ClientToServer}
		return h.watched, nil
	}
	return nil, nil
}

func (h *floodHandler) Close(c ConnInfo, r Reason) {
	h.close++
	if c.Key == h.watch {
		h.closedWatch = r
	}
}

// TestFlood sends 1,000,000 distinct flows (SYNs, mid-stream data, and
// out-of-order segments that must be buffered) through a reassembler bounded
// at 10,000 connections and 256 KiB of buffers, while one established
// connection keeps polling. The table and the memory stay under the bounds
// (by the reassembler's accounting and by the Go heap), the established
// connection survives with every byte in order, and a new connection after
// the flood is reassembled normally.
func TestFlood(t *testing.T) {
	const flows = 1_000_000
	opt := Options{MaxConns: 10_000, MaxBufferedBytes: 256 << 10, MaxStreamBytes: 64 << 10}
	bound := opt.MemoryBound()
	h := &floodHandler{}
	cli := netip.MustParseAddrPort("192.168.1.10:40000")
	srv := netip.MustParseAddrPort("192.168.1.20:502")
	h.watch = KeyFrom(cli, srv)
	r, err := New(opt, h)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)

	now := base
	add := func(k Key, seq uint32, fl Flags, payload []byte) {
		p := Packet{Key: k, Seq: seq, Flags: fl, Payload: payload, Time: now}
		r.Add(&p)
	}
	// The watched connection: handshake, then a 12-byte request every so often.
	add(h.watch, 100, SYN, nil)
	add(h.watch.Reverse(), 900, SYN|ACK, nil)
	seq := uint32(101)
	var sent bytes.Buffer
	poll := func() {
		req := []byte{0, byte(seq), 0, 0, 0, 6, 1, 3, 0, 0, 0, 10}
		add(h.watch, seq, ACK|PSH, req)
		add(h.watch.Reverse(), 901, ACK, nil)
		sent.Write(req)
		seq += uint32(len(req))
	}
	poll()

	data := make([]byte, 20)
	var ip [4]byte
	for i := range flows {
		now = now.Add(time.Microsecond)
		ip = [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
		k := KeyFromIPs(ip[:], srv.Addr().AsSlice(), uint16(1024+i%60000), 502)
		switch i % 4 {
		case 0, 1:
			add(k, uint32(i), SYN, nil)
		case 2:
			add(k, uint32(i), ACK|PSH, data)
		case 3:
			add(k, uint32(i), SYN, nil)
			add(k, uint32(i)+1000, ACK, data) // a hole before it: buffered
		}
		if i%1000 == 0 {
			poll()
		}
		if i%10_000 == 0 {
			s := r.Stats()
			if s.Conns > opt.MaxConns || s.MemoryBytes > bound || s.BufferedBytes > opt.MaxBufferedBytes {
				t.Fatalf("after %d flows: %d conns, %d bytes held (bound %d), %d buffered", i, s.Conns, s.MemoryBytes, bound, s.BufferedBytes)
			}
		}
	}
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	s := r.Stats()
	grew := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
	t.Logf("%d flows: %d conns, %d evicted, accounting %d B (bound %d B), heap grew %d B, %d global flushes",
		flows, s.Conns, s.ClosedEvicted, s.MemoryBytes, bound, grew, s.GlobalFlushes)
	if s.GlobalFlushes == 0 {
		t.Errorf("the flood never reached the buffer bound: %+v", s)
	}
	if s.ConnsOpened < flows || s.ClosedEvicted < flows-uint64(opt.MaxConns) {
		t.Errorf("opened %d, evicted %d", s.ConnsOpened, s.ClosedEvicted)
	}
	if grew > bound+1<<20 {
		t.Errorf("heap grew %d B, over the bound %d B (+1 MiB slack)", grew, bound)
	}

	// The established connection survived and got every byte, in order.
	if h.closedWatch != 0 || h.watched == nil {
		t.Fatalf("watched connection closed (%v)", h.closedWatch)
	}
	if got := h.watched.out.String(); got != sent.String() {
		t.Fatalf("watched connection: %d bytes delivered, %d sent", len(got), sent.Len())
	}

	// A new connection after the flood.
	k := KeyFrom(netip.MustParseAddrPort("192.168.1.11:41000"), srv)
	h.watch = k
	add(k, 7, SYN, nil)
	add(k.Reverse(), 70, SYN|ACK, nil)
	add(k, 8, ACK, []byte("after"))
	add(k, 16, ACK, []byte("flood"))
	add(k, 13, ACK, []byte("the"))
	if got := h.watched.out.String(); got != "aftertheflood" {
		t.Fatalf("new connection after the flood delivered %q", got)
	}
	r.CloseAll()
	if h.opens != h.close || r.Stats().MemoryBytes > bound {
		t.Fatalf("%d opened, %d closed, %d B held", h.opens, h.close, r.Stats().MemoryBytes)
	}
}
