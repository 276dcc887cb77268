package simulator

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPlant100 runs a plant of 100 PLCs and 10 DNP3 outstations with the
// HMI polling each once a second, and measures, over a steady-state window
// (OTRANGE_BENCH_WINDOW, default 20s): the process's CPU share of one core,
// its resident memory, and the process tick's jitter (p99).
func BenchmarkPlant100(b *testing.B) {
	def, wcfg, err := ScaledDef(100, 10)
	if err != nil {
		b.Fatal(err)
	}
	window := 20 * time.Second
	if v, err := time.ParseDuration(os.Getenv("OTRANGE_BENCH_WINDOW")); err == nil && v > 0 {
		window = v
	}
	p, err := New(Config{Def: def, Process: &wcfg, EphemeralPorts: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	// Steady state: every device online at the HMI, then a settling period.
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := 0
		for _, d := range p.View().Devices {
			if d.Online {
				n++
			}
		}
		if n >= 110 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of 110 devices online after 60 s", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	b.ResetTimer()
	cpu0, wall0 := cpuTime(), time.Now()
	time.Sleep(window)
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	b.StopTimer()
	_, p99, worst := p.TickJitter()
	b.ReportMetric(100*float64(cpu)/float64(wall), "%core")
	b.ReportMetric(float64(rssKB())/1024, "MB-rss")
	b.ReportMetric(float64(p99)/float64(time.Millisecond), "ms-jitter-p99")
	b.ReportMetric(float64(worst)/float64(time.Millisecond), "ms-jitter-max")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssKB reads VmRSS from /proc/self/status.
func rssKB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}
