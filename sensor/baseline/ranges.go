package baseline

import "sort"

// span is an inclusive range of addresses or point indexes.
type span struct{ lo, hi uint32 }

// rangeSet is a sorted set of disjoint, non-adjacent spans, bounded: when a
// new span would exceed max, the two closest spans merge (widening the set).
type rangeSet struct {
	spans []span
}

// add inserts [lo, hi] and returns how many merges the bound forced.
func (s *rangeSet) add(lo, hi uint32, max int) int {
	if hi < lo {
		lo, hi = hi, lo
	}
	// First span that ends at or after lo-1 (touching counts).
	i := sort.Search(len(s.spans), func(i int) bool { return uint64(s.spans[i].hi)+1 >= uint64(lo) })
	j := i
	for j < len(s.spans) && uint64(s.spans[j].lo) <= uint64(hi)+1 {
		lo = min(lo, s.spans[j].lo)
		hi = max32(hi, s.spans[j].hi)
		j++
	}
	if i == j {
		s.spans = append(s.spans, span{})
		copy(s.spans[i+1:], s.spans[i:])
		s.spans[i] = span{lo, hi}
	} else {
		s.spans[i] = span{lo, hi}
		s.spans = append(s.spans[:i+1], s.spans[j:]...)
	}
	merged := 0
	for max > 0 && len(s.spans) > max {
		best := 0
		for k := 1; k+1 < len(s.spans); k++ {
			if s.spans[k+1].lo-s.spans[k].hi < s.spans[best+1].lo-s.spans[best].hi {
				best = k
			}
		}
		s.spans[best].hi = s.spans[best+1].hi
		s.spans = append(s.spans[:best+1], s.spans[best+2:]...)
		merged++
	}
	return merged
}

func max32(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

// contains reports whether all of [lo, hi] is in the set.
func (s *rangeSet) contains(lo, hi uint32) bool {
	i := sort.Search(len(s.spans), func(i int) bool { return s.spans[i].hi >= lo })
	return i < len(s.spans) && s.spans[i].lo <= lo && s.spans[i].hi >= hi
}
