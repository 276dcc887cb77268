package outstation

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/dnp3/internal/linkio"
)

// respControl is the link control of everything the outstation initiates.
var respControl = dnp3.NewControl(false, true, false, false, dnp3.LinkUnconfirmedUserData)

// unsolState is an unsolicited response awaiting its confirmation.
type unsolState struct {
	seq     uint8
	apdu    []byte
	ids     []uint64
	retries int
}

// session is one master: a TCP connection, or a UDP source address and
// port.
type session struct {
	o      *Outstation
	conn   net.Conn // nil for UDP
	remote netip.Addr
	peer   string // remote address and port, for logs
	w      *linkio.Writer
	reasm  *dnp3.Reassembler
	notify chan struct{}
	done   chan struct{}
	once   sync.Once

	master    uint16 // link address of the master, learned from requests
	broadcast bool   // a broadcast was received: report IIN1.0 once
	resp      []byte

	lastReq     []byte // the last request fragment, to spot a repeat
	lastRespond bool   // a response was sent to it (resp holds it)

	restarting bool // the device restarts: say goodbye in an orderly way
	abortive   bool // end with a reset (firewall deny)

	solSeq     uint8    // sequence of the response awaiting confirmation
	solPending []uint64 // events in that response

	unsolMask    uint8 // classes enabled (bits 1-3)
	unsolNull    bool  // the start-up null response was confirmed
	unsolSeq     uint8
	unsol        *unsolState
	unsolTimer   *time.Timer
	unsolOffline time.Time
}

// restartLinger bounds how long a session that answered a restart waits
// for the master to close its side before closing the connection.
const restartLinger = time.Second

// close ends the session with a reset, as a device that vanished
// (idempotent).
func (s *session) close() { s.end(true) }

// end ends the session (idempotent): abortive sends a reset, otherwise the
// connection is closed in the ordinary way.
func (s *session) end(abortive bool) {
	s.once.Do(func() {
		close(s.done)
		switch {
		case s.conn == nil:
		case abortive:
			abort(s.conn)
		default:
			s.conn.Close()
		}
	})
}

// newSession registers a session for remote that writes with w.
func (o *Outstation) newSession(conn net.Conn, remote netip.Addr, peer string, w *linkio.Writer) *session {
	s := &session{
		o: o, conn: conn, remote: remote, peer: peer, w: w,
		reasm:  dnp3.NewReassembler(dnp3.DefaultMaxFragment),
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
		master: o.cfg.MasterAddress,
	}
	s.unsolTimer = time.NewTimer(time.Hour)
	s.unsolTimer.Stop()
	o.mu.Lock()
	o.sessions[s] = struct{}{}
	o.mu.Unlock()
	return s
}

// finish unregisters the session and gives back what it held.
func (s *session) finish() {
	o := s.o
	o.mu.Lock()
	delete(o.sessions, s)
	if o.sel != nil && o.sel.s == s {
		o.sel = nil
	}
	o.mu.Unlock()
	s.unsolTimer.Stop()
	o.db.release(s)
	s.end(s.abortive)
}

// serveConn runs one TCP connection until it ends.
func (o *Outstation) serveConn(ctx context.Context, c net.Conn, remote netip.Addr) {
	s := o.newSession(c, remote, c.RemoteAddr().String(), linkio.NewWriter(c, 10*time.Second))
	defer s.finish()
	frames := make(chan linkio.Frame)
	errc := make(chan error, 1)
	r := linkio.NewReader(c, o.cfg.IdleTimeout)
	go func() {
		for {
			f, err := r.Next()
			if err != nil {
				errc <- err
				return
			}
			select {
			case frames <- f:
			case <-s.done:
				return
			}
		}
	}()
	o.log.Debug("dnp3 session start", "remote", s.peer)
	s.run(ctx, frames, errc, 0)
}

