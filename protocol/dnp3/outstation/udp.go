package outstation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/dnp3/internal/linkio"
)

// udpQueue is how many frames wait for a UDP session before more are dropped.
const udpQueue = 16

// ServeUDP serves masters over UDP on pc until ctx is done or pc fails, and
// waits for its sessions to end before returning; it returns nil on
// cancellation. A datagram carries one or more whole link frames; a bad
// frame drops the rest of its datagram. Each source address and port is a
// session of its own (reassembly, unsolicited state, repeated requests),
// answered at that address and port, one datagram per response fragment.
// At most MaxClients sessions live at once; one ends after IdleTimeout
// without a frame. Allow and restarts apply as on TCP: a denied or
// restarting device drops datagrams silently, as a host that is not there.
//
// The same Outstation may serve TCP and UDP at once.
func (o *Outstation) ServeUDP(ctx context.Context, pc net.PacketConn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); pc.Close() }()
	var wg sync.WaitGroup
	defer wg.Wait()
	o.log.Info("dnp3 outstation serving UDP", "addr", pc.LocalAddr().String(), "link", o.cfg.Address)

	type udpSession struct {
		s      *session
		frames chan linkio.Frame
	}
	var mu sync.Mutex
	live := map[netip.AddrPort]*udpSession{}

	buf := make([]byte, linkio.MaxDatagram)
	var fr dnp3.Frame
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("outstation: UDP read: %w", err)
		}
		ua, ok := addr.(*net.UDPAddr)
		if !ok {
			o.c.ignored.Add(1)
			continue
		}
		ap := ua.AddrPort()
		remote := ap.Addr().Unmap()
		switch {
		case !o.allowed(remote):
			o.c.denied.Add(1)
			continue
		case o.Down():
			o.c.whileDown.Add(1)
			continue
		}
		mu.Lock()
		us := live[ap]
		if us == nil {
			if len(live) >= o.cfg.MaxClients {
				mu.Unlock()
				o.c.rejected.Add(1)
				continue
			}
			us = &udpSession{frames: make(chan linkio.Frame, udpQueue)}
			us.s = o.newSession(nil, remote, ap.String(), linkio.NewPacketWriter(pc, ua))
			live[ap] = us
			o.c.accepted.Add(1)
			o.c.active.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(live, ap)
					mu.Unlock()
					o.c.active.Add(^uint64(0))
				}()
				defer us.s.finish()
				o.log.Debug("dnp3 UDP session start", "remote", us.s.peer)
				us.s.run(ctx, us.frames, nil, o.cfg.IdleTimeout)
			}()
		}
		mu.Unlock()
		err = dnp3.DecodeDatagram(buf[:n], &fr, func(f *dnp3.Frame) error {
			select {
			case us.frames <- linkio.Frame{LinkHeader: f.LinkHeader, UserData: append([]byte(nil), f.UserData...)}:
			default:
				o.c.overruns.Add(1)
			}
			return nil
		})
		if err != nil {
			o.c.ignored.Add(1)
		}
	}
}
