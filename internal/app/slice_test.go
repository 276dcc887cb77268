package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/otrange/otrange/internal/rangenet"
	"github.com/otrange/otrange/internal/wiretest"
	"github.com/otrange/otrange/scenarios/attack"
	"github.com/otrange/otrange/sensor"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/capture"
	"github.com/otrange/otrange/simulator"
	"github.com/otrange/otrange/simulator/scada"
)

var update = flag.Bool("update", false, "rewrite testdata/captures/slice.pcap from this run")

// TestSliceCaptureRaisesSameAlert records the plant's own traffic on lo
// (the HMI polling every PLC over Modbus/TCP and the RTU over DNP3, plus an
// Oldsmar-style write of the sodium hydroxide dose from the attacker), then
// runs the sensor over the file: it must raise the one alert for the write,
// and tshark must decode every frame without a malformed mark or warning.
func TestSliceCaptureRaisesSameAlert(t *testing.T) {
	const subnet = 81
	attacker := netip.MustParseAddr("127.66.81.1")
	rec := wiretest.Capture(t, func(p gopacket.Packet) bool {
		ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		return ok && (ip.SrcIP[1] == subnet || ip.DstIP[1] == subnet)
	})
	polls := make(chan struct{}, 100)
	plant, err := simulator.New(simulator.Config{Relocate: simulator.Subnet(subnet), OnHMI: func(u scada.Update) {
		if u.Online && u.Device == "plc-treatment" {
			select {
			case polls <- struct{}{}:
			default:
			}
		}
	}})
	if err != nil {
		t.Fatalf("plant: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { plant.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	waitPolls(t, polls, 3)
	target, _ := plant.Addr("plc-treatment")
	res, err := attack.WriteSetpoint{Target: target.String(), Source: attacker, Unit: 1, Register: 3, Value: 11100}.
		Run(context.Background(), rangenet.New(nil))
	if err != nil || !res.Succeeded {
		t.Fatalf("attack: %+v %v", res, err)
	}
	waitPolls(t, polls, 3)
	if dose, _ := plant.Read("plc-treatment", "naoh.dose"); dose != 11100 {
		t.Errorf("naoh.dose = %v after the attack", dose)
	}
	path := rec.Stop() // before shutting down, whose resets are not plant traffic
	cancel()
	<-done

	alerts := runSensorOnFile(t, path, plant)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts from the capture, want 1: %+v", len(alerts), alerts)
	}
	a := alerts[0]
	if a.RuleID != sensor.RuleUnauthorizedWrite || a.SrcAddr != attacker.String() || !contains(a.Techniques, "T0836") {
		t.Fatalf("alert from the capture: %+v", a)
	}

	modbusPorts, dnp3Ports := plant.Ports()
	var decodeAs []string
	for _, p := range modbusPorts {
		decodeAs = append(decodeAs, "-d", fmt.Sprintf("tcp.port==%d,mbtcp", p))
	}
	for _, p := range dnp3Ports {
		decodeAs = append(decodeAs, "-d", fmt.Sprintf("tcp.port==%d,dnp3", p))
	}
	out := wiretest.Tshark(t, path, append(decodeAs, "-Y", "_ws.malformed || _ws.expert.severity >= warning || dnp.hdr.CRC.status == 0 || dnp.data_chunk.CRC.status == 0")...)
	if len(out) != 0 {
		t.Fatalf("tshark marks frames malformed or with warnings:\n%s", out)
	}
	if n := wiretest.Tshark(t, path, append(decodeAs, "-Y", "dnp3")...); len(n) == 0 {
		t.Error("no DNP3 in the capture: the HMI did not poll the RTU")
	}
	writes := wiretest.Tshark(t, path, append(decodeAs, "-Y", "modbus.func_code == 6 && ip.src == "+attacker.String(), "-T", "fields", "-e", "modbus.reference_num", "-e", "modbus.data")...)
	if string(writes) != "3\t2b:5c\n" && string(writes) != "3\t2b5c\n" { // 11100 = 0x2b5c
		t.Fatalf("tshark sees the attack write as %q", writes)
	}

	if *update {
		copyFile(t, path, filepath.Join("..", "..", "testdata", "captures", "plant-slice.pcap"))
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

func runSensorOnFile(t *testing.T, path string, plant *simulator.Plant) []alert.Alert {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var got []alert.Alert
	modbusPorts, dnp3Ports := plant.Ports()
	s, err := sensor.New(sensor.Config{
		ModbusPorts: modbusPorts,
		DNP3Ports:   dnp3Ports,
		Policy:      Policy(plant),
		Sink:        alert.SinkFunc(func(a alert.Alert) { got = append(got, a) }),
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
