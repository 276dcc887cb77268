package analyze_test

import (
	"path/filepath"
	"testing"

	"github.com/otrange/otrange/internal/wiretest"
	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/analyze/pcapfeed"
)

// BenchmarkCaptures runs the analyzer over the payloads of the real
// captures (read once), feeding them through the in-order follower, and
// reports records per second.
func BenchmarkCaptures(b *testing.B) {
	for _, name := range []string{"zeek-modbusSmall", "icsnpp-modbus_example", "zeek-dnp3"} {
		b.Run(name, func(b *testing.B) {
			pkts, err := pcapfeed.Read(filepath.Join(wiretest.PcapDir(b), name+".pcap"))
			if err != nil {
				b.Skipf("capture absent: %v", err)
			}
			var bytes int64
			for _, p := range pkts {
				bytes += int64(len(p.Payload))
			}
			n := 0
			a := analyze.New(analyze.Config{Emit: func(*analyze.Record) { n++ }})
			b.SetBytes(bytes)
			b.ReportAllocs()
			for b.Loop() {
				f := pcapfeed.NewFeeder(a)
				for i := range pkts {
					f.Packet(&pkts[i])
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkPolling measures the steady state of long-lived connections:
// one Modbus read exchange and one DNP3 class poll with its response per
// iteration (4 records).
func BenchmarkPolling(b *testing.B) {
	n := 0
	a := analyze.New(analyze.Config{Emit: func(*analyze.Record) { n++ }})
	mc := a.NewConn(client, server)
	dc := a.NewConn(client, outst)
	req := adu(1, 1, modbus.FuncReadHoldingRegisters, 0, 0, 0, 10)
	resp := adu(1, 1, modbus.FuncReadHoldingRegisters, append([]byte{20}, make([]byte, 20)...)...)
	dreq := dnp3Request(1, dnp3.FuncRead, []byte{60, 2, 6, 60, 3, 6, 60, 4, 6, 60, 1, 6}, 3, 4)
	dresp := dnp3Response(1, dnp3.FuncResponse, 0, append([]byte{30, 2, 0, 0, 9}, make([]byte, 30)...), 4, 3)
	b.SetBytes(int64(len(req) + len(resp) + len(dreq) + len(dresp)))
	b.ReportAllocs()
	for b.Loop() {
		mc.Data(client, req, t0, 1)
		mc.Data(server, resp, t0, 2)
		dc.Data(client, dreq, t0, 3)
		dc.Data(outst, dresp, t0, 4)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