// run is the session's loop: frames arrive on frames (from a reader
// goroutine or the UDP dispatcher), this goroutine acts. It returns when
// the context ends, the session is closed, errc delivers, or no frame came
// for idle (0: never).
func (s *session) run(ctx context.Context, frames <-chan linkio.Frame, errc <-chan error, idle time.Duration) {
	var idleC <-chan time.Time
	var idleT *time.Timer
	if idle > 0 {
		idleT = time.NewTimer(idle)
		defer idleT.Stop()
		idleC = idleT.C
	}
	if s.o.cfg.Unsolicited {
		s.sendUnsol(nil, nil)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case err := <-errc:
			s.o.log.Debug("dnp3 session end", "remote", s.peer, "err", err)
			return
		case <-idleC:
			s.o.log.Debug("dnp3 session idle", "remote", s.peer)
			return
		case f := <-frames:
			if idleT != nil {
				idleT.Reset(idle)
			}
			if !s.o.allowed(s.remote) {
				s.o.c.denied.Add(1)
				s.o.log.Info("dnp3 request denied, closing", "remote", s.peer)
				s.abortive = true
				return
			}
			s.onFrame(f)
			if s.restarting {
				s.linger(ctx, frames, errc)
				return
			}
		case <-s.notify:
		case <-s.unsolTimer.C:
			s.onUnsolTimeout()
		}
		s.tryUnsol()
	}
}

// linger closes the session in an orderly way after the restart response:
// every octet written so far, then FIN; what the master still sends is
// read and ignored until it closes its side or restartLinger passes, so
// the connection does not end with a reset that could destroy the
// response before the master reads it.
func (s *session) linger(ctx context.Context, frames <-chan linkio.Frame, errc <-chan error) {
	s.w.CloseWrite()
	if s.conn == nil {
		return
	}
	t := time.NewTimer(restartLinger)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-errc:
			return
		case <-t.C:
			return
		case <-frames:
			s.o.c.ignored.Add(1)
		}
	}
}

// onFrame handles the link layer: link services and user data.
func (s *session) onFrame(f linkio.Frame) {
	bcast := dnp3.IsBroadcast(f.Destination)
	if (f.Destination != s.o.cfg.Address && !bcast) || !f.Control.Prm() {
		s.o.c.ignored.Add(1)
		return
	}
	reply := func(fn dnp3.LinkFunc) {
		if !bcast {
			s.w.Link(dnp3.NewControl(false, false, false, false, fn), f.Source, s.o.cfg.Address)
		}
	}
	switch f.Control.Func() {
	case dnp3.LinkResetLinkStates, dnp3.LinkTestLinkStates:
		reply(dnp3.LinkAck)
		return
	case dnp3.LinkRequestLinkStatus:
		reply(dnp3.LinkStatus)
		return
	case dnp3.LinkConfirmedUserData:
		reply(dnp3.LinkAck)
	case dnp3.LinkUnconfirmedUserData:
	default:
		reply(dnp3.LinkNotSupported)
		return
	}
	frag, err := s.reasm.Push(f.UserData)
	if err != nil {
		s.o.c.ignored.Add(1)
		return
	}
	if frag != nil {
		s.onFragment(f.Source, bcast, frag)
	}
}

// onFragment handles one application fragment from the master.
func (s *session) onFragment(src uint16, bcast bool, raw []byte) {
	frag, err := dnp3.ParseFragment(raw)
	if err != nil || frag.Function.IsResponse() || !frag.Control.FIR() || !frag.Control.FIN() {
		s.o.c.ignored.Add(1)
		return
	}
	if !bcast {
		s.master = src
	}
	if frag.Function == dnp3.FuncConfirm {
		s.onConfirm(frag.Control)
		return
	}
	if !bcast && s.repeat(frag, raw) {
		return
	}
	s.o.c.requests.Add(1)
	if s.solPending != nil { // a new request cancels a pending confirmation
		s.o.db.unclaim(s.solPending)
		s.solPending = nil
	}
	res := s.o.handle(s, frag, s.resp[:0], bcast)
	s.resp = res.apdu
	if res.unsupported {
		s.o.c.unsupported.Add(1)
		s.o.log.Debug("dnp3 function not supported", "remote", s.peer, "function", frag.Function.String())
	}
	s.lastReq, s.lastRespond = append(s.lastReq[:0], raw...), false
	if bcast {
		s.broadcast = true
		s.lastReq = s.lastReq[:0] // a broadcast is never a repeat of a request
	} else if res.respond {
		if s.broadcast {
			s.resp[2] |= dnp3.IINBroadcast.IIN1()
			s.broadcast = false
		}
		if res.events != nil {
			s.solSeq, s.solPending = frag.Control.Seq(), res.events
		}
		s.lastRespond = true
		s.w.APDU(respControl, s.master, s.o.cfg.Address, s.resp)
	}
	if res.restart {
		s.restarting = true
		s.o.restart(res.cold, s)
	}
}

