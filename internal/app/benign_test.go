package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/otrange/otrange/internal/wiretest"
	"github.com/otrange/otrange/simulator"
	"github.com/otrange/otrange/simulator/plantdef"
)

// TestBenignCapture records the plant's own traffic alone (HMI polling over
// Modbus/TCP and DNP3, engineering-workstation maintenance) for
// OTRANGE_CAPTURE (default 8s; `make capture` records minutes), checks that
// tshark decodes it cleanly and that the sensor raises nothing on it. With
// -update it becomes testdata/captures/plant-benign.pcap; with
// OTRANGE_CAPTURE_OUT it is written there.
func TestBenignCapture(t *testing.T) {
	const subnet = 83
	d := 8 * time.Second
	if v, err := time.ParseDuration(os.Getenv("OTRANGE_CAPTURE")); err == nil && v > 0 {
		d = v
	}
	rec := wiretest.Capture(t, func(p gopacket.Packet) bool {
		ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		return ok && (ip.SrcIP[1] == subnet || ip.DstIP[1] == subnet)
	})
	def, err := simulator.LoadDef("")
	if err != nil {
		t.Fatal(err)
	}
	for i := range def.Devices {
		if def.Devices[i].Kind == plantdef.KindEWS {
			def.Devices[i].MaintenanceInterval = 2 * time.Second // maintenance within the capture
		}
	}
	plant, err := simulator.New(simulator.Config{Def: def, Relocate: simulator.Subnet(subnet)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- plant.Run(ctx) }()
	time.Sleep(d)      // recording the plant at work
	path := rec.Stop() // before shutting down, whose resets are not plant traffic
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	modbusPorts, dnp3Ports := plant.Ports()
	var decodeAs []string
	for _, p := range modbusPorts {
		decodeAs = append(decodeAs, "-d", fmt.Sprintf("tcp.port==%d,mbtcp", p))
	}
	for _, p := range dnp3Ports {
		decodeAs = append(decodeAs, "-d", fmt.Sprintf("tcp.port==%d,dnp3", p))
	}
	if out := wiretest.Tshark(t, path, append(decodeAs, "-Y", "_ws.malformed || _ws.expert.severity >= warning || dnp.hdr.CRC.status == 0 || dnp.data_chunk.CRC.status == 0")...); len(out) != 0 {
		t.Fatalf("tshark marks frames malformed or with warnings:\n%s", out)
	}
	for _, filter := range []string{"modbus", "dnp3", "modbus.func_code == 43", "dnp3.al.func == 130"} {
		if len(wiretest.Tshark(t, path, append(decodeAs, "-Y", filter)...)) == 0 {
			t.Errorf("no %q frames in the capture", filter)
		}
	}
	if alerts := runSensorOnFile(t, path, plant); len(alerts) != 0 {
		t.Errorf("%d alerts on benign traffic; first: %+v", len(alerts), alerts[0])
	}
	if *update {
		copyFile(t, path, filepath.Join("..", "..", "testdata", "captures", "plant-benign.pcap"))
	}
	if out := os.Getenv("OTRANGE_CAPTURE_OUT"); out != "" {
		copyFile(t, path, out)
		t.Logf("capture written to %s", out)
	}
}
