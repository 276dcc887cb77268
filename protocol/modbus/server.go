package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Server defaults, used when the ServerConfig field is zero.
const (
	DefaultMaxClients  = 16
	DefaultIdleTimeout = 60 * time.Second
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// Handler answers every request; required. Use a Mux to dispatch by
	// unit id.
	Handler Handler
	// MaxClients bounds the open connections; a connection beyond it is
	// closed at once. 0 means DefaultMaxClients.
	MaxClients int
	// IdleTimeout closes a connection that sends no complete request for
	// that long. 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Allow is the range's firewall: it is asked at accept and again before
	// each request, so blocking a host takes effect on open connections.
	// nil allows every host.
	Allow func(remote netip.Addr) bool
	// UnitZeroDirect answers every request to unit 0, writes included,
	// as a directly addressed Modbus/TCP device that accepts unit 0 for
	// itself does (pymodbus 3.0 clients send unit 0 unless told
	// otherwise). By default a write to unit 0 is a broadcast: executed,
	// never answered (see IsBroadcast).
	UnitZeroDirect bool
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// ServerStats counts what a Server did since it was created.
type ServerStats struct {
	Accepted  uint64 // connections admitted
	Rejected  uint64 // connections closed at accept because MaxClients was reached
	Denied    uint64 // connections closed by Allow, at accept or later
	Requests  uint64 // requests handed to the Handler
	Responses uint64 // responses sent, exceptions included
	Malformed uint64 // connections closed because of a malformed MBAP header
	Panics    uint64 // Handler panics, answered with ExServerDeviceFailure
	// Broadcasts counts broadcast requests (unit 0, a write): handed to
	// the Handler, never answered, exceptions included.
	Broadcasts uint64
}

// Server serves Modbus/TCP connections: it frames requests, asks the
// Handler, and writes responses with the request's transaction and unit id.
// A broadcast (unit 0 and a write function, see IsBroadcast) is handed to
// the Handler with a context marked by BroadcastRequest and not answered;
// a read to unit 0 is answered (and, with UnitZeroDirect, a write too).
type Server struct {
	cfg    ServerConfig
	log    *slog.Logger
	active atomic.Int64
	mu     sync.Mutex
	conns  map[net.Conn]netip.Addr
	stats  struct {
		accepted, rejected, denied, requests, responses, malformed, panics, broadcasts atomic.Uint64
	}
}

// NewServer validates cfg, fills defaults and returns a Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Handler == nil {
		return nil, errors.New("modbus: ServerConfig.Handler is nil")
	}
	if cfg.MaxClients < 0 || cfg.IdleTimeout < 0 {
		return nil, fmt.Errorf("modbus: negative MaxClients (%d) or IdleTimeout (%v)", cfg.MaxClients, cfg.IdleTimeout)
	}
	if cfg.MaxClients == 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log, conns: make(map[net.Conn]netip.Addr)}, nil
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() ServerStats {
	return ServerStats{
		Accepted: s.stats.accepted.Load(), Rejected: s.stats.rejected.Load(),
		Denied: s.stats.denied.Load(), Requests: s.stats.requests.Load(),
		Responses: s.stats.responses.Load(), Malformed: s.stats.malformed.Load(),
		Panics: s.stats.panics.Load(), Broadcasts: s.stats.broadcasts.Load(),
	}
}

// Clients returns the number of open connections.
func (s *Server) Clients() int { return int(s.active.Load()) }

// Serve accepts connections on ln until ctx is cancelled or ln fails, then
// closes ln and every connection and waits for them. It returns nil after a
// cancellation, the accept error otherwise.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	s.log.Info("modbus server listening", "addr", ln.Addr().String())
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("modbus: accept: %w", err)
		}
		if s.admit(c) {
			wg.Go(func() { s.serveConn(ctx, c) })
		}
	}
}

// admit applies Allow and MaxClients to a new connection, closing it when it
// is refused.
func (s *Server) admit(c net.Conn) bool {
	remote := remoteAddr(c)
	if !s.allowed(remote) {
		s.stats.denied.Add(1)
		s.log.Info("modbus connection denied", "remote", remote.String())
		c.Close()
		return false
	}
	if s.active.Add(1) > int64(s.cfg.MaxClients) {
		s.active.Add(-1)
		s.stats.rejected.Add(1)
		s.log.Warn("modbus connection rejected: too many clients", "remote", remote.String(), "max", s.cfg.MaxClients)
		c.Close()
		return false
	}
	s.stats.accepted.Add(1)
	return true
}

// allowed asks the Allow hook about remote.
func (s *Server) allowed(remote netip.Addr) bool {
	return s.cfg.Allow == nil || s.cfg.Allow(remote)
}

