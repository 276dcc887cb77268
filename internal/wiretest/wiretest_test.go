package wiretest

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestCaptureSeesEachPacketOnce sends one datagram between two loopback
// hosts and checks it is recorded exactly once and that tshark reads the file.
func TestCaptureSeesEachPacketOnce(t *testing.T) {
	dst := net.IPv4(127, 99, 0, 2)
	rec := Capture(t, Host(dst))
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: dst})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 99, 0, 1)}, ln.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello-wiretest")); err != nil {
		t.Fatalf("write: %v", err)
	}
	path := rec.Stop()
	if n := len(rec.Packets()); n != 1 {
		t.Fatalf("recorded %d packets, want 1", n)
	}
	out := string(Tshark(t, path, "-T", "fields", "-e", "ip.src", "-e", "ip.dst"))
	if strings.TrimSpace(out) != "127.99.0.1\t127.99.0.2" {
		t.Fatalf("tshark says %q", out)
	}
}

// TestPcaps finds the shared captures from this package's folder and reads
// one to its end, frames numbered from 1.
func TestPcaps(t *testing.T) {
	if got, want := PcapDir(t), filepath.Join("..", "..", "..", "shared", "pcaps"); got != want {
		t.Fatalf("PcapDir = %q, want %q", got, want)
	}
	files := Pcaps(t, "zeek-modbusSmall.pcap")
	if len(files) != 1 {
		t.Fatalf("Pcaps = %q, want one file", files)
	}
	n := 0
	ReadPcap(t, files[0], gopacket.Default, func(frame int, p gopacket.Packet) {
		n++
		if frame != n {
			t.Fatalf("frame %d numbered %d", n, frame)
		}
		if p.Layer(layers.LayerTypeEthernet) == nil {
			t.Errorf("frame %d: no Ethernet layer", frame)
		}
	})
	if n == 0 {
		t.Fatal("no packets read")
	}
	if _, err := exec.LookPath("tshark"); err == nil {
		if want := strings.Count(string(Tshark(t, files[0], "-T", "fields", "-e", "frame.number")), "\n"); n != want {
			t.Errorf("read %d frames, tshark reads %d", n, want)
		}
	}
}
