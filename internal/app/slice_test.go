package app

import (
	"context"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/otrange/otrange/internal/rangenet"
	"github.com/otrange/otrange/internal/wiretest"
	"github.com/otrange/otrange/scenarios/attack"
	"github.com/otrange/otrange/sensor"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/capture"
	"github.com/otrange/otrange/simulator"
	"github.com/otrange/otrange/simulator/hmi"
)

var update = flag.Bool("update", false, "rewrite testdata/captures/slice.pcap from this run")

// TestSliceCaptureRaisesSameAlert records the slice's own traffic on lo
// (HMI polling plus the attack), then runs the sensor over the file: it must
// raise the same single alert as live, and tshark must decode every frame
// as Modbus/TCP without a malformed mark.
func TestSliceCaptureRaisesSameAlert(t *testing.T) {
	plcAddr, hmiAddr, attacker := netip.MustParseAddr("127.10.81.10"), netip.MustParseAddr("127.10.82.10"), netip.MustParseAddr("127.66.81.1")
	rec := wiretest.Capture(t, func(p gopacket.Packet) bool {
		return wiretest.Host(plcAddr.AsSlice())(p)
	})
	cfg := simulator.DefaultConfig()
	cfg.PLCAddr, cfg.HMIAddr, cfg.ModbusPort, cfg.PollInterval = plcAddr, hmiAddr, 502, 100*time.Millisecond
	polls := make(chan struct{}, 100)
	cfg.Publish = func(s hmi.Snapshot) {
		if s.Online {
			select {
			case polls <- struct{}{}:
			default:
			}
		}
	}
	plant, err := simulator.New(cfg)
	if err != nil {
		t.Fatalf("plant: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { plant.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	waitPolls(t, polls, 3)
	res, err := attack.WriteSetpoint{Target: plant.PLCAddr().String(), Source: attacker, Unit: 1, Register: 1, Value: 3950}.
		Run(context.Background(), rangenet.New(nil))
	if err != nil || !res.Succeeded {
		t.Fatalf("attack: %+v %v", res, err)
	}
	waitPolls(t, polls, 3)
	cancel()
	<-done
	path := rec.Stop()

	alerts := runSensorOnFile(t, path)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts from the capture, want 1: %+v", len(alerts), alerts)
	}
	a := alerts[0]
	if a.RuleID != sensor.RuleUnauthorizedWrite || a.SrcAddr != attacker.String() || a.Value == nil || *a.Value != 3950 || !contains(a.Techniques, "T0836") {
		t.Fatalf("alert from the capture: %+v", a)
	}

	out := wiretest.Tshark(t, path, "-Y", "_ws.malformed || _ws.expert.severity >= warning")
	if len(out) != 0 {
		t.Fatalf("tshark marks frames malformed or with warnings:\n%s", out)
	}
	writes := wiretest.Tshark(t, path, "-Y", "modbus.func_code == 6 && ip.src == "+attacker.String(), "-T", "fields", "-e", "modbus.reference_num", "-e", "modbus.data")
	if string(writes) != "1\t0f:6e\n" && string(writes) != "1\t0f6e\n" { // 3950 = 0x0f6e
		t.Fatalf("tshark sees the attack write as %q\n%s", writes, wiretest.Tshark(t, path, "-Y", "modbus.func_code == 6", "-O", "modbus"))
	}

	if *update {
		copyFile(t, path, filepath.Join("..", "..", "testdata", "captures", "slice.pcap"))
	}
}

func waitPolls(t *testing.T, polls <-chan struct{}, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-polls:
		case <-time.After(10 * time.Second):
			t.Fatal("the HMI stopped polling")
		}
	}
}

func runSensorOnFile(t *testing.T, path string) []alert.Alert {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var got []alert.Alert
	s, err := sensor.New(sensor.Config{
		AuthorizedMasters: []netip.Addr{netip.MustParseAddr("127.10.82.10")},
		Sink:              alert.SinkFunc(func(a alert.Alert) { got = append(got, a) }),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	return got
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
}
