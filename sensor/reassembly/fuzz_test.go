package reassembly

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

// Fuzz input: records of 5 bytes, each one TCP segment.
//
//	b0: bits 0-1 connection, bit 2 sent by the server, bit 3 FIN, bit 4 SYN,
//	    bit 5 ACK, bit 6 RST, bit 7 corrupt (payload differs from the truth)
//	b1-b2: sequence offset from the direction's ISN (big endian); the ISNs sit
//	    just below 2^32 so offsets wrap
//	b3: payload length
//	b4: time step, in 20 ms units
//
// Payload bytes are a function of the connection, direction and sequence
// number, so any delivered byte can be checked against the truth.
const fuzzRecord = 5

func fuzzISN(conn, dir int) uint32 { return 0xffff8000 + uint32(conn)<<9 + uint32(dir)<<8 }

func fuzzByte(conn, dir int, seq uint32) byte {
	return byte((seq*2654435761)>>24) ^ byte(conn<<4|dir)
}

func fuzzKey(conn, dir int) Key {
	c := netip.AddrPortFrom(netip.MustParseAddr("10.1.0.1"), uint16(40000+conn))
	s := netip.AddrPortFrom(netip.MustParseAddr("10.1.0.2"), 502)
	if dir == 1 {
		return KeyFrom(s, c)
	}
	return KeyFrom(c, s)
}

// encodeRecord is the inverse of the decoding in FuzzReassembly.
func encodeRecord(conn, dir int, fl Flags, off uint16, n int, step byte) []byte {
	b0 := byte(conn&3) | byte(dir&1)<<2
	if fl&FIN != 0 {
		b0 |= 1 << 3
	}
	if fl&SYN != 0 {
		b0 |= 1 << 4
	}
	if fl&ACK != 0 {
		b0 |= 1 << 5
	}
	if fl&RST != 0 {
		b0 |= 1 << 6
	}
	return []byte{b0, byte(off >> 8), byte(off), byte(min(n, 255)), step}
}

// fuzzStream checks what it is given against the truth.
type fuzzStream struct {
	t         *testing.T
	conn, dir int // of the sender
	corrupt   *[4][2]bool
	next      uint32
	started   bool
	ended     bool
}

func (s *fuzzStream) Data(b []byte, m Meta) {
	if s.ended {
		s.t.Fatalf("conn %d dir %d: data after End", s.conn, s.dir)
	}
	if s.started && m.Seq != s.next+m.Gap {
		s.t.Fatalf("conn %d dir %d: chunk at %d, want %d + gap %d", s.conn, s.dir, m.Seq, s.next, m.Gap)
	}
	if len(b) == 0 {
		s.t.Fatalf("empty chunk")
	}
	if !s.corrupt[s.conn][s.dir] {
		for i, c := range b {
			if want := fuzzByte(s.conn, s.dir, m.Seq+uint32(i)); c != want {
				s.t.Fatalf("conn %d dir %d: byte at seq %d is %#x, want %#x", s.conn, s.dir, m.Seq+uint32(i), c, want)
			}
		}
	}
	s.started, s.next = true, m.Seq+uint32(len(b))
}

func (s *fuzzStream) End(Reason) {
	if s.ended {
		s.t.Fatalf("conn %d dir %d: End twice", s.conn, s.dir)
	}
	s.ended = true
}

type fuzzHandler struct {
	t       *testing.T
	corrupt [4][2]bool
	open    map[connID][2]*fuzzStream
}

// connID is what identifies a connection in its ConnInfo (Last and
// Answered change while it lives).
type connID struct {
	key   Key
	start time.Time
}

func idOf(c ConnInfo) connID { return connID{c.Key, c.Start} }

func (h *fuzzHandler) Open(c ConnInfo) (Stream, Stream) {
	if _, dup := h.open[idOf(c)]; dup {
		h.t.Fatalf("%v opened twice", c.Key)
	}
	// Which of the fuzz's directions is client → server?
	dir := 0
	if c.Key.SrcPort == 502 {
		dir = 1
	}
	conn := int(c.Key.SrcPort) - 40000
	if dir == 1 {
		conn = int(c.Key.DstPort) - 40000
	}
	ss := [2]*fuzzStream{
		{t: h.t, conn: conn, dir: dir, corrupt: &h.corrupt},
		{t: h.t, conn: conn, dir: 1 - dir, corrupt: &h.corrupt},
	}
	h.open[idOf(c)] = ss
	return ss[0], ss[1]
}

func (h *fuzzHandler) Close(c ConnInfo, _ Reason) {
	ss, ok := h.open[idOf(c)]
	if !ok {
		h.t.Fatalf("close of unknown %v", c.Key)
	}
	if !ss[0].ended || !ss[1].ended {
		h.t.Fatalf("%v closed before its streams ended", c.Key)
	}
	delete(h.open, idOf(c))
}

