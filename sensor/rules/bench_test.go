package rules_test

import (
	"path/filepath"
	"testing"

	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/analyze/pcapfeed"
	"github.com/otrange/otrange/sensor/rules"
)

// BenchmarkEngine evaluates every rule on the records of real captures
// (benign polling, and the Quickdraw attacks with a policy) and reports
// records per second.
func BenchmarkEngine(b *testing.B) {
	p, err := rules.LoadPolicy("testdata/quickdraw-policy.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"zeek-modbusSmall", "quickdraw-modbus-part1", "zeek-dnp3"} {
		b.Run(name, func(b *testing.B) {
			var recs []analyze.Record
			a := analyze.New(analyze.Config{Emit: func(r *analyze.Record) { recs = append(recs, *r) }})
			if _, err := pcapfeed.FeedFile(filepath.Join(sharedPcaps, name+".pcap"), a); err != nil {
				b.Skipf("capture absent: %v", err)
			}
			alerts := 0
			policy := p // the attack captures with their policy; benign polling without alerts
			if name == "zeek-modbusSmall" {
				policy = nil
			}
			e, err := rules.New(rules.Config{Policy: policy, Sink: alert.SinkFunc(func(alert.Alert) { alerts++ })})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for i := range recs {
					e.Evaluate(&recs[i])
				}
				n += len(recs)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(alerts)/float64(n), "alerts/record")
		})
	}
}
