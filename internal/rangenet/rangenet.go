// Package rangenet is the range's safety guard: the one place that decides
// whether an address belongs to the range. Attack traffic and plant devices
// only ever use addresses it accepts: the loopback block 127.0.0.0/8 (and
// ::1), plus prefixes of network namespaces the project itself creates,
// which a caller must name explicitly. Every check runs before any dial.
package rangenet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// ErrOutsideRange is wrapped by every refusal.
var ErrOutsideRange = errors.New("outside the range (only 127.0.0.0/8 and ::1 are allowed)")

// Lookup resolves a host name to addresses; net.DefaultResolver.LookupNetIP fits.
type Lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)

// Guard checks addresses against the range's prefixes.
type Guard struct {
	prefixes []netip.Prefix
	lookup   Lookup
}

// loopback is always part of the range.
var loopback = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
}

// New returns a guard that accepts loopback and the given namespace prefixes.
// lookup nil means the system resolver.
func New(lookup Lookup, namespacePrefixes ...netip.Prefix) *Guard {
	if lookup == nil {
		lookup = net.DefaultResolver.LookupNetIP
	}
	p := append(append([]netip.Prefix(nil), loopback...), namespacePrefixes...)
	return &Guard{prefixes: p, lookup: lookup}
}

// CheckAddr refuses an address outside the range.
func (g *Guard) CheckAddr(a netip.Addr) error {
	a = a.Unmap()
	for _, p := range g.prefixes {
		if p.Contains(a) {
			return nil
		}
	}
	return fmt.Errorf("%s: %w", a, ErrOutsideRange)
}

// Resolve turns a host (literal or name) into one range address. A name is
// refused if any of its addresses lies outside the range, so a name cannot
// smuggle an outside target past the check.
func (g *Guard) Resolve(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), g.CheckAddr(a)
	}
	addrs, err := g.lookup(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolve %q: %w", host, err)
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("resolve %q: no addresses", host)
	}
	for _, a := range addrs {
		if err := g.CheckAddr(a); err != nil {
			return netip.Addr{}, fmt.Errorf("%q resolves to %w", host, err)
		}
	}
	return addrs[0].Unmap(), nil
}

// ResolveAddrPort resolves "host:port" to a range address and port.
func (g *Guard) ResolveAddrPort(ctx context.Context, hostport string) (netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("target %q: %w", hostport, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("target %q: bad port", hostport)
	}
	a, err := g.Resolve(ctx, host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// DialFunc dials a network address; net.Dialer.DialContext fits.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Dialer returns a DialFunc that checks source and target against the range
// before dialing, resolves names itself (so the dial uses the checked
// address), and binds the connection to source when it is valid.
func (g *Guard) Dialer(source netip.Addr) DialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		target, err := g.ResolveAddrPort(ctx, address)
		if err != nil {
			return nil, fmt.Errorf("refusing to dial: %w", err)
		}
		d := net.Dialer{}
		if source.IsValid() {
			if err := g.CheckAddr(source); err != nil {
				return nil, fmt.Errorf("refusing source: %w", err)
			}
			switch network {
			case "udp", "udp4", "udp6":
				d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(source, 0))
			default:
				d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(source, 0))
			}
		}
		return d.DialContext(ctx, network, target.String())
	}
}