// repeat handles a request identical to the previous one (same sequence
// number, same octets), as IEEE 1815 asks: the previous response is sent
// again and the request is not executed twice, which matters for OPERATE
// and DIRECT_OPERATE. A repeated READ is executed again unless its
// response still awaits confirmation (then the same events go again).
// It reports whether the request was a repeat.
func (s *session) repeat(frag dnp3.Fragment, raw []byte) bool {
	if len(s.lastReq) == 0 || !bytes.Equal(raw, s.lastReq) {
		return false
	}
	if frag.Function == dnp3.FuncRead && s.solPending == nil {
		return false
	}
	s.o.c.repeats.Add(1)
	if s.lastRespond {
		s.w.APDU(respControl, s.master, s.o.cfg.Address, s.resp)
	}
	return true
}

// onConfirm matches an application confirm to what awaits it.
func (s *session) onConfirm(c dnp3.AppControl) {
	if c.UNS() {
		if s.unsol == nil || c.Seq() != s.unsol.seq {
			s.o.c.ignored.Add(1)
			return
		}
		s.unsolTimer.Stop()
		s.o.db.confirm(s.unsol.ids)
		s.unsolNull = true
		s.unsol = nil
		s.unsolSeq = (s.unsolSeq + 1) & 0x0F
		return
	}
	if s.solPending == nil || c.Seq() != s.solSeq {
		s.o.c.ignored.Add(1)
		return
	}
	s.o.db.confirm(s.solPending)
	s.solPending = nil
}

// tryUnsol sends an unsolicited response when one is due: the null one at
// start-up until confirmed, then events of the enabled classes.
func (s *session) tryUnsol() {
	o := s.o
	if !o.cfg.Unsolicited || s.unsol != nil || s.solPending != nil || o.cfg.Now().Before(s.unsolOffline) {
		return
	}
	if !s.unsolNull {
		s.sendUnsol(nil, nil)
		return
	}
	if s.unsolMask == 0 {
		return
	}
	b := dnp3.AppendResponseHeader(nil, 0, dnp3.FuncUnsolicited, 0)
	ids, b := o.appendEvents(s, b, s.unsolMask, numTypes, 0, o.cfg.MaxFragment, 1<<30)
	if len(ids) == 0 {
		return
	}
	s.sendUnsol(b[4:], ids)
}

// sendUnsol sends an unsolicited response with the given objects (none for
// the null response) and starts waiting for its confirmation.
func (s *session) sendUnsol(objects []byte, ids []uint64) {
	o := s.o
	ac := dnp3.NewAppControl(true, true, true, true, s.unsolSeq)
	apdu := dnp3.AppendResponseHeader(nil, ac, dnp3.FuncUnsolicited, o.deviceIIN())
	apdu = append(apdu, objects...)
	s.unsol = &unsolState{seq: s.unsolSeq, apdu: apdu, ids: ids, retries: o.cfg.UnsolRetries}
	o.c.unsol.Add(1)
	s.w.APDU(respControl, s.master, o.cfg.Address, apdu)
	s.unsolTimer.Reset(o.cfg.UnsolConfirmTimeout)
}

// onUnsolTimeout retries an unconfirmed unsolicited response, identical,
// or gives up for UnsolOfflineInterval when the retries are spent.
func (s *session) onUnsolTimeout() {
	o := s.o
	u := s.unsol
	if u == nil {
		return
	}
	if u.retries <= 0 {
		o.c.unsolFailures.Add(1)
		o.log.Info("dnp3 unsolicited response not confirmed", "remote", s.remote, "seq", u.seq)
		o.db.unclaim(u.ids)
		s.unsol = nil
		s.unsolSeq = (s.unsolSeq + 1) & 0x0F
		s.unsolOffline = o.cfg.Now().Add(o.cfg.UnsolOfflineInterval)
		return
	}
	u.retries--
	o.c.unsol.Add(1)
	o.c.unsolRetries.Add(1)
	s.w.APDU(respControl, s.master, o.cfg.Address, u.apdu)
	s.unsolTimer.Reset(o.cfg.UnsolConfirmTimeout)
}
