package reassembly

import (
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// countStream is the cheapest consumer: it counts bytes.
type countStream struct{ n int }

func (s *countStream) Data(b []byte, _ Meta) { s.n += len(b) }
func (s *countStream) End(Reason)            {}

type countHandler struct{ s countStream }

func (h *countHandler) Open(ConnInfo) (Stream, Stream) { return &h.s, &h.s }
func (h *countHandler) Close(ConnInfo, Reason)         {}

func benchKey(i int) Key {
	ip := [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
	return KeyFromIPs(ip[:], []byte{10, 255, 0, 1}, uint16(40000+i%20000), 502)
}

// BenchmarkInOrder: one connection, every segment the next one; ns and
// allocations per segment.
func BenchmarkInOrder(b *testing.B) {
	for _, size := range []int{12, 260, 1460} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			h := &countHandler{}
			r, _ := New(Options{}, h)
			k := benchKey(1)
			payload := make([]byte, size)
			now := base
			p := Packet{Key: k, Seq: 1, Flags: SYN, Time: now}
			r.Add(&p)
			p = Packet{Key: k, Seq: 2, Flags: ACK | PSH, Payload: payload}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			reportCPU(b)
			for range b.N {
				now = now.Add(time.Microsecond)
				p.Time = now
				r.Add(&p)
				p.Seq += uint32(size)
			}
			if h.s.n != b.N*size {
				b.Fatalf("delivered %d of %d", h.s.n, b.N*size)
			}
		})
	}
}

// BenchmarkOutOfOrder: each pair of segments arrives swapped, and one in
// 16 is retransmitted.
func BenchmarkOutOfOrder(b *testing.B) {
	const size = 260
	h := &countHandler{}
	r, _ := New(Options{}, h)
	k := benchKey(1)
	payload := make([]byte, size)
	now := base
	p := Packet{Key: k, Seq: 1, Flags: SYN, Time: now}
	r.Add(&p)
	seq := uint32(2)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	reportCPU(b)
	for i := range b.N {
		now = now.Add(time.Microsecond)
		s := seq + size // the second of the pair first
		if i%2 == 1 {
			s = seq
			seq += 2 * size
		}
		p = Packet{Key: k, Seq: s, Flags: ACK, Payload: payload, Time: now}
		r.Add(&p)
		if i%16 == 15 {
			r.Add(&p)
		}
	}
}

// BenchmarkManyFlows: 100,000 established connections, segments round
// robin (the index and connection state do not fit in cache).
func BenchmarkManyFlows(b *testing.B) {
	const flows = 100_000
	h := &countHandler{}
	r, _ := New(Options{MaxConns: 2 * flows}, h)
	keys := make([]Key, flows)
	seqs := make([]uint32, flows)
	now := base
	for i := range keys {
		keys[i] = benchKey(i)
		p := Packet{Key: keys[i], Seq: 0, Flags: SYN, Time: now}
		r.Add(&p)
		p = Packet{Key: keys[i].Reverse(), Seq: 0, Flags: SYN | ACK, Time: now}
		r.Add(&p)
		seqs[i] = 1
	}
	payload := make([]byte, 12)
	b.ReportAllocs()
	b.ResetTimer()
	reportCPU(b)
	for i := range b.N {
		j := (i * 7919) % flows
		now = now.Add(100 * time.Nanosecond)
		p := Packet{Key: keys[j], Seq: seqs[j], Flags: ACK | PSH, Payload: payload, Time: now}
		r.Add(&p)
		seqs[j] += 12
	}
}

// BenchmarkNewFlows: every segment a new connection at a full table (a
// flood): lookup miss, eviction, open.
func BenchmarkNewFlows(b *testing.B) {
	h := &countHandler{}
	r, _ := New(Options{MaxConns: 10_000}, h)
	now := base
	src := netip.MustParseAddr("10.0.0.1").AsSlice()
	dst := netip.MustParseAddr("10.0.0.2").AsSlice()
	b.ReportAllocs()
	b.ResetTimer()
	reportCPU(b)
	for i := range b.N {
		now = now.Add(100 * time.Nanosecond)
		src[2], src[3] = byte(i>>8), byte(i)
		p := Packet{Key: KeyFromIPs(src, dst, uint16(i>>16), 502), Seq: uint32(i), Flags: SYN, Time: now}
		r.Add(&p)
	}
}
