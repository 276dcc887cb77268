package wiretest

import (
	"net"
	"strings"
	"testing"
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
