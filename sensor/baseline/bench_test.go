package baseline_test

import (
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/baseline"
)

// benchRecords is steady polling: the benign plant's streams plus the
// responses (which only advance time).
func benchRecords(start time.Time, d time.Duration) []*analyze.Record {
	var out []*analyze.Record
	for _, e := range plant(9, start, d, 0.2) {
		out = append(out, e.r)
		resp := *e.r
		resp.Dir, resp.Time = analyze.Response, e.r.Time.Add(2*time.Millisecond)
		resp.Flow.Src, resp.Flow.Dst = e.r.Flow.Dst, e.r.Flow.Src
		out = append(out, &resp)
	}
	return out
}

// BenchmarkObserveDetect checks known pairs after learning (the hot path:
// zero allocations).
func BenchmarkObserveDetect(b *testing.B) {
	bl, c := newBaseline(b, baseline.Options{Model: learned()})
	recs := benchRecords(t0.Add(20*time.Minute), 10*time.Minute)
	span := recs[len(recs)-1].Time.Sub(recs[0].Time) + time.Second
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		j := i % len(recs)
		if j == 0 && i > 0 {
			for _, r := range recs {
				r.Time = r.Time.Add(span)
			}
		}
		bl.Observe(recs[j])
	}
	b.StopTimer()
	if len(c.alerts) != 0 {
		b.Fatalf("%d alerts: %s", len(c.alerts), c.dump())
	}
}

// BenchmarkObserveLearn measures learning on the same traffic.
func BenchmarkObserveLearn(b *testing.B) {
	bl, _ := newBaseline(b, baseline.Options{LearnFor: 1 << 62})
	recs := benchRecords(t0, 10*time.Minute)
	span := recs[len(recs)-1].Time.Sub(recs[0].Time) + time.Second
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		j := i % len(recs)
		if j == 0 && i > 0 {
			for _, r := range recs {
				r.Time = r.Time.Add(span)
			}
		}
		bl.Observe(recs[j])
	}
}
