// Package master is a DNP3 master over TCP or UDP: the range's HMI and
// engineering workstation poll outstations with it, and attack steps use its
// raw mode to send any function code, any object bytes, to any destination
// (broadcast included) from any link source address.
//
// Over UDP (Config.Network "udp") the master uses a connected socket: each
// request goes out as one datagram, and each datagram that comes back must
// hold whole link frames.
package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/dnp3/internal/linkio"
)

// Errors returned by the master.
var (
	ErrTimeout   = errors.New("dnp3 master: no response in time")
	ErrClosed    = errors.New("dnp3 master: connection closed")
	ErrNoObjects = errors.New("dnp3 master: response lacks the expected object")
)

// IINError is returned when a response reports that the request failed
// (function not supported, object unknown, parameter error).
type IINError struct{ IIN dnp3.IIN }

func (e *IINError) Error() string { return "dnp3 master: outstation reports " + e.IIN.String() }

// iinFailures are the IIN bits that mean a request failed.
const iinFailures = dnp3.IINNoFuncCodeSupport | dnp3.IINObjectUnknown | dnp3.IINParameterError

// Config configures a Master. Zero fields take the defaults shown.
type Config struct {
	Address    uint16 // the master's link address (default 1)
	Outstation uint16 // the outstation's link address (default 10)
	Network    string // "tcp" (default) or "udp"
	Addr       string // host:port of the outstation
	// Dial opens the connection (default net.Dialer). Attacks pass a guarded,
	// source-bound dialer.
	Dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	Timeout time.Duration // wait for each response fragment (default 5s)
	// EnableUnsolicited sends ENABLE_UNSOLICITED for classes 1-3 on Connect.
	EnableUnsolicited bool
	// OnUnsolicited receives unsolicited responses (confirmed already when
	// asked). It runs on the reader goroutine and must not block.
	OnUnsolicited func(*Response)
	Logger        *slog.Logger
}

// Master talks to one outstation over one connection. Requests are
// serialised; it is safe for concurrent use.
type Master struct {
	cfg Config
	log *slog.Logger

	mu   sync.Mutex // one request at a time
	conn net.Conn
	w    *linkio.Writer
	seq  uint8
	frag chan []byte       // solicited response fragments
	link chan linkio.Frame // secondary link frames
	done chan struct{}
	err  error
}

