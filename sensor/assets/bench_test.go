package assets_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/assets"
)

// BenchmarkObserve measures steady polling: an HMI reading 10 PLCs, request
// and response records, known assets and peers (the hot path).
func BenchmarkObserve(b *testing.B) {
	inv, err := assets.New(assets.Options{Sink: &collector{}})
	if err != nil {
		b.Fatal(err)
	}
	hmi, plc := mac("02:00:00:00:02:01"), mac("02:00:00:00:01:01")
	reqs := make([]*recordPair, 10)
	for i := range reqs {
		req := mbReq(0, "10.0.2.1:40000", fmt.Sprintf("10.0.1.%d:502", i+1), 1, 3, uint16(i*10), 10)
		reqs[i] = &recordPair{req, mbResp(req, 0)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p := reqs[i%len(reqs)]
		t := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		p.req.Time, p.resp.Time = t, t.Add(time.Millisecond)
		inv.Observe(p.req, hmi, plc)
		inv.Observe(p.resp, plc, hmi)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/record")
}

type recordPair struct{ req, resp *analyze.Record }
