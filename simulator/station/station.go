// Package station hosts one device of the plant on the wire: it binds the
// device's own loopback address and port, runs its server, and takes it off
// the network for a while when the device restarts, so that a restarted PLC
// or outstation really is unreachable (connections are refused) until it
// comes back.
package station

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// ServeFunc serves connections on ln until ctx is done; it closes ln and
// every connection it opened before it returns.
type ServeFunc func(ctx context.Context, ln net.Listener) error

// Config describes a station.
type Config struct {
	Name string
	Addr netip.Addr
	// Port is tried first; FallbackPort when the process may not bind Port
	// (no root for 502 or 20000). Port 0 binds an ephemeral port (tests).
	Port, FallbackPort int
	Serve              ServeFunc
	Logger             *slog.Logger // nil: discard
}

// Station is one device's presence on the network.
type Station struct {
	cfg     Config
	log     *slog.Logger
	addr    netip.AddrPort
	restart chan time.Duration

	mu        sync.Mutex
	ln        net.Listener
	downUntil time.Time // zero while up
}

// ErrDown is returned by Restart while the station is already down.
var ErrDown = errors.New("station: device is restarting")

// New binds the station's address so a busy or forbidden port fails here.
func New(cfg Config) (*Station, error) {
	if cfg.Serve == nil {
		return nil, fmt.Errorf("station %s: no serve function", cfg.Name)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := Listen(cfg.Addr, cfg.Port, cfg.FallbackPort)
	if err != nil {
		return nil, fmt.Errorf("station %s: %w", cfg.Name, err)
	}
	addr, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("station %s: %w", cfg.Name, err)
	}
	return &Station{cfg: cfg, log: log, addr: addr, ln: ln, restart: make(chan time.Duration, 1)}, nil
}

// Listen binds TCP addr:port, or addr:fallback when port is refused for lack
// of rights.
func Listen(addr netip.Addr, port, fallback int) (net.Listener, error) {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, uint16(port)).String())
	if err != nil && fallback != 0 && errors.Is(err, syscall.EACCES) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, uint16(fallback)).String())
	}
	return ln, err
}

// AddrPort is where the station listens (the same across restarts).
func (s *Station) AddrPort() netip.AddrPort { return s.addr }

// Name is the device's name.
func (s *Station) Name() string { return s.cfg.Name }

// Up reports whether the device is on the network, and when it will be back
// if not.
func (s *Station) Up() (up bool, back time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.downUntil.IsZero(), s.downUntil
}

// Restart takes the device off the network for down, then brings it back.
// It returns at once.
func (s *Station) Restart(down time.Duration) error {
	if down <= 0 {
		return fmt.Errorf("station %s: restart time must be positive", s.cfg.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.downUntil.IsZero() {
		return ErrDown
	}
	select {
	case s.restart <- down:
		s.downUntil = time.Now().Add(down)
		return nil
	default:
		return ErrDown
	}
}

// Close releases the station's listener when Run was never called.
func (s *Station) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	err := s.ln.Close()
	s.ln = nil
	return err
}

// Run serves until ctx is done (nil) or the server fails (its error).
func (s *Station) Run(ctx context.Context) error {
	for {
		s.mu.Lock()
		ln := s.ln
		s.mu.Unlock()
		if ln == nil {
			return nil
		}
		serveCtx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { errc <- s.cfg.Serve(serveCtx, ln) }()
		var down time.Duration
		select {
		case <-ctx.Done():
			cancel()
			<-errc
			return nil
		case err := <-errc:
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			if err == nil {
				err = errors.New("server stopped")
			}
			return fmt.Errorf("station %s: %w", s.cfg.Name, err)
		case down = <-s.restart:
		}
		cancel()
		<-errc
		ln.Close()
		s.log.Info("device down for restart", "device", s.cfg.Name, "for", down)
		t := time.NewTimer(down)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		ln, err := s.rebind(ctx)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.ln = ln
		s.downUntil = time.Time{}
		s.mu.Unlock()
		s.log.Info("device back after restart", "device", s.cfg.Name)
	}
}

// rebind listens on the station's address again, retrying briefly while the
// port is still held.
func (s *Station) rebind(ctx context.Context) (net.Listener, error) {
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", s.addr.String()); err == nil {
			return ln, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("station %s: rebinding %s after restart: %w", s.cfg.Name, s.addr, err)
}
