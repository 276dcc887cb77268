package sensor

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/capture"
	"github.com/otrange/otrange/sensor/rules"
)

// benchMasters are the masters of the generated captures (net 10).
var benchMasters = genMasters(10)

// TestPlantCapture runs a generated capture through the sensor: the
// polling raises nothing, every attack raises its alert, tshark (when
// present) decodes it without malformed frames.
func TestPlantCapture(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plant.pcap")
	n, attacks, err := writePlantCapture(path, 10, 20000, 2000)
	if err != nil {
		t.Fatal(err)
	}
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	s, got := collect(t, Config{AuthorizedMasters: benchMasters})
	if err := s.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	byRule := map[string]int{}
	for _, a := range *got {
		byRule[a.RuleID]++
	}
	// Attacks cycle write, listen-only, cold restart. The write and the
	// restart also come from an unauthorized host; the listen-only
	// diagnostic is a "miscellaneous" request, whose unauthorized rule
	// counts once per pair per minute.
	want := map[string]int{
		rules.ModbusWriteUnauthorized: (attacks + 2) / 3,
		rules.ModbusListenOnly:        (attacks + 1) / 3,
		rules.DNP3ColdRestart:         attacks / 3,
	}
	for id, w := range want {
		if byRule[id] != w {
			t.Errorf("%s: %d alerts, want %d (all: %v)", id, byRule[id], w, byRule)
		}
	}
	st := s.Stats()
	if st.Packets != uint64(n) || st.DecodeErrors != 0 || st.Anomalies != 0 || st.Analyzer.Unmatched != 0 || st.Reassembly.GapBytes != 0 {
		t.Errorf("stats %+v", st)
	}
	if st.Records < uint64(n)/2 {
		t.Errorf("%d records from %d packets", st.Records, n)
	}
	for id := range byRule {
		if _, ok := want[id]; !ok && id != rules.DNP3MiscUnauthorized && id != rules.ModbusMiscUnauthorized {
			t.Errorf("unexpected alerts %s: %d", id, byRule[id])
		}
	}
	if tshark, err := exec.LookPath("tshark"); err == nil {
		out, err := exec.Command(tshark, "-r", path, "-Y", "_ws.malformed || _ws.expert.severity >= error").Output()
		if err != nil || len(out) != 0 {
			t.Errorf("tshark finds malformed frames (%v):\n%.2000s", err, out)
		}
	}
}

// benchCapture is the generated benchmark capture, written once per run.
var benchCapture struct {
	once             sync.Once
	path             string
	packets, attacks int
	bytes            int64
	err              error
}

// benchPackets is the size of the benchmark capture (at least a million
// packets of plant traffic).
const benchPackets = 1_000_000

func plantCapture(b *testing.B) string {
	bc := &benchCapture
	bc.once.Do(func() {
		dir, err := os.MkdirTemp("", "otrange-bench-")
		if err != nil {
			bc.err = err
			return
		}
		bc.path = filepath.Join(dir, "plant.pcap")
		bc.packets, bc.attacks, bc.err = writePlantCapture(bc.path, 10, benchPackets, 25000)
		if st, err := os.Stat(bc.path); err == nil {
			bc.bytes = st.Size()
		}
	})
	if bc.err != nil {
		b.Fatal(bc.err)
	}
	return bc.path
}

// wireBits is the capture's traffic in bits (frame lengths, not file
// bytes), for Mbit/s.
func wireBits(b *testing.B, path string) float64 {
	src, err := capture.OpenFile(path)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var bits float64
	for {
		_, ci, err := src.ReadPacketData()
		if err != nil {
			break
		}
		bits += float64(ci.Length * 8)
	}
	return bits
}

// BenchmarkCapture measures, in one run over the same generated capture of
// a million packets of plant traffic with attacks mixed in:
//
//   - read: the bare read loop over the file (the floor);
//   - pipeline: the whole sensor (decode, reassembly, analyzers, rules);
//   - tshark: tshark -r FILE -Y 'modbus || dnp3' (skipped when absent).
//
// One op is one pass over the file; packets/s and Mbit/s are reported.
// Run it on one core:
//
//	go test -run '^$' -bench BenchmarkCapture -benchtime 1x -cpu 1 ./sensor
func BenchmarkCapture(b *testing.B) {
	path := plantCapture(b)
	bits := wireBits(b, path)
	packets := float64(benchCapture.packets)
	b.Logf("%s", describeCapture(path, benchCapture.packets, benchCapture.attacks))
	report := func(b *testing.B, start time.Time) {
		el := time.Since(start).Seconds() / float64(b.N)
		b.ReportMetric(packets/el, "packets/s")
		b.ReportMetric(bits/el/1e6, "Mbit/s")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("read", func(b *testing.B) {
		start := time.Now()
		for range b.N {
			src, err := capture.OpenFile(path)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for {
				_, _, err := src.ReadPacketData()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			src.Close()
			if n != benchCapture.packets {
				b.Fatalf("read %d packets of %d", n, benchCapture.packets)
			}
		}
		report(b, start)
	})
	b.Run("pipeline", func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		for range b.N {
			src, err := capture.OpenFile(path)
			if err != nil {
				b.Fatal(err)
			}
			alerts := 0
			s, err := New(Config{AuthorizedMasters: benchMasters, Sink: alert.SinkFunc(func(alert.Alert) { alerts++ })})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Run(context.Background(), src); err != nil {
				b.Fatal(err)
			}
			src.Close()
			if alerts < benchCapture.attacks {
				b.Fatalf("%d alerts for %d attacks", alerts, benchCapture.attacks)
			}
		}
		report(b, start)
	})
	b.Run("tshark", func(b *testing.B) {
		tshark, err := exec.LookPath("tshark")
		if err != nil {
			b.Skip("tshark not installed")
		}
		start := time.Now()
		for range b.N {
			cmd := exec.Command(tshark, "-n", "-r", path, "-Y", "modbus || dnp3")
			cmd.Stdout = io.Discard
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
		report(b, start)
	})
}
