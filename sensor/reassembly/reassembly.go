package reassembly

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"time"
	"unsafe"
)

// Stats counts what a Reassembler did. Counters only grow; the fields after
// Conns are gauges of what it holds now.
type Stats struct {
	Packets uint64 // segments given to Add
	// Ignored counts packets that carried nothing to act on: a pure ACK, FIN
	// or RST for an unknown connection, a SYN-ACK contradicting the tracked
	// one, a FIN behind delivered data.
	Ignored uint64

	ConnsOpened   uint64
	ClosedFIN     uint64
	ClosedRST     uint64
	ClosedIdle    uint64
	ClosedEvicted uint64 // dropped at MaxConns
	ClosedReused  uint64
	ClosedAll     uint64 // by CloseAll

	AcceptedBytes  uint64 // new payload bytes taken in (delivered or buffered)
	DeliveredBytes uint64 // bytes handed to streams
	DiscardedBytes uint64 // accepted bytes later thrown away (buffered past a FIN)

	OutOfOrder      uint64 // segments buffered ahead of a hole
	Retransmits     uint64 // segments carrying only bytes already seen
	RetransmitBytes uint64
	Overlaps        uint64 // segments partly covering bytes already seen
	Conflicts       uint64 // segments whose bytes differ from the first copy: evasion signal

	Gaps          uint64 // holes skipped
	GapBytes      uint64 // bytes in those holes, never delivered
	GapTimeouts   uint64 // holes skipped because GapTimeout passed
	StreamFlushes uint64 // holes skipped because a stream's buffer was full
	GlobalFlushes uint64 // holes skipped because all buffers together were full
	AfterFIN      uint64 // segments with bytes past their direction's FIN
	AfterFINBytes uint64 // those bytes, dropped
	RSTIgnored    uint64 // RSTs far outside the sequence window, ignored

	Conns            int   // connections tracked now
	BufferedSegments int   // out-of-order segments held
	BufferedBytes    int64 // memory those segments hold (bounded by MaxBufferedBytes)
	BufferedPayload  int64 // payload bytes in them
	MemoryBytes      int64 // all memory held, by the reassembler's accounting (≤ Options.MemoryBound)
}

// seg is an out-of-order segment in a pooled buffer.
type seg struct {
	seq  uint32
	ts   int64
	data []byte
	next *seg
}

const segOverhead = int64(unsafe.Sizeof(seg{}))

func (s *seg) end() uint32   { return s.seq + uint32(len(s.data)) }
func (s *seg) mem() int64    { return int64(cap(s.data)) + segOverhead }
func seqLT(a, b uint32) bool { return int32(a-b) < 0 }
func seqLE(a, b uint32) bool { return int32(a-b) <= 0 }

// half flags
const (
	hSeen   = 1 << iota // a packet came from this side
	hSynced             // next is known
	hSYN                // synced by a SYN (isn valid)
	hMid                // picked up mid-way; the first chunk is not yet delivered
	hFIN                // FIN seen at finSeq
	hEnded              // End called
)

// half is one direction of a connection. The fields an in-order segment
// touches come first, to share cache lines.
type half struct {
	stream    Stream
	head      *seg   // out-of-order segments, by sequence, not overlapping, all after next
	lastHash  uint64 // of the last delivered chunk, to check retransmissions of it
	next      uint32 // next expected sequence number
	lastSeq   uint32
	lastLen   uint32
	gap       uint32 // bytes skipped, reported with the next chunk
	finSeq    uint32
	flags     uint8
	dir       Dir
	pending   bool
	nsegs     int32
	isn       uint32
	c         *conn
	pprev     *half
	pnext     *half
	pendSince int64 // when it started waiting on the pending list
	bufMem    int64
}

// conn lists
const (
	listNone = iota
	listProbation
	listEstablished
)

type conn struct {
	key        Key // canonical
	list       uint8
	client     uint8 // canonical side of the client
	handshake  bool
	idx        int32
	prev, next int32
	lastSeen   int64
	listTime   int64 // when last moved to its list's front
	start      int64
	h          [2]half // by canonical side
}

type lru struct{ head, tail int32 }

