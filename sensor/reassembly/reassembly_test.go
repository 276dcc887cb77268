package reassembly

import (
	"net/netip"
	"testing"
	"time"
)

var (
	clientAddr = netip.MustParseAddr("10.0.0.1")
	serverAddr = netip.MustParseAddr("10.0.0.2")
	base       = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
)

const (
	cISN = 1000 // client's initial sequence number in the cases
	sISN = 5000 // server's
)

// wrap is an ISN just below 2^32 (a variable, so sums wrap).
var wrap uint32 = 0xfffffff0

// tseg is one TCP segment of a test case.
type tseg struct {
	conn  int  // client port 40000+conn
	srv   bool // sent by the server
	seq   uint32
	flags Flags
	data  string
	at    time.Duration // capture time after base
}

func (s tseg) endpoints() (src, dst netip.AddrPort) {
	c := netip.AddrPortFrom(clientAddr, uint16(40000+s.conn))
	v := netip.AddrPortFrom(serverAddr, 502)
	if s.srv {
		return v, c
	}
	return c, v
}

// handshake returns a three-way handshake for conn.
func handshake(conn int, at time.Duration) []tseg {
	return []tseg{
		{conn: conn, seq: cISN, flags: SYN, at: at},
		{conn: conn, srv: true, seq: sISN, flags: SYN | ACK, at: at},
		{conn: conn, seq: cISN + 1, flags: ACK, at: at},
	}
}

