package runner

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	scenario "github.com/otrange/otrange/scenarios"
)

// Bounds of net.discover.
const (
	// MaxProbes bounds the probes of one step (hosts × ports).
	MaxProbes = 1 << 20
	// discoverParallel bounds the probes in flight.
	discoverParallel = 64
)

// hosts returns the addresses the discovery covers: every host of a prefix
// (without its network and broadcast addresses when it has them), or the
// one address of a device or literal address.
func (x *execution) hosts() ([]netip.Addr, error) {
	t := x.st.Target
	if d := x.r.device(t); d != nil {
		return []netip.Addr{d.Address}, nil
	}
	if a, err := netip.ParseAddr(t); err == nil {
		return []netip.Addr{a}, nil
	}
	p, err := netip.ParsePrefix(t)
	if err != nil {
		return nil, fmt.Errorf("target %q is neither a device, an address nor a prefix", t)
	}
	p = p.Masked()
	if !p.Addr().Is4() || p.Bits() < 16 {
		return nil, fmt.Errorf("target %s: net.discover covers an IPv4 prefix of at most /16", p)
	}
	// 127.0.0.0/8 is one block: a prefix whose first and last addresses
	// are in the range lies in it entirely. Checked before any probe.
	last := p.Addr()
	for range 1<<(32-p.Bits()) - 1 {
		last = last.Next()
	}
	for _, a := range []netip.Addr{p.Addr(), last} {
		if err := x.r.cfg.Guard.CheckAddr(a); err != nil {
			return nil, fmt.Errorf("target refused: %w", err)
		}
	}
	var out []netip.Addr
	for a := p.Addr(); p.Contains(a); a = a.Next() {
		if p.Bits() <= 30 && (a == p.Addr() || a == last) {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// probeTarget maps a probe to where it really goes: a device of the plant
// probed on its protocol's configured port is reached where it listens
// (which differs when the range binds other ports).
func (x *execution) probeTarget(a netip.Addr, port uint16) netip.AddrPort {
	ap := netip.AddrPortFrom(a, port)
	dev := x.r.deviceAt(a)
	if dev == nil {
		return ap
	}
	for _, proto := range []string{protoModbus, protoDNP3} {
		var conf int
		switch {
		case proto == protoModbus && dev.Modbus != nil:
			conf = dev.Modbus.Port
		case proto == protoDNP3 && dev.DNP3 != nil:
			conf = dev.DNP3.Port
		default:
			continue
		}
		if int(port) == conf {
			if e, err := x.r.endpoint(dev, proto); err == nil {
				return e
			}
		}
	}
	return ap
}

// discover is a TCP connect scan: one connection attempt per host and port,
// at most Rate per exercise second, each bounded by Timeout. An open port
// is closed at once. Frames counts the probes.
func (x *execution) discover(ctx context.Context, p *scenario.NetDiscover) error {
	hosts, err := x.hosts()
	if err != nil {
		return err
	}
	total := len(hosts) * len(p.Ports)
	if total > MaxProbes {
		return fmt.Errorf("net.discover: %d probes, at most %d", total, MaxProbes)
	}
	if len(hosts) == 1 {
		x.rec.Destination = hosts[0].String()
	} else {
		x.rec.Destination = x.st.Target
	}
	clk := x.r.cfg.Clock
	start, wallStart := clk.Now(), time.Now()
	dial := x.dialer("")
	sem := make(chan struct{}, discoverParallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	i := 0
	for _, h := range hosts {
		for _, port := range p.Ports {
			if err := pace(ctx, clk, start, i, p.Rate); err != nil {
				wg.Wait()
				return err
			}
			if err := paceWall(ctx, wallStart, i, x.r.cfg.MaxProbeRate); err != nil {
				wg.Wait()
				return err
			}
			i++
			ap := x.probeTarget(h, port)
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				wg.Wait()
				return ctx.Err()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				pctx, cancel := context.WithTimeout(ctx, p.Timeout.D())
				defer cancel()
				x.sent(1)
				c, err := dial(pctx, "tcp", ap.String())
				if err != nil {
					return
				}
				c.Close()
				mu.Lock()
				open++
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	x.r.log.Info("discovery", "step", x.st.ID, "probes", total, "open", open)
	if err := ctx.Err(); err != nil {
		return err
	}
	// The probes left: the scan succeeded on the wire, whatever it found.
	x.ok()
	return nil
}

// paceWall waits until the i-th probe may start at rate probes per wall
// second: an accelerated exercise compresses a sweep, but not beyond what
// the machine (and a sensor watching it) can take.
func paceWall(ctx context.Context, start time.Time, i, rate int) error {
	d := time.Until(start.Add(time.Duration(int64(i) * int64(time.Second) / int64(rate))))
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
