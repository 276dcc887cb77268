package baseline_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/baseline"
)

// FuzzReadModel: any model ReadModel accepts loads into a baseline, checks
// records without panicking, and saves to a model ReadModel accepts again.
func FuzzReadModel(f *testing.F) {
	var good bytes.Buffer
	if err := learned().Write(&good); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add([]byte(`{"version":1,"pairs":[{"client":"10.0.0.1","server":"10.0.0.2","protocol":"dnp3","functions":[1,5],"areas":[{"unit":10,"table":"g12","access":"write","ranges":[[0,4294967295]]}],"streams":[{"unit":10,"function":1,"address":15361,"intervals":1000,"mean_s":0.000001,"stddev_s":0,"regular":true}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := baseline.ReadModel(bytes.NewReader(data))
		if err != nil {
			return
		}
		b, err := baseline.New(baseline.Options{Sink: &collector{}, Model: m, MaxPairs: 4, MaxStreams: 8, MaxValues: 8, MaxRanges: 4, MaxKeys: 4})
		if err != nil {
			t.Fatalf("a model ReadModel accepted does not load: %v", err)
		}
		at := t0
		for i := range 20 {
			at = at.Add(time.Duration(i) * 700 * time.Millisecond)
			b.Observe(mbReq(at, "10.0.0.1:4000", "10.0.0.2:502", uint8(i%3), uint8(i%7), uint16(i), uint16(i), uint16(i*1000)))
		}
		b.Advance(at.Add(time.Hour))
		var out bytes.Buffer
		if err := b.Model().Write(&out); err != nil {
			t.Fatal(err)
		}
		if _, err := baseline.ReadModel(&out); err != nil {
			t.Fatalf("saved model refused: %v\n%s", err, out.String())
		}
	})
}
