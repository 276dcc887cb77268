package outstation

import (
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

// session is one master connection.
type session struct {
	o      *Outstation
	conn   net.Conn
	remote netip.Addr
	w      *linkio.Writer
	reasm  *dnp3.Reassembler
	notify chan struct{}
	done   chan struct{}
	once   sync.Once

	master    uint16 // link address of the master, learned from requests
	broadcast bool   // a broadcast was received: report IIN1.0 once
	resp      []byte

	solSeq     uint8    // sequence of the response awaiting confirmation
	solPending []uint64 // events in that response

	unsolMask    uint8 // classes enabled (bits 1-3)
	unsolNull    bool  // the start-up null response was confirmed
	unsolSeq     uint8
	unsol        *unsolState
	unsolTimer   *time.Timer
	unsolOffline time.Time
}

// close ends the session (idempotent).
func (s *session) close() {
	s.once.Do(func() {
		close(s.done)
		abort(s.conn)
	})
}

// serveConn runs one connection until it ends.
func (o *Outstation) serveConn(ctx context.Context, c net.Conn, remote netip.Addr) {
	s := &session{
		o: o, conn: c, remote: remote,
		w:      linkio.NewWriter(c, 10*time.Second),
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
	defer func() {
		o.mu.Lock()
		delete(o.sessions, s)
		if o.sel != nil && o.sel.s == s {
			o.sel = nil
		}
		o.mu.Unlock()
		s.unsolTimer.Stop()
		o.db.release(s)
		s.close()
	}()
	o.log.Debug("dnp3 session start", "remote", remote)
	s.run(ctx)
}

// run is the session's loop: one goroutine reads frames, this one acts.
func (s *session) run(ctx context.Context) {
	frames := make(chan linkio.Frame)
	errc := make(chan error, 1)
	r := linkio.NewReader(s.conn, s.o.cfg.IdleTimeout)
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
			s.o.log.Debug("dnp3 session end", "remote", s.remote, "err", err)
			return
		case f := <-frames:
			if !s.o.allowed(s.remote) {
				s.o.c.denied.Add(1)
				s.o.log.Info("dnp3 request denied, closing", "remote", s.remote)
				return
			}
			s.onFrame(f)
		case <-s.notify:
		case <-s.unsolTimer.C:
			s.onUnsolTimeout()
		}
		s.tryUnsol()
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
	s.o.c.requests.Add(1)
	if s.solPending != nil { // a new request cancels a pending confirmation
		s.o.db.unclaim(s.solPending)
		s.solPending = nil
	}
	res := s.o.handle(s, frag, s.resp[:0], bcast)
	s.resp = res.apdu
	if bcast {
		s.broadcast = true
	} else if res.respond {
		if s.broadcast {
			s.resp[2] |= dnp3.IINBroadcast.IIN1()
			s.broadcast = false
		}
		if res.events != nil {
			s.solSeq, s.solPending = frag.Control.Seq(), res.events
		}
		s.w.APDU(respControl, s.master, s.o.cfg.Address, s.resp)
	}
	if res.restart {
		s.o.restart(res.cold)
	}
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
