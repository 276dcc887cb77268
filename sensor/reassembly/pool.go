package reassembly

import "math/bits"

// Out-of-order bytes are copied into buffers of power-of-two sizes from
// 64 B to 64 KiB, kept on free lists for reuse up to Options.freeMax bytes.
// Bigger segments (TSO captures) get buffers of their own size.
const (
	minClassShift = 6
	numClasses    = 11
)

func classOf(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minClassShift
}

// memFor is the memory a buffered segment of n bytes holds.
func memFor(n int) int64 {
	if c := classOf(n); c < numClasses {
		return int64(1)<<(c+minClassShift) + segOverhead
	}
	return int64(n) + segOverhead
}

func (r *Reassembler) getSeg(n int) *seg {
	c := classOf(n)
	if c >= numClasses {
		return &seg{data: make([]byte, n)}
	}
	if s := r.pool[c]; s != nil {
		r.pool[c] = s.next
		r.freeBytes -= int64(cap(s.data))
		s.next = nil
		s.data = s.data[:n]
		return s
	}
	return &seg{data: make([]byte, n, 1<<(c+minClassShift))}
}

func (r *Reassembler) putSeg(s *seg) {
	c := classOf(cap(s.data))
	if c >= numClasses || cap(s.data) != 1<<(c+minClassShift) || r.freeBytes+int64(cap(s.data)) > r.freeMax {
		return
	}
	s.data = s.data[:0]
	s.next = r.pool[c]
	r.pool[c] = s
	r.freeBytes += int64(cap(s.data))
}
