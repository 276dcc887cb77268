package sensor

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/otrange/otrange/protocol/modbus"
)

// flowKey names one direction of a TCP connection.
type flowKey struct{ src, dst netip.AddrPort }

// halfStream follows the bytes of one direction in sequence order.
type halfStream struct {
	next     uint32 // next expected sequence number
	synced   bool
	lastSeen time.Time
	stream   *modbus.Stream
}

// reset starts the stream over at seq.
func (h *halfStream) reset(seq uint32) {
	h.next, h.synced = seq, true
	h.stream.Reset()
}

// accept reports whether a segment of n bytes at seq continues the stream,
// and advances it. A stream picked up mid-way syncs on its first segment;
// a retransmission is ignored; a gap restarts framing at the new segment.
func (h *halfStream) accept(seq uint32, n int) bool {
	switch {
	case !h.synced:
		h.synced = true
	case seq == h.next:
	case int32(seq-h.next) < 0:
		return false // already seen
	default:
		h.stream.Reset() // gap: bytes were lost, frame again from here
	}
	h.next = seq + uint32(n)
	return true
}

// flowTable bounds the number of streams followed at once.
type flowTable struct {
	max, maxBytes int
	m             map[flowKey]*halfStream
	dropped       atomic.Uint64
	idle          time.Duration
}

func newFlowTable(max, maxBytes int) *flowTable {
	return &flowTable{max: max, maxBytes: maxBytes, m: make(map[flowKey]*halfStream), idle: 5 * time.Minute}
}

// get returns the half stream of src→dst, creating it if there is room;
// nil when the table is full even after expiring idle streams.
func (t *flowTable) get(src, dst netip.AddrPort, now time.Time) *halfStream {
	k := flowKey{src, dst}
	if h, ok := t.m[k]; ok {
		h.lastSeen = now
		return h
	}
	if len(t.m) >= t.max {
		t.expire(now)
		if len(t.m) >= t.max {
			t.dropped.Add(1)
			return nil
		}
	}
	h := &halfStream{lastSeen: now, stream: modbus.NewStream(t.maxBytes)}
	t.m[k] = h
	return h
}

// expire forgets streams idle for longer than t.idle.
func (t *flowTable) expire(now time.Time) {
	for k, h := range t.m {
		if now.Sub(h.lastSeen) > t.idle {
			delete(t.m, k)
		}
	}
}
