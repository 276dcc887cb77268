package outstation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
)

// Stats counts what the outstation did; read it with Outstation.Stats.
type Stats struct {
	Accepted      uint64 // connections served
	Denied        uint64 // connections or requests refused by Allow
	Rejected      uint64 // connections over MaxClients
	WhileDown     uint64 // connections refused during a restart
	Requests      uint64 // application requests handled
	Ignored       uint64 // frames or fragments ignored (other address, bad, responses)
	Unsolicited   uint64 // unsolicited responses sent, retries included
	UnsolRetries  uint64
	UnsolFailures uint64 // unsolicited responses never confirmed
	Restarts      uint64
	Active        uint64 // connections (TCP) or sessions (UDP) open now
	Unsupported   uint64 // requests answered NO_FUNC_CODE_SUPPORT (unknown or unimplemented function)
	Repeats       uint64 // repeated requests answered with the previous response, not executed
	Overruns      uint64 // UDP frames dropped because their session's queue was full
}

type counters struct {
	accepted, denied, rejected, whileDown, requests, ignored atomic.Uint64
	unsol, unsolRetries, unsolFailures, restarts, active     atomic.Uint64
	unsupported, repeats, overruns                           atomic.Uint64
}

// selection is a pending SELECT awaiting its OPERATE.
type selection struct {
	s       *session
	seq     uint8
	objects []byte
	at      time.Time
}

// Outstation is a DNP3 outstation. Build it with New and run it with Serve.
type Outstation struct {
	cfg Config
	db  *Database
	log *slog.Logger
	c   counters

	mu         sync.Mutex
	iin        dnp3.IIN // DEVICE_RESTART, NEED_TIME, DEVICE_TROUBLE
	downUntil  time.Time
	timeOffset time.Duration
	lastSync   time.Time
	recordedAt time.Time
	sel        *selection
	stopped    bool
	sessions   map[*session]struct{}
	wg         sync.WaitGroup
}

// New validates cfg and builds an outstation. It starts with DEVICE_RESTART
// and NEED_TIME set, as a device just powered up.
func New(cfg Config) (*Outstation, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("outstation: %w", err)
	}
	o := &Outstation{cfg: cfg, log: cfg.Logger, sessions: map[*session]struct{}{},
		iin: dnp3.IINDeviceRestart | dnp3.IINNeedTime}
	o.db = newDatabase(cfg.Points, cfg.EventBufferSize, func() dnp3.Time { return dnp3.TimeOf(o.now()) }, o.notifyAll)
	return o, nil
}

// Database returns the point database the device model updates.
func (o *Outstation) Database() *Database { return o.db }

// Address returns the outstation's link address.
func (o *Outstation) Address() uint16 { return o.cfg.Address }

// IIN returns the device-wide internal indications (restart, need time,
// trouble, event classes, overflow).
func (o *Outstation) IIN() dnp3.IIN { return o.deviceIIN() }

// Stats returns a snapshot of the counters.
func (o *Outstation) Stats() Stats {
	return Stats{
		Accepted: o.c.accepted.Load(), Denied: o.c.denied.Load(), Rejected: o.c.rejected.Load(),
		WhileDown: o.c.whileDown.Load(), Requests: o.c.requests.Load(), Ignored: o.c.ignored.Load(),
		Unsolicited: o.c.unsol.Load(), UnsolRetries: o.c.unsolRetries.Load(),
		UnsolFailures: o.c.unsolFailures.Load(), Restarts: o.c.restarts.Load(),
		Active: o.c.active.Load(), Unsupported: o.c.unsupported.Load(),
		Repeats: o.c.repeats.Load(), Overruns: o.c.overruns.Load(),
	}
}

// Down reports whether the device is restarting (away).
func (o *Outstation) Down() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cfg.Now().Before(o.downUntil)
}

// now returns the outstation's clock: the host clock plus the offset set by
// the last time write.
func (o *Outstation) now() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cfg.Now().Add(o.timeOffset)
}

// Serve accepts connections on l until ctx is done or l fails, and waits for
// its connections to end before returning. It returns nil on cancellation.
func (o *Outstation) Serve(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); l.Close() }()
	defer o.wg.Wait()
	o.log.Info("dnp3 outstation serving", "addr", l.Addr().String(), "link", o.cfg.Address)
	sem := make(chan struct{}, o.cfg.MaxClients)
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("outstation: accept: %w", err)
		}
		remote := remoteAddr(c)
		switch {
		case o.cfg.Allow != nil && !o.cfg.Allow(remote):
			o.c.denied.Add(1)
			o.log.Info("dnp3 connection denied", "remote", remote)
			abort(c)
			continue
		case o.Down():
			o.c.whileDown.Add(1)
			abort(c)
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			o.c.rejected.Add(1)
			o.log.Warn("dnp3 connection over limit", "remote", remote, "max", o.cfg.MaxClients)
			abort(c)
			continue
		}
		o.c.accepted.Add(1)
		o.wg.Add(1)
		go func() {
			o.c.active.Add(1)
			defer func() { o.c.active.Add(^uint64(0)); <-sem; o.wg.Done() }()
			o.serveConn(ctx, c, remote)
		}()
	}
}

// remoteAddr returns the peer's IP address (zero if not IP).
func remoteAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// abort closes a connection with a reset, as a device that is not there.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// allowed re-checks the ACL for a request from remote.
func (o *Outstation) allowed(remote netip.Addr) bool {
	return o.cfg.Allow == nil || o.cfg.Allow(remote)
}

// notifyAll wakes the sessions to send unsolicited responses.
func (o *Outstation) notifyAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for s := range o.sessions {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// deviceIIN returns the IIN bits that do not depend on the request.
func (o *Outstation) deviceIIN() dnp3.IIN {
	o.mu.Lock()
	iin := o.iin
	if o.cfg.NeedTimeInterval > 0 && !o.lastSync.IsZero() && o.cfg.Now().Sub(o.lastSync) > o.cfg.NeedTimeInterval {
		iin |= dnp3.IINNeedTime
	}
	if o.stopped {
		iin |= dnp3.IINDeviceTrouble
	}
	o.mu.Unlock()
	mask, overflow := o.db.classMask()
	for c := 1; c <= 3; c++ {
		if mask&(1<<c) != 0 {
			iin |= dnp3.IINClass1Events << (c - 1)
		}
	}
	if overflow {
		iin |= dnp3.IINEventBufferOverflow
	}
	return iin
}

// restart takes the device away for its restart delay: every connection
// but keep (the one that asked, which closes itself once its response is
// out) is dropped with a reset, and new ones are refused until it is back,
// with DEVICE_RESTART and NEED_TIME set. A cold restart also clears the
// event buffer.
func (o *Outstation) restart(cold bool, keep *session) {
	delay := o.cfg.WarmRestartDelay
	if cold {
		delay = o.cfg.ColdRestartDelay
	}
	o.c.restarts.Add(1)
	o.log.Info("dnp3 outstation restarting", "cold", cold, "delay", delay)
	o.mu.Lock()
	o.downUntil = o.cfg.Now().Add(delay)
	o.iin |= dnp3.IINDeviceRestart | dnp3.IINNeedTime
	o.sel, o.stopped = nil, false
	sessions := make([]*session, 0, len(o.sessions))
	for s := range o.sessions {
		if s != keep {
			sessions = append(sessions, s)
		}
	}
	o.mu.Unlock()
	if cold {
		o.db.reset()
	}
	if lc, ok := o.cfg.Controls.(Lifecycle); ok {
		lc.Restart(cold)
	}
	for _, s := range sessions {
		s.close()
	}
}
