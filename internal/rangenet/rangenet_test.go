package rangenet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
)

// staticLookup resolves from a fixed table, like a hosts file.
func staticLookup(table map[string][]string) Lookup {
	return func(_ context.Context, _, host string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, s := range table[host] {
			out = append(out, netip.MustParseAddr(s))
		}
		if out == nil {
			return nil, errors.New("no such host")
		}
		return out, nil
	}
}

func TestResolve(t *testing.T) {
	g := New(staticLookup(map[string][]string{
		"plc.range":  {"127.10.1.10"},
		"plc.evil":   {"10.0.0.5"},
		"plc.mixed":  {"127.10.1.10", "192.168.1.10"},
		"plc.public": {"8.8.8.8"},
	}), netip.MustParsePrefix("10.200.0.0/24"))
	cases := []struct {
		name, host string
		ok         bool
	}{
		{"loopback literal", "127.10.1.10", true},
		{"ipv6 loopback", "::1", true},
		{"mapped loopback", "::ffff:127.0.0.1", true},
		{"private literal", "10.0.0.1", false},
		{"public literal", "8.8.8.8", false},
		{"name in range", "plc.range", true},
		{"name resolving outside", "plc.evil", false},
		{"name with one outside address", "plc.mixed", false},
		{"public name", "plc.public", false},
		{"own namespace prefix", "10.200.0.7", true},
		{"beside own namespace prefix", "10.200.1.7", false},
		{"unresolvable", "nowhere", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := g.Resolve(context.Background(), tc.host)
			if tc.ok && err != nil {
				t.Fatalf("Resolve(%q) = %v, want ok", tc.host, err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("Resolve(%q) accepted an address outside the range", tc.host)
			}
		})
	}
}

// TestDialerRefusesBeforeDialing uses a listener that would accept anything:
// a refused target must not even be tried, which the error's kind shows.
func TestDialerRefusesBeforeDialing(t *testing.T) {
	g := New(staticLookup(map[string][]string{"plc.evil": {"10.0.0.5"}}))
	dial := g.Dialer(netip.MustParseAddr("127.66.0.1"))
	for _, target := range []string{"10.0.0.1:502", "plc.evil:502", "[2001:db8::1]:502"} {
		_, err := dial(context.Background(), "tcp", target)
		if !errors.Is(err, ErrOutsideRange) {
			t.Fatalf("dial %s: err = %v, want ErrOutsideRange", target, err)
		}
	}
	if _, err := g.Dialer(netip.MustParseAddr("10.0.0.9"))(context.Background(), "tcp", "127.0.0.1:1"); !errors.Is(err, ErrOutsideRange) {
		t.Fatalf("outside source accepted: %v", err)
	}
}

func TestDialerBindsSource(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Addr, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c.RemoteAddr()
			c.Close()
		}
	}()
	src := netip.MustParseAddr("127.66.0.1")
	c, err := New(nil).Dialer(src)(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.Close()
	got := (<-accepted).(*net.TCPAddr).AddrPort().Addr()
	if got != src {
		t.Fatalf("server saw %s, want %s", got, src)
	}
}