var fuzzOptions = Options{
	MaxConns: 3, IdleTimeout: 5 * time.Second, GapTimeout: time.Second,
	MaxStreamBytes: 4 * int(memFor(64)), MaxStreamSegments: 6,
	MaxBufferedBytes: 10 * memFor(64), MaxBufferedSegments: 10,
}

func FuzzReassembly(f *testing.F) {
	var hs []byte
	for c := range 2 {
		hs = append(hs, encodeRecord(c, 0, SYN, 0, 0, 0)...)
		hs = append(hs, encodeRecord(c, 1, SYN|ACK, 0, 0, 0)...)
		hs = append(hs, encodeRecord(c, 0, ACK, 1, 10, 1)...)
		hs = append(hs, encodeRecord(c, 0, ACK, 21, 10, 1)...)  // out of order
		hs = append(hs, encodeRecord(c, 1, ACK, 1, 12, 1)...)   // response
		hs = append(hs, encodeRecord(c, 0, ACK, 5, 30, 1)...)   // overlap
		hs = append(hs, encodeRecord(c, 0, ACK, 60, 10, 60)...) // hole, then time passes
		hs = append(hs, encodeRecord(c, 0, FIN|ACK, 70, 0, 1)...)
		hs = append(hs, encodeRecord(c, 1, FIN|ACK, 13, 0, 1)...)
	}
	f.Add(hs)
	f.Add(append(encodeRecord(0, 0, ACK, 0xfff0, 40, 0), encodeRecord(0, 0, RST, 0x0018, 0, 1)...))
	// Real captures, as segment shapes: the payload is the fuzz's own.
	files, _ := filepath.Glob(filepath.Join(sharedPcaps, "*.pcap"))
	for _, path := range files {
		pkts, err := readCapture(path)
		if err != nil {
			f.Fatal(err)
		}
		var in []byte
		isn := map[Key]uint32{}
		conns := map[Key]int{}
		last := time.Time{}
		for _, p := range pkts {
			var ck Key
			canon(&p.Key, &ck)
			c, ok := conns[ck]
			if !ok {
				c = len(conns) % 4
				conns[ck] = c
			}
			dir := 0
			if p.Key.SrcPort == 502 || p.Key.SrcPort == 20000 {
				dir = 1
			}
			if _, ok := isn[p.Key]; !ok {
				isn[p.Key] = p.Seq
			}
			step := byte(0)
			if !last.IsZero() {
				step = byte(min(p.Time.Sub(last)/(20*time.Millisecond), 255))
			}
			last = p.Time
			in = append(in, encodeRecord(c, dir, p.Flags, uint16(p.Seq-isn[p.Key]), len(p.Payload), step)...)
		}
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		h := &fuzzHandler{t: t, open: map[connID][2]*fuzzStream{}}
		r, err := New(fuzzOptions, h)
		if err != nil {
			t.Fatal(err)
		}
		now := base
		payload := make([]byte, 255)
		for len(in) >= fuzzRecord {
			rec := in[:fuzzRecord]
			in = in[fuzzRecord:]
			conn, dir := int(rec[0]&3), int(rec[0]>>2&1)
			var fl Flags
			for bit, f := range []Flags{FIN, SYN, ACK, RST} {
				if rec[0]&(1<<(3+bit)) != 0 {
					fl |= f
				}
			}
			seq := fuzzISN(conn, dir) + uint32(rec[1])<<8 + uint32(rec[2])
			n := int(rec[3])
			// A SYN's sequence number is the ISN; its data starts one after.
			first := seq
			if fl&SYN != 0 {
				first++
			}
			for i := range n {
				payload[i] = fuzzByte(conn, dir, first+uint32(i))
				if rec[0]&0x80 != 0 {
					payload[i] ^= 0x5a
				}
			}
			if rec[0]&0x80 != 0 && n > 0 {
				h.corrupt[conn][dir] = true
			}
			now = now.Add(time.Duration(rec[4]) * 20 * time.Millisecond)
			r.Add(&Packet{Key: fuzzKey(conn, dir), Seq: seq, Flags: fl, Payload: payload[:n], Time: now})
			checkInvariants(t, r, fuzzOptions)
			if len(h.open) != r.Conns() {
				t.Fatalf("handler has %d open, reassembler %d", len(h.open), r.Conns())
			}
		}
		st := r.Stats()
		if st.Conflicts > 0 && h.corrupt == [4][2]bool{} {
			t.Fatalf("%d conflicts without corrupt segments", st.Conflicts)
		}
		r.Advance(now.Add(time.Hour))
		if r.Conns() != 0 || len(h.open) != 0 {
			t.Fatalf("after an idle hour: %d conns, %d open", r.Conns(), len(h.open))
		}
		r.CloseAll()
		checkInvariants(t, r, fuzzOptions)
		if st := r.Stats(); st.BufferedBytes != 0 || st.AcceptedBytes != st.DeliveredBytes+st.DiscardedBytes {
			t.Fatalf("after CloseAll: %+v", st)
		}
	})
}