// Reassembler follows TCP connections and delivers their in-order bytes.
// Build it with New.
type Reassembler struct {
	opt   Options
	h     Handler
	log   *slog.Logger
	index map[Key]int32

	chunks     [][]conn
	chunkShift uint
	nslots     int32
	free       []int32
	lists      [3]lru // by list kind; [listNone] unused
	peakConns  int
	deletes    int // from the index since it was last rebuilt

	pendHead, pendTail *half

	pool      [numClasses]*seg
	freeBytes int64
	freeMax   int64
	bufMem    int64
	bufPay    int64
	nsegs     int

	seed uint64 // of fingerprints, random so they cannot be aimed at
	now  int64  // largest packet time seen, ns
	gran int64  // how stale a list position may get before a touch moves it
	cur  *conn  // connection Add is working on: not closed from under it
	last *conn  // connection of the previous packet: most packets need no lookup
	// deadline is a lower bound of the time anything may expire: until it,
	// expire has nothing to do.
	deadline int64

	st                    Stats
	warnedFull, warnedMem bool
}

// New returns a Reassembler that reports to h.
func New(opt Options, h Handler) (*Reassembler, error) {
	if err := opt.setDefaults(); err != nil {
		return nil, err
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reassembler{opt: opt, h: h, log: log, index: make(map[Key]int32), seed: rand.Uint64() | 1, freeMax: opt.freeMax()}
	for cl := opt.chunkLen(); cl > 1; cl >>= 1 {
		r.chunkShift++
	}
	for i := range r.lists {
		r.lists[i] = lru{-1, -1}
	}
	r.gran = min(int64(time.Second), int64(opt.IdleTimeout/64))
	return r, nil
}

// Stats returns the counters and current gauges.
func (r *Reassembler) Stats() Stats {
	s := r.st
	s.Conns = len(r.index)
	s.BufferedSegments = r.nsegs
	s.BufferedBytes = r.bufMem
	s.BufferedPayload = r.bufPay
	s.MemoryBytes = int64(len(r.chunks))<<r.chunkShift*int64(unsafe.Sizeof(conn{})) +
		int64(r.peakConns)*mapEntryBytes + r.bufMem + r.freeBytes
	return s
}

// Conns returns the number of connections tracked.
func (r *Reassembler) Conns() int { return len(r.index) }

func (r *Reassembler) slot(i int32) *conn {
	return &r.chunks[i>>r.chunkShift][i&(1<<r.chunkShift-1)]
}

// Add takes one TCP segment. Payload is read only during the call.
func (r *Reassembler) Add(p *Packet) {
	r.st.Packets++
	ts := p.Time.UnixNano()
	if ts > r.now {
		r.now = ts
	}
	r.expire()
	// Most packets belong to the connection of the one before (a burst, a
	// request and its response): no canonical key, no lookup.
	c, side := r.last, uint8(0)
	switch {
	case c == nil:
	case sameKey(&p.Key, &c.key):
	case reverseKey(&p.Key, &c.key):
		side = 1
	default:
		c = nil
	}
	var ck Key
	found := c != nil
	if !found {
		side = canon(&p.Key, &ck)
		if i, ok := r.index[ck]; ok {
			c, found = r.slot(i), true
		}
	}
	if found {
		r.last = c
		if p.Flags&(SYN|ACK) == SYN {
			if h := &c.h[side]; h.flags&hSynced != 0 && (h.flags&hSYN == 0 || h.isn != p.Seq) {
				ck = c.key
				r.closeConn(c, ReasonReused)
				c = r.open(ck, side, p)
				r.last = c
			}
		}
	} else {
		if p.Flags&RST != 0 || (len(p.Payload) == 0 && p.Flags&SYN == 0) {
			r.st.Ignored++
			return
		}
		c = r.open(ck, side, p)
		r.last = c
	}
	r.cur = c
	r.touch(c)
	closed := r.segment(c, side, p, ts)
	r.cur = nil
	if !closed && r.allEnded(c) {
		r.closeConn(c, ReasonFIN)
	}
}

// segment applies one packet to its connection; true when it closed it.
func (r *Reassembler) segment(c *conn, side uint8, p *Packet, ts int64) bool {
	h := &c.h[side]
	h.flags |= hSeen
	if c.list == listProbation && c.h[1-side].flags&hSeen != 0 {
		r.unlink(c)
		r.pushFront(c, listEstablished)
	}
	if p.Flags&RST != 0 {
		if h.flags&hSynced != 0 {
			if d := int32(p.Seq - h.next); d < -(1<<16) || d > 1<<24 {
				r.st.RSTIgnored++
				return false
			}
		}
		r.closeConn(c, ReasonRST)
		return true
	}
	seq := p.Seq
	if p.Flags&SYN != 0 {
		switch {
		case h.flags&hSynced == 0:
			h.isn, h.next = p.Seq, p.Seq+1
			h.flags |= hSynced | hSYN
		case h.flags&hSYN != 0 && h.isn == p.Seq: // retransmitted SYN
		default: // a SYN-ACK that contradicts what is tracked
			r.st.Ignored++
			return false
		}
		seq++
	}
	if len(p.Payload) > 0 {
		r.data(h, seq, p.Payload, p.Time, ts)
	}
	if p.Flags&FIN != 0 {
		r.fin(h, seq+uint32(len(p.Payload)))
	}
	return false
}

// data takes the payload of one segment of h starting at seq.
func (r *Reassembler) data(h *half, seq uint32, b []byte, t time.Time, ts int64) {
	if h.flags&hSynced == 0 {
		h.flags |= hSynced | hMid
		h.next = seq
	}
	if h.flags&hFIN != 0 {
		if d := int32(h.finSeq - seq); d < int32(len(b)) {
			keep := max(d, 0)
			r.st.AfterFIN++
			r.st.AfterFINBytes += uint64(len(b) - int(keep))
			b = b[:keep]
		}
	}
	if h.flags&hEnded != 0 || len(b) == 0 {
		if len(b) > 0 {
			r.st.Retransmits++
			r.st.RetransmitBytes += uint64(len(b))
		}
		return
	}
	// The fast path: the next bytes, nothing waiting.
	if seq == h.next && h.head == nil {
		r.st.AcceptedBytes += uint64(len(b))
		r.deliver(h, b, seq, t)
		h.next = seq + uint32(len(b))
		r.advanced(h)
		return
	}
	trimmed := false
	for {
		d := int32(seq - h.next)
		if d < 0 {
			over := uint32(-d)
			if over >= uint32(len(b)) {
				r.retransmit(h, seq, b)
				return
			}
			if !trimmed {
				r.st.Overlaps++
				trimmed = true
			}
			b, seq, d = b[over:], h.next, 0
		}
		if d == 0 && (h.head == nil || h.head.seq != seq) {
			n := len(b)
			if h.head != nil && int32(h.head.seq-seq) < int32(n) {
				n = int(h.head.seq - seq)
			}
			r.st.AcceptedBytes += uint64(n)
			r.deliver(h, b[:n], seq, t)
			h.next = seq + uint32(n)
			if n == len(b) {
				r.drain(h)
				return
			}
			b, seq = b[n:], h.next
			continue // the rest overlaps what is buffered: compare, then drain
		}
		if r.store(h, seq, b, ts) {
			r.drain(h)
			return
		}
		// Room was made by moving h on: look at the segment again.
	}
}

// retransmit counts a segment whose bytes were all delivered already.
func (r *Reassembler) retransmit(h *half, seq uint32, b []byte) {
	r.st.Retransmits++
	r.st.RetransmitBytes += uint64(len(b))
	if seq == h.lastSeq && uint32(len(b)) == h.lastLen && r.fingerprint(b) != h.lastHash {
		r.st.Conflicts++
	}
}

// fingerprint sums up a delivered chunk so that a retransmission of it can
// be checked: all of a chunk up to 64 bytes (a Modbus or DNP3 poll), else
// its length and first and last 32 bytes. Hashing every byte of large
// chunks would cost more than the rest of the reassembly.
func (r *Reassembler) fingerprint(b []byte) uint64 {
	h := r.seed ^ uint64(len(b))*0x9e3779b97f4a7c15
	if len(b) <= 64 {
		return mix(h, b)
	}
	return mix(mix(h, b[:32]), b[len(b)-32:])
}

func mix(h uint64, b []byte) uint64 {
	const prime = 0xff51afd7ed558ccd
	for ; len(b) >= 8; b = b[8:] {
		h = (h ^ binary.LittleEndian.Uint64(b)) * prime
		h ^= h >> 31
	}
	for _, c := range b {
		h = (h ^ uint64(c)) * prime
	}
	return h ^ h>>29
}

// deliver hands in-order bytes to the stream.
func (r *Reassembler) deliver(h *half, b []byte, seq uint32, t time.Time) {
	if len(b) == 0 {
		return
	}
	m := Meta{Dir: h.dir, Seq: seq, Gap: h.gap, Midstream: h.flags&hMid != 0, Time: t}
	h.gap = 0
	h.flags &^= hMid
	h.lastSeq, h.lastLen, h.lastHash = seq, uint32(len(b)), r.fingerprint(b)
	r.st.DeliveredBytes += uint64(len(b))
	if h.stream != nil {
		h.stream.Data(b, m)
	}
}

// advanced is called after next moved: end at the FIN, keep the pending
// list right.
func (r *Reassembler) advanced(h *half) {
	if h.flags&hFIN != 0 && h.next == h.finSeq {
		r.endHalf(h, ReasonFIN)
		return
	}
	if h.pending {
		r.repend(h, true)
	}
}

// drain delivers the buffered segments that have become in order.
func (r *Reassembler) drain(h *half) {
	moved := false
	for s := h.head; s != nil && seqLE(s.seq, h.next); s = h.head {
		h.head = s.next
		if end := s.end(); seqLT(h.next, end) {
			off := h.next - s.seq
			r.st.DiscardedBytes += uint64(off) // never happens: buffered data is always after next
			r.deliver(h, s.data[off:], h.next, time.Unix(0, s.ts))
			h.next = end
			moved = true
		} else {
			r.st.DiscardedBytes += uint64(len(s.data))
		}
		r.release(h, s)
	}
	if moved {
		r.advanced(h)
	} else if h.pending {
		r.repend(h, false)
	}
}

// store buffers the parts of an out-of-order segment not already buffered.
// It returns false, without storing, when it had to make room by moving h
// or another stream past a hole; the caller then looks at the segment again.
func (r *Reassembler) store(h *half, seq uint32, b []byte, ts int64) bool {
	need, k, _, _ := r.walk(h, seq, b, ts, true)
	if k == 0 { // every byte is buffered already
		_, _, _, conflict := r.walk(h, seq, b, ts, false)
		r.st.Retransmits++
		r.st.RetransmitBytes += uint64(len(b))
		if conflict {
			r.st.Conflicts++
		}
		return true
	}
	if h.bufMem+need > int64(r.opt.MaxStreamBytes) || int(h.nsegs)+k > r.opt.MaxStreamSegments {
		r.st.StreamFlushes++
		r.moveOn(h, seq)
		return false
	}
	if r.bufMem+need > r.opt.MaxBufferedBytes || r.nsegs+k > r.opt.MaxBufferedSegments {
		if !r.warnedMem {
			r.warnedMem = true
			r.log.Warn("reassembly: out-of-order buffers full; skipping holes of the oldest waiting streams",
				"max_bytes", r.opt.MaxBufferedBytes, "max_segments", r.opt.MaxBufferedSegments)
		}
		r.st.GlobalFlushes++
		v := r.pendHead
		if v == nil || v == h {
			r.moveOn(h, seq)
			return false
		}
		r.flushOne(v)
		if v.c != r.cur && r.allEnded(v.c) {
			r.closeConn(v.c, ReasonFIN)
		}
		return false
	}
	if seq != h.next {
		r.st.OutOfOrder++
	}
	_, _, overlap, conflict := r.walk(h, seq, b, ts, false)
	if overlap {
		r.st.Overlaps++
	}
	if conflict {
		r.st.Conflicts++
	}
	r.repend(h, false)
	return true
}

// walk goes over the buffered segments of h against [seq, seq+len(b)). Dry,
// it returns the memory and the number of segments the uncovered parts need;
// otherwise it buffers those parts, and reports whether the segment
// overlapped buffered data and whether the overlapping bytes differed.
func (r *Reassembler) walk(h *half, seq uint32, b []byte, ts int64, dry bool) (need int64, k int, overlap, conflict bool) {
	end := seq + uint32(len(b))
	var prev *seg
	cur := h.head
	for cur != nil && seqLE(cur.end(), seq) {
		prev, cur = cur, cur.next
	}
	piece := func(from, to uint32) {
		k++
		n := int(to - from)
		need += memFor(n)
		if !dry {
			prev = r.link(h, prev, from, b[from-seq:to-seq], ts)
		}
	}
	for s := seq; seqLT(s, end); {
		if cur == nil || seqLE(end, cur.seq) {
			piece(s, end)
			break
		}
		if seqLT(s, cur.seq) {
			piece(s, cur.seq)
			s = cur.seq
		}
		oe := cur.end()
		if seqLT(end, oe) {
			oe = end
		}
		overlap = true
		if !dry && !bytes.Equal(b[s-seq:oe-seq], cur.data[s-cur.seq:oe-cur.seq]) {
			conflict = true
		}
		s = oe
		prev, cur = cur, cur.next
	}
	return
}

// link buffers a copy of data at seq after prev (at the head when nil).
func (r *Reassembler) link(h *half, prev *seg, seq uint32, data []byte, ts int64) *seg {
	s := r.getSeg(len(data))
	copy(s.data, data)
	s.seq, s.ts = seq, ts
	if prev == nil {
		s.next, h.head = h.head, s
	} else {
		s.next, prev.next = prev.next, s
	}
	m := s.mem()
	h.nsegs++
	h.bufMem += m
	r.nsegs++
	r.bufMem += m
	r.bufPay += int64(len(data))
	r.st.AcceptedBytes += uint64(len(data))
	return s
}

// release takes s (already unlinked) off h's accounting and pools it.
func (r *Reassembler) release(h *half, s *seg) {
	m := s.mem()
	h.nsegs--
	h.bufMem -= m
	r.nsegs--
	r.bufMem -= m
	r.bufPay -= int64(len(s.data))
	r.putSeg(s)
}

// moveOn makes room in h for a segment at seq by giving up on its first hole:
// the earlier of seq and the first buffered segment becomes next.
func (r *Reassembler) moveOn(h *half, seq uint32) {
	if h.head == nil || seqLT(seq, h.head.seq) {
		r.skipTo(h, seq)
		return
	}
	r.flushOne(h)
}

// skipTo gives up on the bytes before seq.
func (r *Reassembler) skipTo(h *half, seq uint32) {
	if gap := seq - h.next; int32(gap) > 0 {
		r.st.Gaps++
		r.st.GapBytes += uint64(gap)
		h.gap += gap
		h.next = seq
	}
}

// flushOne skips h's first hole and delivers what follows it.
func (r *Reassembler) flushOne(h *half) {
	switch {
	case h.head != nil:
		r.skipTo(h, h.head.seq)
		r.drain(h)
	case h.flags&hFIN != 0 && h.flags&hEnded == 0:
		r.skipTo(h, h.finSeq)
		r.advanced(h)
	default:
		r.repend(h, false)
	}
}

// flushAll delivers everything h holds, skipping holes.
func (r *Reassembler) flushAll(h *half) {
	for h.pending {
		r.flushOne(h)
	}
}

// fin notes a FIN of h at finSeq (the sequence number it occupies).
func (r *Reassembler) fin(h *half, finSeq uint32) {
	if h.flags&hEnded != 0 {
		return
	}
	if h.flags&hSynced == 0 {
		h.flags |= hSynced
		h.next = finSeq
	}
	if h.flags&hFIN != 0 {
		return
	}
	if seqLT(finSeq, h.next) {
		r.st.Ignored++
		return
	}
	h.flags |= hFIN
	h.finSeq = finSeq
	// Buffered bytes past the FIN are not part of the stream.
	var prev *seg
	for s := h.head; s != nil; {
		nx := s.next
		switch {
		case seqLE(s.end(), finSeq):
			prev = s
		case seqLT(s.seq, finSeq):
			cut := s.end() - finSeq
			r.st.AfterFIN++
			r.st.AfterFINBytes += uint64(cut)
			r.st.DiscardedBytes += uint64(cut)
			r.bufPay -= int64(cut)
			s.data = s.data[:finSeq-s.seq]
			prev = s
		default:
			r.st.AfterFIN++
			r.st.AfterFINBytes += uint64(len(s.data))
			r.st.DiscardedBytes += uint64(len(s.data))
			if prev == nil {
				h.head = nx
			} else {
				prev.next = nx
			}
			r.release(h, s)
		}
		s = nx
	}
	if h.next == finSeq {
		r.endHalf(h, ReasonFIN)
		return
	}
	r.repend(h, false)
}

// endHalf ends one direction.
func (r *Reassembler) endHalf(h *half, why Reason) {
	if h.flags&hEnded != 0 {
		return
	}
	h.flags |= hEnded
	for s := h.head; s != nil; s = h.head {
		h.head = s.next
		r.st.DiscardedBytes += uint64(len(s.data))
		r.release(h, s)
	}
	if h.pending {
		r.unpend(h)
	}
	if h.stream != nil {
		h.stream.End(why)
	}
}

// allEnded reports whether every direction that carried anything has ended.
func (r *Reassembler) allEnded(c *conn) bool {
	ended := false
	for i := range c.h {
		h := &c.h[i]
		if h.flags&hEnded != 0 {
			ended = true
		} else if h.flags&hSynced != 0 {
			return false
		}
	}
	return ended
}

// repend puts h on the pending list (streams waiting on a hole, oldest
// first) or takes it off. requeue restarts its wait: a hole was filled.
func (r *Reassembler) repend(h *half, requeue bool) {
	want := h.flags&hEnded == 0 && (h.head != nil || (h.flags&hFIN != 0 && h.next != h.finSeq))
	if !want {
		if h.pending {
			r.unpend(h)
		}
		return
	}
	if h.pending {
		if !requeue {
			return
		}
		r.unpend(h)
	}
	h.pending = true
	h.pendSince = r.now
	r.deadline = min(r.deadline, r.now+int64(r.opt.GapTimeout))
	h.pprev, h.pnext = r.pendTail, nil
	if r.pendTail == nil {
		r.pendHead = h
	} else {
		r.pendTail.pnext = h
	}
	r.pendTail = h
}

func (r *Reassembler) unpend(h *half) {
	if h.pprev == nil {
		r.pendHead = h.pnext
	} else {
		h.pprev.pnext = h.pnext
	}
	if h.pnext == nil {
		r.pendTail = h.pprev
	} else {
		h.pnext.pprev = h.pprev
	}
	h.pprev, h.pnext, h.pending = nil, nil, false
}

// Advance moves capture time on to t without a packet (a quiet live link):
// idle connections expire and overdue holes are skipped.
func (r *Reassembler) Advance(t time.Time) {
	if ts := t.UnixNano(); ts > r.now {
		r.now = ts
	}
	r.expire()
}

// expire closes idle connections and skips holes waited on for too long.
func (r *Reassembler) expire() {
	if r.now <= r.deadline {
		return
	}
	idle := int64(r.opt.IdleTimeout)
	for _, l := range [2]uint8{listProbation, listEstablished} {
		for i := r.lists[l].tail; i >= 0; i = r.lists[l].tail {
			c := r.slot(i)
			if r.now-c.lastSeen <= idle {
				break
			}
			r.closeConn(c, ReasonIdle)
		}
	}
	gt := int64(r.opt.GapTimeout)
	for h := r.pendHead; h != nil && r.now-h.pendSince > gt; h = r.pendHead {
		r.st.GapTimeouts++
		r.flushAll(h)
		if r.allEnded(h.c) {
			r.closeConn(h.c, ReasonFIN)
		}
	}
	// Nothing can expire before the oldest list position (every connection's
	// last packet is at or after it) or the oldest wait ends.
	r.deadline = r.now + min(idle, gt)
	for _, l := range [2]uint8{listProbation, listEstablished} {
		if i := r.lists[l].tail; i >= 0 {
			r.deadline = min(r.deadline, r.slot(i).listTime+idle)
		}
	}
	if r.pendHead != nil {
		r.deadline = min(r.deadline, r.pendHead.pendSince+gt)
	}
}

// CloseAll ends every connection (ReasonShutdown), delivering what is
// buffered first: call it at the end of a capture.
func (r *Reassembler) CloseAll() {
	for _, l := range [2]uint8{listProbation, listEstablished} {
		for i := r.lists[l].tail; i >= 0; i = r.lists[l].tail {
			r.closeConn(r.slot(i), ReasonShutdown)
		}
	}
}

func (c *conn) info() ConnInfo {
	k := c.key
	if c.client == 1 {
		k = k.Reverse()
	}
	return ConnInfo{Key: k, Handshake: c.handshake, Start: time.Unix(0, c.start), Last: time.Unix(0, c.lastSeen),
		Answered: c.h[1-c.client].flags&hSynced != 0}
}

// open starts tracking a connection whose first packet is p, from side.
func (r *Reassembler) open(ck Key, side uint8, p *Packet) *conn {
	if len(r.index) >= r.opt.MaxConns {
		if !r.warnedFull {
			r.warnedFull = true
			r.log.Warn("reassembly: connection table full; evicting the least recently used", "max_conns", r.opt.MaxConns)
		}
		l := uint8(listProbation)
		if r.lists[l].tail < 0 {
			l = listEstablished
		}
		r.closeConn(r.slot(r.lists[l].tail), ReasonEvicted)
	}
	var i int32
	if n := len(r.free); n > 0 {
		i = r.free[n-1]
		r.free = r.free[:n-1]
	} else {
		i = r.nslots
		r.nslots++
		if int(i>>r.chunkShift) == len(r.chunks) {
			r.chunks = append(r.chunks, make([]conn, 1<<r.chunkShift))
		}
	}
	c := r.slot(i)
	*c = conn{key: ck, idx: i, start: p.Time.UnixNano()}
	switch p.Flags & (SYN | ACK) {
	case SYN:
		c.client, c.handshake = side, true
	case SYN | ACK:
		c.client, c.handshake = 1-side, true
	default:
		c.client = side
		if p.Key.SrcPort < p.Key.DstPort {
			c.client = 1 - side
		}
	}
	for s := range c.h {
		c.h[s].c = c
		c.h[s].dir = ServerToClient
	}
	c.h[c.client].dir = ClientToServer
	r.index[ck] = i
	r.peakConns = max(r.peakConns, len(r.index))
	c.lastSeen = r.now
	r.pushFront(c, listProbation)
	r.deadline = min(r.deadline, r.now+int64(r.opt.IdleTimeout))
	r.st.ConnsOpened++
	c.h[c.client].stream, c.h[1-c.client].stream = r.h.Open(c.info())
	return c
}

// closeConn ends both directions, tells the handler and frees the slot.
func (r *Reassembler) closeConn(c *conn, why Reason) {
	for _, s := range [2]uint8{c.client, 1 - c.client} {
		h := &c.h[s]
		if h.flags&hEnded == 0 {
			r.flushAll(h)
			r.endHalf(h, why)
		}
	}
	switch why {
	case ReasonFIN:
		r.st.ClosedFIN++
	case ReasonRST:
		r.st.ClosedRST++
	case ReasonIdle:
		r.st.ClosedIdle++
	case ReasonEvicted:
		r.st.ClosedEvicted++
	case ReasonReused:
		r.st.ClosedReused++
	case ReasonShutdown:
		r.st.ClosedAll++
	}
	r.h.Close(c.info(), why)
	if r.last == c {
		r.last = nil
	}
	r.unlink(c)
	delete(r.index, c.key)
	r.compactIndex()
	r.free = append(r.free, c.idx)
	*c = conn{idx: -1}
}

// compactIndex rebuilds the connection index after many deletions: a Go
// map never shrinks, and under churn (a flood of short flows) its tables
// keep growing well past what the live entries need.
func (r *Reassembler) compactIndex() {
	r.deletes++
	if r.deletes < 2*r.opt.MaxConns+1024 {
		return
	}
	r.deletes = 0
	m := make(map[Key]int32, len(r.index))
	for k, v := range r.index {
		m[k] = v
	}
	r.index = m
}

// touch records activity on c, moving it to the front of its list at most
// once per r.gran so a busy connection costs no list work per packet.
// Expiry and eviction are thereby late by at most r.gran, never early.
func (r *Reassembler) touch(c *conn) {
	c.lastSeen = r.now
	if r.now-c.listTime >= r.gran && r.lists[c.list].head != c.idx {
		l := c.list
		r.unlink(c)
		r.pushFront(c, l)
	}
}

func (r *Reassembler) pushFront(c *conn, l uint8) {
	c.list, c.listTime = l, r.now
	c.prev, c.next = -1, r.lists[l].head
	if c.next >= 0 {
		r.slot(c.next).prev = c.idx
	} else {
		r.lists[l].tail = c.idx
	}
	r.lists[l].head = c.idx
}

func (r *Reassembler) unlink(c *conn) {
	l := &r.lists[c.list]
	if c.prev >= 0 {
		r.slot(c.prev).next = c.next
	} else {
		l.head = c.next
	}
	if c.next >= 0 {
		r.slot(c.next).prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next, c.list = -1, -1, listNone
}