// New checks cfg and returns an unconnected master.
func New(cfg Config) (*Master, error) {
	if cfg.Address == 0 {
		cfg.Address = 1
	}
	if cfg.Outstation == 0 {
		cfg.Outstation = 10
	}
	if cfg.Network == "" {
		cfg.Network = "tcp"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	if cfg.Network != "tcp" && cfg.Network != "udp" && cfg.Network != "tcp4" && cfg.Network != "udp4" {
		return nil, fmt.Errorf("dnp3 master: network %q: want tcp or udp", cfg.Network)
	}
	if cfg.Addr == "" {
		return nil, errors.New("dnp3 master: no outstation address")
	}
	return &Master{cfg: cfg, log: cfg.Logger}, nil
}

// Connect dials the outstation and starts reading. With EnableUnsolicited
// it then enables unsolicited responses for classes 1-3.
func (m *Master) Connect(ctx context.Context) error {
	c, err := m.cfg.Dial(ctx, m.cfg.Network, m.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dnp3 master: dial %s: %w", m.cfg.Addr, err)
	}
	m.mu.Lock()
	m.conn, m.w = c, linkio.NewWriter(c, m.cfg.Timeout)
	m.frag, m.link, m.done, m.err = make(chan []byte, 4), make(chan linkio.Frame, 4), make(chan struct{}), nil
	m.mu.Unlock()
	go m.readLoop(c, m.w, m.frag, m.link, m.done)
	if m.cfg.EnableUnsolicited {
		if _, err := m.EnableUnsolicited(ctx, Class1|Class2|Class3); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the connection.
func (m *Master) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn == nil {
		return nil
	}
	err := m.conn.Close()
	<-m.done
	m.conn = nil
	if errors.Is(err, net.ErrClosed) { // the reader closed it when the outstation left
		err = nil
	}
	return err
}

// LocalAddr returns the connection's local address (nil before Connect).
func (m *Master) LocalAddr() net.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn == nil {
		return nil
	}
	return m.conn.LocalAddr()
}

// readLoop reads frames until the connection ends: it answers link
// services, confirms what asks for it, hands solicited fragments to the
// waiting request and unsolicited ones to OnUnsolicited.
func (m *Master) readLoop(c net.Conn, w *linkio.Writer, frags chan []byte, links chan linkio.Frame, done chan struct{}) {
	r := linkio.NewReader(c, 0)
	if m.packet() {
		r = linkio.NewPacketReader(c, 0)
	}
	reasm := dnp3.NewReassembler(dnp3.MaxFragmentLimit)
	var err error
	defer func() {
		m.err = err
		c.Close() // the outstation left or the connection broke: release it
		close(done)
	}()
	for {
		var f linkio.Frame
		if f, err = r.Next(); err != nil {
			return
		}
		if !f.Control.Prm() {
			select {
			case links <- f:
			default:
			}
			continue
		}
		switch f.Control.Func() {
		case dnp3.LinkResetLinkStates, dnp3.LinkTestLinkStates:
			w.Link(dnp3.NewControl(true, false, false, false, dnp3.LinkAck), f.Source, m.cfg.Address)
			continue
		case dnp3.LinkRequestLinkStatus:
			w.Link(dnp3.NewControl(true, false, false, false, dnp3.LinkStatus), f.Source, m.cfg.Address)
			continue
		case dnp3.LinkConfirmedUserData:
			w.Link(dnp3.NewControl(true, false, false, false, dnp3.LinkAck), f.Source, m.cfg.Address)
		case dnp3.LinkUnconfirmedUserData:
		default:
			continue
		}
		raw, perr := reasm.Push(f.UserData)
		if perr != nil || raw == nil {
			continue
		}
		m.onFragment(w, frags, f.Source, raw)
	}
}

// packet reports whether the master runs over UDP.
func (m *Master) packet() bool { return m.cfg.Network == "udp" || m.cfg.Network == "udp4" }

// onFragment dispatches one complete response fragment.
func (m *Master) onFragment(w *linkio.Writer, frags chan []byte, src uint16, raw []byte) {
	frag, err := dnp3.ParseFragment(raw)
	if err != nil || !frag.Function.IsResponse() {
		return
	}
	if frag.Control.CON() {
		ac := dnp3.NewAppControl(true, true, false, frag.Control.UNS(), frag.Control.Seq())
		w.APDU(masterControl, src, m.cfg.Address, dnp3.AppendRequestHeader(nil, ac, dnp3.FuncConfirm))
	}
	if frag.Control.UNS() {
		if m.cfg.OnUnsolicited != nil {
			resp := &Response{}
			resp.add(frag)
			m.cfg.OnUnsolicited(resp)
		}
		return
	}
	select {
	case frags <- append([]byte(nil), raw...):
	default:
		m.log.Debug("dnp3 master: response nobody waits for", "seq", frag.Control.Seq())
	}
}

// masterControl is the link control of requests: DIR, PRM, unconfirmed data.
var masterControl = dnp3.NewControl(true, true, false, false, dnp3.LinkUnconfirmedUserData)

// Request is one application request, as sent by Do. Build it with
// NewRequest, then change what an attack needs changed.
type Request struct {
	Function dnp3.FunctionCode
	Objects  []byte // object headers and data, sent as they are
	To, From uint16 // link destination (broadcast allowed) and source (spoofable)
	// Control is used as it is when SetControl; otherwise FIR|FIN and the
	// master's next sequence number.
	Control    dnp3.AppControl
	SetControl bool
	// LinkControl is the link control octet (default DIR|PRM|UNCONFIRMED_USER_DATA).
	LinkControl dnp3.Control
	// NoResponse sends without waiting; broadcasts and *_NR functions never wait.
	NoResponse bool
}

// NewRequest returns a request from this master to its outstation.
func (m *Master) NewRequest(fc dnp3.FunctionCode, objects []byte) Request {
	return Request{Function: fc, Objects: objects, To: m.cfg.Outstation, From: m.cfg.Address, LinkControl: masterControl}
}

// Do sends a request and, unless none is expected, collects the response
// (all its fragments). Failure IIN bits are not an error here; see Check.
func (m *Master) Do(ctx context.Context, req Request) (*Response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn == nil {
		return nil, ErrClosed
	}
	select {
	case <-m.done:
		return nil, fmt.Errorf("%w: %v", ErrClosed, m.err)
	default:
	}
	for len(m.frag) > 0 { // drop late responses to earlier requests
		<-m.frag
	}
	ac := req.Control
	if !req.SetControl {
		ac = dnp3.NewAppControl(true, true, false, false, m.seq)
		m.seq = (m.seq + 1) & 0x0F
	}
	lc := req.LinkControl
	if lc == 0 {
		lc = masterControl
	}
	apdu := append(dnp3.AppendRequestHeader(nil, ac, req.Function), req.Objects...)
	if err := m.w.APDU(lc, req.To, req.From, apdu); err != nil {
		return nil, fmt.Errorf("%w: send: %v", ErrClosed, err) // the connection is unusable
	}
	if req.NoResponse || dnp3.IsBroadcast(req.To) || req.Function == dnp3.FuncDirectOperateNR ||
		req.Function == dnp3.FuncConfirm || req.Function == dnp3.FuncImmedFreezeNR ||
		req.Function == dnp3.FuncFreezeClearNR || req.Function == dnp3.FuncFreezeAtTimeNR ||
		req.Function == dnp3.FuncAuthRequestNoAck {
		return nil, nil
	}
	return m.collect(ctx, ac.Seq())
}

// collect waits for the response fragments with sequence seq (the first) and
// the ones after it, until FIN. Fragments read before the connection ended
// are used first: an outstation that answers and then closes (a restart)
// is heard.
func (m *Master) collect(ctx context.Context, seq uint8) (*Response, error) {
	resp := &Response{}
	t := time.NewTimer(m.cfg.Timeout)
	defer t.Stop()
	// take adds a fragment and reports whether the response is complete.
	take := func(raw []byte) bool {
		frag, err := dnp3.ParseFragment(raw)
		if err != nil || frag.Control.Seq() != seq || (resp.Fragments == 0 && !frag.Control.FIR()) {
			return false // stale or out of order
		}
		resp.add(frag)
		if frag.Control.FIN() {
			return true
		}
		seq = (seq + 1) & 0x0F
		t.Reset(m.cfg.Timeout)
		return false
	}
	for {
		select {
		case raw := <-m.frag:
			if take(raw) {
				return resp, resp.Err
			}
		case <-t.C:
			return resp, ErrTimeout
		case <-ctx.Done():
			return resp, ctx.Err()
		case <-m.done:
			for len(m.frag) > 0 {
				if take(<-m.frag) {
					return resp, resp.Err
				}
			}
			return resp, fmt.Errorf("%w: %v", ErrClosed, m.err)
		}
	}
}

// LinkStatus sends REQUEST_LINK_STATUS to dest and returns the control octet
// of the secondary frame that answers it.
func (m *Master) LinkStatus(ctx context.Context, dest uint16) (dnp3.Control, error) {
	return m.LinkService(ctx, dnp3.LinkRequestLinkStatus, dest, m.cfg.Address)
}

// LinkService sends a primary link frame without data (RESET_LINK_STATES,
// TEST_LINK_STATES, REQUEST_LINK_STATUS, or any code) and waits for the
// secondary frame that answers it.
func (m *Master) LinkService(ctx context.Context, fn dnp3.LinkFunc, dest, src uint16) (dnp3.Control, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn == nil {
		return 0, ErrClosed
	}
	for len(m.link) > 0 {
		<-m.link
	}
	if err := m.w.Link(dnp3.NewControl(true, true, false, false, fn), dest, src); err != nil {
		return 0, fmt.Errorf("%w: send: %v", ErrClosed, err)
	}
	t := time.NewTimer(m.cfg.Timeout)
	defer t.Stop()
	select {
	case f := <-m.link:
		return f.Control, nil
	case <-t.C:
		return 0, ErrTimeout
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-m.done:
		if len(m.link) > 0 { // answered, then the connection ended
			return (<-m.link).Control, nil
		}
		return 0, ErrClosed
	}
}

// SendRaw writes octets as they are (hand-made or malformed frames).
func (m *Master) SendRaw(b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn == nil {
		return ErrClosed
	}
	return m.w.Raw(b)
}
