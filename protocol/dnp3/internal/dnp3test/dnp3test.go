// Package dnp3test holds helpers for the DNP3 packages' tests: fresh
// loopback listeners (TCP or UDP) on the DNP3 port, a settable clock, and waiting on
// conditions without sleeps.
package dnp3test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// Listen listens on a fresh loopback address (127.x.y.z, not shared with
// other tests) on port (20000 makes tshark dissect DNP3). The listener is
// closed when the test ends.
func Listen(t testing.TB, port int) net.Listener {
	t.Helper()
	var last error
	for range 50 {
		a := netip.AddrFrom4([4]byte{127, byte(100 + rand.IntN(100)), byte(1 + rand.IntN(254)), byte(1 + rand.IntN(254))})
		l, err := net.Listen("tcp4", netip.AddrPortFrom(a, uint16(port)).String())
		if err == nil {
			t.Cleanup(func() { l.Close() })
			return l
		}
		last = err
	}
	t.Fatalf("dnp3test: no free loopback address: %v", last)
	return nil
}

// ListenUDP opens a UDP socket on a fresh loopback address on port, closed
// when the test ends.
func ListenUDP(t testing.TB, port int) net.PacketConn {
	t.Helper()
	var last error
	for range 50 {
		a := netip.AddrFrom4([4]byte{127, byte(100 + rand.IntN(100)), byte(1 + rand.IntN(254)), byte(1 + rand.IntN(254))})
		pc, err := net.ListenPacket("udp4", netip.AddrPortFrom(a, uint16(port)).String())
		if err == nil {
			t.Cleanup(func() { pc.Close() })
			return pc
		}
		last = err
	}
	t.Fatalf("dnp3test: no free loopback address for UDP: %v", last)
	return nil
}

// Clock is a settable clock for configs that take Now func() time.Time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Eventually polls cond every few milliseconds until it holds or the
// deadline passes, then fails the test with what.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Addr returns l's address as host:port.
func Addr(l net.Listener) string { return l.Addr().String() }

// Must fails the test on err.
func Must(t testing.TB, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}
