package baseline

import (
	"reflect"
	"testing"
)

func TestRangeSet(t *testing.T) {
	cases := []struct {
		name   string
		adds   [][2]uint32
		max    int
		want   []span
		merged int
	}{
		{"disjoint sorted", [][2]uint32{{10, 12}, {0, 2}, {20, 20}}, 8, []span{{0, 2}, {10, 12}, {20, 20}}, 0},
		{"adjacent merge", [][2]uint32{{0, 4}, {5, 9}}, 8, []span{{0, 9}}, 0},
		{"overlap bridges", [][2]uint32{{0, 2}, {10, 12}, {20, 22}, {1, 21}}, 8, []span{{0, 22}}, 0},
		{"reversed bounds", [][2]uint32{{9, 5}}, 8, []span{{5, 9}}, 0},
		{"contained", [][2]uint32{{0, 100}, {5, 6}}, 8, []span{{0, 100}}, 0},
		{"bound merges closest", [][2]uint32{{0, 0}, {100, 100}, {103, 103}, {200, 200}}, 3, []span{{0, 0}, {100, 103}, {200, 200}}, 1},
		{"max uint32", [][2]uint32{{0, 4294967295}, {7, 7}}, 8, []span{{0, 4294967295}}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s rangeSet
			merged := 0
			for _, a := range tc.adds {
				merged += s.add(a[0], a[1], tc.max)
			}
			if !reflect.DeepEqual(s.spans, tc.want) || merged != tc.merged {
				t.Errorf("spans %v merged %d, want %v %d", s.spans, merged, tc.want, tc.merged)
			}
		})
	}
	var s rangeSet
	s.add(10, 20, 8)
	s.add(30, 30, 8)
	for _, c := range []struct {
		lo, hi uint32
		want   bool
	}{{10, 20, true}, {15, 15, true}, {9, 10, false}, {20, 21, false}, {30, 30, true}, {21, 29, false}, {25, 25, false}, {31, 31, false}, {0, 0, false}} {
		if got := s.contains(c.lo, c.hi); got != c.want {
			t.Errorf("contains(%d, %d) = %v", c.lo, c.hi, got)
		}
	}
}

// FuzzRangeSet checks the set against a bitmap over a small universe.
func FuzzRangeSet(f *testing.F) {
	f.Add([]byte{0, 3, 10, 12, 5, 9, 60, 63}, uint8(3))
	f.Add([]byte{1, 1, 2, 2, 3, 3, 4, 4}, uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, maxRanges uint8) {
		var s rangeSet
		var truth [256]bool
		bound := int(maxRanges%8) + 1
		for i := 0; i+1 < len(data); i += 2 {
			lo, hi := uint32(data[i]), uint32(data[i+1])
			s.add(lo, hi, bound)
			for x := min(lo, hi); x <= max(lo, hi); x++ {
				truth[x] = true
			}
			if len(s.spans) > bound {
				t.Fatalf("%d spans > %d", len(s.spans), bound)
			}
			for j, sp := range s.spans {
				if sp.lo > sp.hi || (j > 0 && s.spans[j-1].hi+1 >= sp.lo) {
					t.Fatalf("not sorted, disjoint, non-adjacent: %v", s.spans)
				}
			}
			for x := range 256 {
				// The set may widen (merges) but never loses a point.
				if truth[x] && !s.contains(uint32(x), uint32(x)) {
					t.Fatalf("lost %d: %v", x, s.spans)
				}
			}
		}
	})
}
