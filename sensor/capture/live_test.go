//go:build linux

package capture

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// openOrSkip opens a live capture, skipping the test without the rights
// (CI runs as root and must not skip).
func openOrSkip(t *testing.T, names []string, opt LiveOptions) *Live {
	t.Helper()
	l, err := OpenInterfaces(names, opt)
	if errors.Is(err, ErrPermission) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must run the live tests: %v", err)
		}
		t.Skipf("no capture rights: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// udpTarget listens on a fresh UDP port of 127.0.0.1 and returns a
// connection sending to it. Filters name the host as well as the port:
// other tests may use the same port on another loopback address.
func udpTarget(t *testing.T) (*net.UDPConn, int) {
	t.Helper()
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c, err := net.DialUDP("udp", nil, ln.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, ln.LocalAddr().(*net.UDPAddr).Port
}

// readMarked reads until n packets carrying marker were seen or the
// deadline passes; it returns how many were seen.
func readMarked(t *testing.T, l *Live, marker string, n int) int {
	t.Helper()
	seen := 0
	deadline := time.Now().Add(10 * time.Second)
	for seen < n && time.Now().Before(deadline) {
		data, _, err := l.ReadPacketData()
		if errors.Is(err, ErrTimeout) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), marker) {
			seen++
		}
	}
	return seen
}

// TestLiveLoopback captures datagrams sent through lo: each is seen once
// (the outgoing copy is filtered in the kernel), the user's filter holds
// back other traffic, and the kernel's counters agree.
func TestLiveLoopback(t *testing.T) {
	c, port := udpTarget(t)
	other, _ := udpTarget(t)
	l := openOrSkip(t, []string{"lo"}, LiveOptions{Filter: fmt.Sprintf("udp dst port %d and dst host 127.0.0.1", port)})
	const n = 50
	for i := range n {
		other.Write([]byte("filtered-out"))
		c.Write(fmt.Appendf(nil, "live-test-%d", i))
	}
	if got := readMarked(t, l, "live-test-", n); got != n {
		t.Fatalf("saw %d of %d datagrams", got, n)
	}
	// Nothing else may be pending: no duplicate and nothing filtered out.
	for {
		data, _, err := l.ReadPacketData()
		if errors.Is(err, ErrTimeout) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Fatalf("unexpected packet after the %d datagrams: %q", n, data)
	}
	st := l.KernelStats()
	if len(st) != 1 || st[0].Name != "lo" || st[0].Packets < n || st[0].Drops != 0 || st[0].Captured != n {
		t.Fatalf("kernel stats %+v", st)
	}
}

// TestLiveCloseUnblocks: Close makes a pending read return ErrClosed.
func TestLiveCloseUnblocks(t *testing.T) {
	for _, names := range [][]string{{"lo"}, {"lo", "eth0"}} {
		if _, err := net.InterfaceByName(names[len(names)-1]); err != nil {
			continue
		}
		t.Run(strings.Join(names, "+"), func(t *testing.T) {
			l := openOrSkip(t, names, LiveOptions{Filter: "udp port 9", NoPromiscuous: true})
			errc := make(chan error, 1)
			go func() {
				for {
					_, _, err := l.ReadPacketData()
					if !errors.Is(err, ErrTimeout) {
						errc <- err
						return
					}
				}
			}()
			l.Close()
			select {
			case err := <-errc:
				if !errors.Is(err, ErrClosed) {
					t.Fatalf("read after Close: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not unblock the read")
			}
			if err := l.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
}

// TestLiveSeveralInterfaces captures on lo and eth0 at once (nothing is
// sent on eth0): the loopback datagrams arrive once each, with lo's index.
func TestLiveSeveralInterfaces(t *testing.T) {
	if _, err := net.InterfaceByName("eth0"); err != nil {
		t.Skip("no eth0 to capture beside lo")
	}
	c, port := udpTarget(t)
	l := openOrSkip(t, []string{"lo", "eth0"}, LiveOptions{Filter: fmt.Sprintf("udp dst port %d and dst host 127.0.0.1", port), NoPromiscuous: true})
	lo, _ := net.InterfaceByName("lo")
	const n = 20
	for i := range n {
		c.Write(fmt.Appendf(nil, "multi-test-%d", i))
	}
	seen := 0
	deadline := time.Now().Add(10 * time.Second)
	for seen < n && time.Now().Before(deadline) {
		data, ci, err := l.ReadPacketData()
		if errors.Is(err, ErrTimeout) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "multi-test-") {
			if ci.InterfaceIndex != lo.Index {
				t.Fatalf("datagram from interface %d, want lo (%d)", ci.InterfaceIndex, lo.Index)
			}
			seen++
		}
	}
	if seen != n {
		t.Fatalf("saw %d of %d", seen, n)
	}
	st := l.KernelStats()
	if len(st) != 2 || st[0].Name != "lo" || st[0].Captured != n || st[1].Name != "eth0" {
		t.Fatalf("kernel stats %+v", st)
	}
}

// TestOpenLiveKeepsPackets: OpenLive's packets are fresh slices that
// survive the next read.
func TestOpenLiveKeepsPackets(t *testing.T) {
	c, port := udpTarget(t)
	l, err := OpenLive("lo", 0)
	if errors.Is(err, ErrPermission) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_ = port
	c.Write([]byte("keep-1"))
	c.Write([]byte("keep-2"))
	var kept [][]byte
	for len(kept) < 2 {
		data, _, err := l.ReadPacketData()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "keep-") {
			kept = append(kept, data)
		}
	}
	if !strings.HasSuffix(string(kept[0]), "keep-1") || !strings.HasSuffix(string(kept[1]), "keep-2") {
		t.Fatalf("kept %q", kept)
	}
}