// remoteAddr returns the IP address of c's peer, or the zero Addr.
func remoteAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// serveConn reads requests from c and answers them until c fails, idles out,
// is denied, sends a malformed header, or ctx is cancelled.
func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer s.active.Add(-1)
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	remote := remoteAddr(c)
	s.track(c, remote)
	defer s.untrack(c)
	log := s.log.With("remote", remote.String())
	log.Debug("modbus connection open")
	buf := make([]byte, MaxADULen)
	out := make([]byte, 0, MaxADULen)
	var a ADU
	for {
		if err := s.readRequest(c, buf, &a); err != nil {
			s.logClose(log, err)
			return
		}
		if !s.allowed(remote) {
			s.stats.denied.Add(1)
			log.Info("modbus connection closed: host blocked")
			return
		}
		if !s.cfg.UnitZeroDirect && IsBroadcast(a.UnitID, a.PDU) {
			s.handle(withBroadcast(ctx), log, &a)
			s.stats.broadcasts.Add(1)
			continue // executed, never answered
		}
		resp, ok := s.handle(ctx, log, &a)
		if !ok {
			continue
		}
		out = AppendADU(out[:0], &ADU{TransactionID: a.TransactionID, UnitID: a.UnitID, PDU: resp})
		if err := s.write(c, out); err != nil {
			s.logClose(log, err)
			return
		}
		s.stats.responses.Add(1)
	}
}

// track records an open connection for Recheck.
func (s *Server) track(c net.Conn, remote netip.Addr) {
	s.mu.Lock()
	s.conns[c] = remote
	s.mu.Unlock()
}

// untrack forgets a closed connection.
func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Recheck asks Allow again about every open connection and closes those it
// now denies, so a block takes effect at once, even on a connection that
// sends nothing more. It returns how many it closed.
func (s *Server) Recheck() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c, remote := range s.conns {
		if !s.allowed(remote) {
			c.Close()
			delete(s.conns, c)
			s.stats.denied.Add(1)
			s.log.Info("modbus connection closed: host blocked", "remote", remote.String())
			n++
		}
	}
	return n
}

// readRequest reads one ADU from c into buf under the idle deadline; a.PDU
// aliases buf. A malformed MBAP header is an error: the connection cannot be
// resynchronised reliably, so the server closes it as devices do.
func (s *Server) readRequest(c net.Conn, buf []byte, a *ADU) error {
	if err := c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout)); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, buf[:MBAPLen]); err != nil {
		return err
	}
	if err := checkMBAPPrefix(buf[:MBAPLen]); err != nil {
		s.stats.malformed.Add(1)
		return err
	}
	n := 6 + int(binary.BigEndian.Uint16(buf[4:]))
	if _, err := io.ReadFull(c, buf[MBAPLen:n]); err != nil {
		return err
	}
	_, err := DecodeADU(buf[:n], a)
	return err
}

// write sends a response; a client that does not read it within the idle
// timeout is dropped.
func (s *Server) write(c net.Conn, b []byte) error {
	if err := c.SetWriteDeadline(time.Now().Add(s.cfg.IdleTimeout)); err != nil {
		return err
	}
	_, err := c.Write(b)
	return err
}

// logClose logs why a connection ends, quietly for ordinary ends.
func (s *Server) logClose(log *slog.Logger, err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		log.Debug("modbus connection closed")
	case errors.As(err, &ne) && ne.Timeout():
		log.Info("modbus connection closed: idle timeout")
	default:
		log.Warn("modbus connection closed", "err", err)
	}
}

// handle asks the Handler and turns its error into an exception response; ok
// is false when no response is to be sent.
func (s *Server) handle(ctx context.Context, log *slog.Logger, a *ADU) (resp PDU, ok bool) {
	s.stats.requests.Add(1)
	resp, err := s.call(ctx, a)
	if errors.Is(err, ErrNoResponse) {
		return PDU{}, false
	}
	if err != nil {
		var ee *ExceptionError
		if !errors.As(err, &ee) {
			log.Warn("modbus handler failed", "unit", a.UnitID, "function", a.PDU.Function.String(), "err", err)
			ee = Exception(a.PDU.Function, ExServerDeviceFailure)
		}
		return Exception(a.PDU.Function, ee.Code).PDU(), true
	}
	if resp.Len() > MaxPDULen {
		log.Error("modbus handler response too long", "function", a.PDU.Function.String(), "len", resp.Len())
		return Exception(a.PDU.Function, ExServerDeviceFailure).PDU(), true
	}
	return resp, true
}

// call runs the Handler, turning a panic into ExServerDeviceFailure.
func (s *Server) call(ctx context.Context, a *ADU) (resp PDU, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.stats.panics.Add(1)
			s.log.Error("modbus handler panic", "unit", a.UnitID, "function", a.PDU.Function.String(), "panic", fmt.Sprint(r))
			resp, err = PDU{}, Exception(a.PDU.Function, ExServerDeviceFailure)
		}
	}()
	return s.cfg.Handler.ServeModbus(ctx, a.UnitID, a.PDU)
}
