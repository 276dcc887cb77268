//go:build linux

package sensor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/capture"
	"github.com/otrange/otrange/sensor/rules"
)

// TestLiveReplay replays a generated all-loopback plant capture onto lo
// with tcpreplay at 100,000 packets/s while the sensor captures live: the
// kernel drops nothing, every replayed packet is seen, and the attacks in
// it raise their alerts. It lasts OTRANGE_LIVE_SECONDS seconds of replay
// (default 2; 60 for the minute). Needs tcpreplay and capture
// rights; CI has both.
func TestLiveReplay(t *testing.T) {
	tcpreplay, err := exec.LookPath("tcpreplay")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpreplay is required in CI")
		}
		t.Skip("tcpreplay not installed")
	}
	seconds := 2
	if v := os.Getenv("OTRANGE_LIVE_SECONDS"); v != "" {
		if seconds, err = strconv.Atoi(v); err != nil || seconds < 1 {
			t.Fatalf("OTRANGE_LIVE_SECONDS=%q", v)
		}
	}
	pps := 100_000
	if raceEnabled {
		// The race detector slows the sensor tenfold: replay slower, to
		// still check the path end to end without drops.
		pps, seconds = 5_000, 1
	}
	path := filepath.Join(t.TempDir(), "plant.pcap")
	// A /16 of its own, so that traffic of other tests on lo stays out.
	net := byte(200 + os.Getpid()%50)
	n, attacks, err := writePlantCapture(path, net, pps*seconds, max(pps/2, 2000))
	if err != nil {
		t.Fatal(err)
	}
	// The replayed hosts only (the kernel's RSTs answering them come from
	// the same addresses and are counted too).
	src, err := capture.OpenInterfaces([]string{"lo"}, capture.LiveOptions{Filter: fmt.Sprintf("net 127.%d.0.0/16", net)})
	if errors.Is(err, capture.ErrPermission) {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, got := collect(t, Config{AuthorizedMasters: genMasters(net)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, src) }()

	out, err := exec.Command(tcpreplay, "-i", "lo", "--pps="+strconv.Itoa(pps), path).CombinedOutput()
	if err != nil {
		cancel()
		t.Fatalf("tcpreplay: %v\n%s", err, out)
	}
	// Wait (with a deadline) for the sensor to have read every packet
	// replayed; the kernel may answer some with RSTs of its own, which the
	// filter above does not all exclude (answers from PLC addresses).
	deadline := time.Now().Add(30 * time.Second)
	for s.Stats().Packets < uint64(n) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	t.Logf("replayed %d packets in %ds: sensor read %d, kernel %+v", n, seconds, st.Packets, st.Kernel)
	if len(st.Kernel) != 1 || st.Kernel[0].Drops != 0 {
		t.Fatalf("kernel drops: %+v", st.Kernel)
	}
	if st.Packets < uint64(n) {
		t.Fatalf("read %d packets of %d replayed", st.Packets, n)
	}
	byRule := map[string]int{}
	for _, a := range *got {
		byRule[a.RuleID]++
	}
	if byRule[rules.ModbusWriteUnauthorized] != (attacks+2)/3 || byRule[rules.DNP3ColdRestart] != attacks/3 {
		t.Fatalf("alerts %v for %d attacks", byRule, attacks)
	}
}