func cat(parts ...[]tseg) []tseg {
	var out []tseg
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// wantConn is what one connection (in order of opening) must have delivered.
type wantConn struct {
	toServer, toClient string
	closed             Reason // ReasonShutdown: still open at the end of the case
	midstream          bool   // no handshake seen
}

// run feeds segs, as real frames, to a Reassembler, then closes everything.
func run(t *testing.T, opt Options, segs []tseg) (*recorder, Stats, Stats) {
	t.Helper()
	rec := &recorder{t: t}
	r, err := New(opt, rec)
	if err != nil {
		t.Fatal(err)
	}
	d := newFrameDecoder()
	var p Packet
	for i, s := range segs {
		src, dst := s.endpoints()
		f := frame(t, src, dst, s.seq, s.flags, []byte(s.data))
		if !d.decode(f, base.Add(s.at), &p) {
			t.Fatalf("segment %d: frame did not decode", i)
		}
		r.Add(&p)
		checkInvariants(t, r, opt)
	}
	before := r.Stats()
	r.CloseAll()
	after := r.Stats()
	if after.Conns != 0 || after.BufferedSegments != 0 || after.BufferedBytes != 0 || rec.open != 0 {
		t.Errorf("after CloseAll: %d conns, %d segments, %d bytes buffered, %d open in handler",
			after.Conns, after.BufferedSegments, after.BufferedBytes, rec.open)
	}
	checkInvariants(t, r, opt)
	return rec, before, after
}

// checkInvariants holds after every call.
func checkInvariants(t testing.TB, r *Reassembler, opt Options) {
	t.Helper()
	if err := opt.setDefaults(); err != nil {
		t.Fatal(err)
	}
	s := r.Stats()
	if s.AcceptedBytes != s.DeliveredBytes+uint64(s.BufferedPayload)+s.DiscardedBytes {
		t.Fatalf("accepted %d != delivered %d + buffered %d + discarded %d",
			s.AcceptedBytes, s.DeliveredBytes, s.BufferedPayload, s.DiscardedBytes)
	}
	if s.BufferedBytes < 0 || s.BufferedPayload < 0 || s.BufferedSegments < 0 || s.BufferedPayload > s.BufferedBytes {
		t.Fatalf("buffer accounting: %d bytes, %d payload, %d segments", s.BufferedBytes, s.BufferedPayload, s.BufferedSegments)
	}
	if s.BufferedBytes > opt.MaxBufferedBytes || s.BufferedSegments > opt.MaxBufferedSegments || s.Conns > opt.MaxConns {
		t.Fatalf("bound broken: %d bytes, %d segments, %d conns", s.BufferedBytes, s.BufferedSegments, s.Conns)
	}
	if s.MemoryBytes > opt.MemoryBound() {
		t.Fatalf("memory %d over bound %d", s.MemoryBytes, opt.MemoryBound())
	}
	if s.ConnsOpened-(s.ClosedFIN+s.ClosedRST+s.ClosedIdle+s.ClosedEvicted+s.ClosedReused+s.ClosedAll) != uint64(s.Conns) {
		t.Fatalf("opened %d, closed %+v, tracked %d", s.ConnsOpened, s, s.Conns)
	}
	// Per stream accounting adds up to the totals.
	var mem int64
	var n int
	for _, ch := range r.chunks {
		for i := range ch {
			for j := range ch[i].h {
				h := &ch[i].h[j]
				mem += h.bufMem
				n += int(h.nsegs)
				if h.bufMem > int64(opt.MaxStreamBytes) || int(h.nsegs) > opt.MaxStreamSegments {
					t.Fatalf("stream bound broken: %d bytes, %d segments", h.bufMem, h.nsegs)
				}
				for sg := h.head; sg != nil; sg = sg.next {
					if !seqLT(h.next, sg.seq) || (sg.next != nil && !seqLE(sg.end(), sg.next.seq)) {
						t.Fatalf("buffered segment at %d not after next %d or overlapping the next one", sg.seq, h.next)
					}
				}
			}
		}
	}
	if mem != s.BufferedBytes || n != s.BufferedSegments {
		t.Fatalf("streams hold %d bytes in %d segments, totals say %d in %d", mem, n, s.BufferedBytes, s.BufferedSegments)
	}
}

func TestReassembly(t *testing.T) {
	fin := func(conn int, cseq, sseq uint32, at time.Duration) []tseg {
		return []tseg{
			{conn: conn, seq: cseq, flags: FIN | ACK, at: at},
			{conn: conn, srv: true, seq: sseq, flags: FIN | ACK, at: at},
			{conn: conn, seq: cseq + 1, flags: ACK, at: at},
		}
	}
	ms := time.Millisecond
	cases := []struct {
		name  string
		opt   Options
		segs  []tseg
		want  []wantConn
		check func(t *testing.T, s Stats)
	}{
		{
			name: "in order",
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 1, flags: ACK | PSH, data: "abc"},
				{seq: cISN + 4, flags: ACK | PSH, data: "def"},
				{srv: true, seq: sISN + 1, flags: ACK | PSH, data: "xyz"},
			}, fin(0, cISN+7, sISN+4, ms)),
			want: []wantConn{{toServer: "abcdef", toClient: "xyz", closed: ReasonFIN}},
			check: func(t *testing.T, s Stats) {
				if s.OutOfOrder+s.Retransmits+s.Overlaps+s.Gaps+s.Conflicts != 0 || s.ClosedFIN != 1 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "out of order",
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 7, flags: ACK, data: "ghi"},
				{seq: cISN + 4, flags: ACK, data: "def"},
				{seq: cISN + 1, flags: ACK, data: "abc"},
			}),
			want: []wantConn{{toServer: "abcdefghi", closed: ReasonShutdown}},
			check: func(t *testing.T, s Stats) {
				if s.OutOfOrder != 2 || s.Gaps != 0 || s.BufferedSegments != 0 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "duplicate retransmission",
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 1, flags: ACK, data: "abc"},
				{seq: cISN + 1, flags: ACK, data: "abc", at: 200 * ms},
				{seq: cISN + 4, flags: ACK, data: "def"},
				{seq: cISN + 1, flags: ACK, data: "abc", at: 400 * ms},
			}),
			want: []wantConn{{toServer: "abcdef", closed: ReasonShutdown}},
			check: func(t *testing.T, s Stats) {
				if s.Retransmits != 2 || s.RetransmitBytes != 6 || s.Conflicts != 0 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "retransmission with different data",
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 1, flags: ACK, data: "abc"},
				{seq: cISN + 1, flags: ACK, data: "abX"},
			}),
			want: []wantConn{{toServer: "abc", closed: ReasonShutdown}},
			check: func(t *testing.T, s Stats) {
				if s.Retransmits != 1 || s.Conflicts != 1 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "overlap with different data, first copy wins",
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 7, flags: ACK, data: "ghi"},
				{seq: cISN + 4, flags: ACK, data: "defgXi"},
				{seq: cISN + 1, flags: ACK, data: "abc"},
			}),
			want: []wantConn{{toServer: "abcdefghi", closed: ReasonShutdown}},
			check: func(t *testing.T, s Stats) {
				if s.Conflicts != 1 || s.Overlaps != 1 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "in-order segment overlapping buffered data",
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 4, flags: ACK, data: "def"},
				{seq: cISN + 1, flags: ACK, data: "abcdXfgh"},
			}),
			want: []wantConn{{toServer: "abcdefgh", closed: ReasonShutdown}},
			check: func(t *testing.T, s Stats) {
				if s.Conflicts != 1 || s.Overlaps != 1 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "overlap with same data",
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 1, flags: ACK, data: "abc"},
				{seq: cISN + 3, flags: ACK, data: "cdef"},
				{seq: cISN + 10, flags: ACK, data: "jkl"},
				{seq: cISN + 7, flags: ACK, data: "ghijklm"},
			}),
			want: []wantConn{{toServer: "abcdefghijklm", closed: ReasonShutdown}},
			check: func(t *testing.T, s Stats) {
				if s.Overlaps != 2 || s.Conflicts != 0 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "gap skipped after the timeout",
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 1, flags: ACK, data: "abc"},
				{seq: cISN + 7, flags: ACK, data: "ghi", at: 100 * ms},
				{seq: cISN + 10, flags: ACK, data: "jkl", at: 1000 * ms},
				{srv: true, seq: sISN + 1, flags: ACK, data: "r", at: 2200 * ms}, // moves time past GapTimeout
				{seq: cISN + 13, flags: ACK, data: "mno", at: 2300 * ms},
				{seq: cISN + 4, flags: ACK, data: "def", at: 2400 * ms}, // too late
			}),
			want: []wantConn{{toServer: "abc|gap=3|ghijklmno", toClient: "r", closed: ReasonShutdown}},
			check: func(t *testing.T, s Stats) {
				if s.GapTimeouts != 1 || s.Gaps != 1 || s.GapBytes != 3 || s.Retransmits != 1 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "gap not skipped before the timeout",
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 1, flags: ACK, data: "abc"},
				{seq: cISN + 7, flags: ACK, data: "ghi", at: 100 * ms},
				{srv: true, seq: sISN + 1, flags: ACK, data: "r", at: 2000 * ms},
				{seq: cISN + 4, flags: ACK, data: "def", at: 2100 * ms},
			}),
			want: []wantConn{{toServer: "abcdefghi", toClient: "r", closed: ReasonShutdown}},
			check: func(t *testing.T, s Stats) {
				if s.GapTimeouts != 0 || s.Gaps != 0 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "gap skipped at the stream's segment bound",
			opt:  Options{MaxStreamSegments: 2},
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 1, flags: ACK, data: "abc"},
				{seq: cISN + 7, flags: ACK, data: "ghi"},
				{seq: cISN + 13, flags: ACK, data: "mno"},
				{seq: cISN + 19, flags: ACK, data: "stu"},
			}),
			want: []wantConn{{toServer: "abc|gap=3|ghi|gap=3|mno|gap=3|stu", closed: ReasonShutdown}},
			check: func(t *testing.T, s Stats) {
				// The third buffered segment skips the first hole; CloseAll the rest.
				if s.StreamFlushes != 1 || s.Gaps != 1 || s.BufferedSegments != 2 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "gap skipped at the stream's byte bound, new segment first",
			opt:  Options{MaxStreamBytes: 2 * (128 + int(segOverhead))},
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 1, flags: ACK, data: "abc"},
				{seq: cISN + 300, flags: ACK, data: string(make([]byte, 100))},
				{seq: cISN + 500, flags: ACK, data: string(make([]byte, 100))},
				{seq: cISN + 200, flags: ACK, data: "X"}, // earliest: the hole before it is given up
			}),
			want: []wantConn{{toServer: "abc|gap=196|X|gap=99|" + string(make([]byte, 100)) + "|gap=100|" + string(make([]byte, 100)), closed: ReasonShutdown}},
			check: func(t *testing.T, s Stats) {
				if s.StreamFlushes != 1 || s.Gaps != 1 || s.GapBytes != 196 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "mid-stream pickup, server speaks first",
			segs: []tseg{
				{srv: true, seq: 77000, flags: ACK | PSH, data: "resp"},
				{seq: 91000, flags: ACK | PSH, data: "req"},
				{seq: 91003, flags: ACK | PSH, data: "req2"},
			},
			want: []wantConn{{toServer: "|mid|reqreq2", toClient: "|mid|resp", closed: ReasonShutdown, midstream: true}},
		},
		{
			name: "sequence wraparound",
			segs: []tseg{
				{seq: wrap, flags: SYN},
				{srv: true, seq: sISN, flags: SYN | ACK},
				{seq: wrap + 1, flags: ACK, data: "0123456789"},  // ends at 0xfffffffb
				{seq: wrap + 21, flags: ACK, data: "klmnopqrst"}, // past zero, out of order
				{seq: wrap + 11, flags: ACK, data: "abcdefghij"}, // spans zero
				{seq: wrap + 11, flags: ACK, data: "abcdefghij"}, // retransmission across zero
				{seq: wrap + 31, flags: FIN | ACK, data: "uvw"},  // FIN at 0x12
				{seq: wrap + 35, flags: ACK, data: "after fin"},  // dropped
				{srv: true, seq: sISN + 1, flags: FIN | ACK},
			},
			want: []wantConn{{toServer: "0123456789abcdefghijklmnopqrstuvw", closed: ReasonFIN}},
			check: func(t *testing.T, s Stats) {
				if s.OutOfOrder != 1 || s.Retransmits != 1 || s.AfterFIN != 1 || s.AfterFINBytes != 9 || s.Gaps != 0 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "FIN before the last data",
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 1, flags: ACK, data: "abc"},
				{seq: cISN + 7, flags: FIN | ACK},
				{srv: true, seq: sISN + 1, flags: FIN | ACK},
				{seq: cISN + 4, flags: ACK, data: "def"},
			}),
			want: []wantConn{{toServer: "abcdef", closed: ReasonFIN}},
		},
		{
			name: "FIN with a hole never filled",
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 1, flags: ACK, data: "abc"},
				{seq: cISN + 7, flags: ACK, data: "ghi"},
				{seq: cISN + 10, flags: FIN | ACK},
				{srv: true, seq: sISN + 1, flags: FIN | ACK},
				{srv: true, seq: sISN + 2, flags: ACK, at: 3 * time.Second},
			}),
			want: []wantConn{{toServer: "abc|gap=3|ghi", closed: ReasonFIN}},
			check: func(t *testing.T, s Stats) {
				if s.GapTimeouts != 1 || s.ClosedFIN != 1 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "data past the FIN is dropped",
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 1, flags: FIN | ACK, data: "abc"},
				{seq: cISN + 5, flags: ACK, data: "zzz"},
			}),
			want: []wantConn{{toServer: "abc", closed: ReasonShutdown}},
			check: func(t *testing.T, s Stats) {
				if s.AfterFIN != 1 || s.AfterFINBytes != 3 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "RST delivers what is buffered and ends both directions",
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 1, flags: ACK, data: "abc"},
				{seq: cISN + 7, flags: ACK, data: "ghi"},
				{srv: true, seq: sISN + 1, flags: ACK, data: "ok"},
				{srv: true, seq: sISN + 3, flags: RST},
				{seq: cISN + 10, flags: ACK, data: "new"}, // starts a new, mid-stream connection
			}),
			want: []wantConn{
				{toServer: "abc|gap=3|ghi", toClient: "ok", closed: ReasonRST},
				{toServer: "|mid|new", closed: ReasonShutdown, midstream: true},
			},
			check: func(t *testing.T, s Stats) {
				if s.ClosedRST != 1 || s.Gaps != 1 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "RST far outside the window is ignored",
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 1, flags: ACK, data: "abc"},
				{seq: cISN + 1<<30, flags: RST},
				{seq: cISN + 4, flags: ACK, data: "def"},
			}),
			want: []wantConn{{toServer: "abcdef", closed: ReasonShutdown}},
			check: func(t *testing.T, s Stats) {
				if s.RSTIgnored != 1 || s.ClosedRST != 0 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "both directions, pipelined requests",
			segs: cat(handshake(0, 0), []tseg{
				{seq: cISN + 1, flags: ACK, data: "q1q2"},
				{srv: true, seq: sISN + 1, flags: ACK, data: "r1"},
				{seq: cISN + 5, flags: ACK, data: "q3"},
				{srv: true, seq: sISN + 5, flags: ACK, data: "r3"},
				{srv: true, seq: sISN + 3, flags: ACK, data: "r2"},
			}, fin(0, cISN+7, sISN+7, ms)),
			want: []wantConn{{toServer: "q1q2q3", toClient: "r1r2r3", closed: ReasonFIN}},
		},
		{
			name: "SYN retransmitted, then a new connection reusing the ports",
			segs: cat(handshake(0, 0), []tseg{{seq: cISN, flags: SYN}, {seq: cISN + 1, flags: ACK, data: "one"}},
				[]tseg{{seq: 9000, flags: SYN, at: ms}, {srv: true, seq: 7000, flags: SYN | ACK, at: ms},
					{seq: 9001, flags: ACK, data: "two", at: ms}}),
			want: []wantConn{
				{toServer: "one", closed: ReasonReused},
				{toServer: "two", closed: ReasonShutdown},
			},
		},
		{
			name: "pure ACKs for unknown connections create nothing",
			segs: []tseg{{seq: 5, flags: ACK}, {seq: 5, flags: FIN | ACK}, {seq: 5, flags: RST}},
			check: func(t *testing.T, s Stats) {
				if s.Ignored != 3 || s.ConnsOpened != 0 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "idle expiry",
			opt:  Options{IdleTimeout: 10 * time.Second},
			segs: cat(handshake(0, 0), []tseg{{seq: cISN + 1, flags: ACK, data: "a"}},
				handshake(1, 5*time.Second),
				[]tseg{{conn: 1, seq: cISN + 1, flags: ACK, data: "b", at: 11 * time.Second}},  // conn 0 idle 11 s
				[]tseg{{conn: 1, seq: cISN + 2, flags: ACK, data: "c", at: 15 * time.Second}}), // conn 1 idle 4 s
			want: []wantConn{
				{toServer: "a", closed: ReasonIdle},
				{toServer: "bc", closed: ReasonShutdown},
			},
			check: func(t *testing.T, s Stats) {
				if s.ClosedIdle != 1 || s.Conns != 1 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "eviction at the flow bound spares established connections",
			opt:  Options{MaxConns: 2},
			segs: cat(handshake(0, 0), // established: seen both ways
				[]tseg{{conn: 1, seq: cISN, flags: SYN, at: ms}},     // probation
				[]tseg{{conn: 2, seq: cISN, flags: SYN, at: 2 * ms}}, // evicts conn 1
				[]tseg{{conn: 3, seq: cISN, flags: SYN, at: 3 * ms}}, // evicts conn 2
				[]tseg{{seq: cISN + 1, flags: ACK, data: "alive", at: 4 * ms}}),
			want: []wantConn{
				{toServer: "alive", closed: ReasonShutdown},
				{closed: ReasonEvicted},
				{closed: ReasonEvicted},
				{closed: ReasonShutdown},
			},
			check: func(t *testing.T, s Stats) {
				if s.ClosedEvicted != 2 || s.Conns != 2 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "eviction of the least recently used established connection",
			opt:  Options{MaxConns: 2},
			segs: cat(handshake(0, 0), handshake(1, 10*time.Second),
				[]tseg{{seq: cISN + 1, flags: ACK, data: "x", at: 20 * time.Second}}, // conn 0 used last
				[]tseg{{conn: 2, seq: cISN, flags: SYN, at: 30 * time.Second}}),
			want: []wantConn{
				{toServer: "x", closed: ReasonShutdown},
				{closed: ReasonEvicted},
				{closed: ReasonShutdown},
			},
		},
		{
			name: "global byte bound skips the oldest waiting stream's hole",
			opt:  Options{MaxBufferedBytes: 3 * memFor(2), MaxStreamBytes: 2 * int(memFor(2))},
			segs: cat(handshake(0, 0), handshake(1, 0), handshake(2, 0), []tseg{
				{conn: 0, seq: cISN + 11, flags: ACK, data: "c0", at: ms},
				{conn: 1, seq: cISN + 11, flags: ACK, data: "c1", at: 2 * ms},
				{conn: 2, seq: cISN + 11, flags: ACK, data: "c2", at: 3 * ms},
				{conn: 2, seq: cISN + 21, flags: ACK, data: "d2", at: 4 * ms}, // full: conn 0 gives up its hole
			}),
			want: []wantConn{
				{toServer: "|gap=10|c0", closed: ReasonShutdown},
				{toServer: "|gap=10|c1", closed: ReasonShutdown},
				{toServer: "|gap=10|c2|gap=8|d2", closed: ReasonShutdown},
			},
			check: func(t *testing.T, s Stats) {
				// Only conn 0's hole went at the bound; CloseAll skipped the others'.
				if s.GlobalFlushes != 1 || s.Gaps != 1 || s.BufferedSegments != 3 {
					t.Errorf("stats %+v", s)
				}
			},
		},
		{
			name: "global segment bound",
			opt:  Options{MaxBufferedSegments: 2, MaxStreamSegments: 2},
			segs: cat(handshake(0, 0), handshake(1, 0), []tseg{
				{conn: 0, seq: cISN + 5, flags: ACK, data: "a", at: ms},
				{conn: 1, seq: cISN + 5, flags: ACK, data: "b", at: 2 * ms},
				{conn: 1, seq: cISN + 7, flags: ACK, data: "c", at: 3 * ms},
				{conn: 0, seq: cISN + 1, flags: ACK, data: "late", at: 4 * ms}, // conn 0's hole was given up
			}),
			want: []wantConn{
				{toServer: "|gap=4|a", closed: ReasonShutdown},
				{toServer: "|gap=4|b|gap=1|c", closed: ReasonShutdown},
			},
			check: func(t *testing.T, s Stats) {
				if s.GlobalFlushes != 1 || s.Retransmits != 1 {
					t.Errorf("stats %+v", s)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, before, after := run(t, tc.opt, tc.segs)
			if len(rec.conns) != len(tc.want) {
				t.Fatalf("%d connections, want %d", len(rec.conns), len(tc.want))
			}
			for i, w := range tc.want {
				c := rec.conns[i]
				if got := c.streams[ClientToServer].out.String(); got != w.toServer {
					t.Errorf("conn %d to server: %q, want %q", i, got, w.toServer)
				}
				if got := c.streams[ServerToClient].out.String(); got != w.toClient {
					t.Errorf("conn %d to client: %q, want %q", i, got, w.toClient)
				}
				if c.closed != w.closed {
					t.Errorf("conn %d closed %v, want %v", i, c.closed, w.closed)
				}
				if c.info.Handshake == w.midstream {
					t.Errorf("conn %d handshake %v, want %v", i, c.info.Handshake, !w.midstream)
				}
				if c.info.Key.DstPort != 502 || c.info.Key.Src != netip.AddrFrom4([4]byte{10, 0, 0, 1}).As16() {
					t.Errorf("conn %d oriented %v, want client → server :502", i, c.info.Key)
				}
			}
			if tc.check != nil {
				tc.check(t, before)
			}
			if after.DeliveredBytes+after.DiscardedBytes != after.AcceptedBytes {
				t.Errorf("after CloseAll: accepted %d, delivered %d, discarded %d", after.AcceptedBytes, after.DeliveredBytes, after.DiscardedBytes)
			}
		})
	}
}

// TestInOrderNoAlloc guards the hot path: an in-order segment, in either
// direction, allocates nothing; neither does a retransmission.
func TestInOrderNoAlloc(t *testing.T) {
	h := &countHandler{}
	r, err := New(Options{}, h)
	if err != nil {
		t.Fatal(err)
	}
	k := KeyFrom(netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:502"))
	now := base
	r.Add(&Packet{Key: k, Seq: 1, Flags: SYN, Time: now})
	r.Add(&Packet{Key: k.Reverse(), Seq: 9, Flags: SYN | ACK, Time: now})
	req, resp := make([]byte, 12), make([]byte, 11)
	cs, ss := uint32(2), uint32(10)
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Millisecond)
		p := Packet{Key: k, Seq: cs, Flags: ACK | PSH, Payload: req, Time: now}
		r.Add(&p)
		r.Add(&p) // retransmission
		p = Packet{Key: k.Reverse(), Seq: ss, Flags: ACK | PSH, Payload: resp, Time: now}
		r.Add(&p)
		cs += 12
		ss += 11
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per request/response", allocs)
	}
	if s := r.Stats(); h.s.n != int(s.DeliveredBytes) || s.Retransmits == 0 || s.DeliveredBytes < 1000*23 {
		t.Fatalf("delivered %d, stats %+v", h.s.n, s)
	}
}
