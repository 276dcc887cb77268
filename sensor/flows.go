package sensor

import (
	"net/netip"

	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/reassembly"
)

// tcpConn joins a reassembled TCP connection to its analyzer state. The
// analyzer's state (framing buffers, pending requests) is created with the
// first bytes, so a flood of connections that never carry data (a SYN
// scan) costs only this struct per connection, inside the reassembler's
// bound.
type tcpConn struct {
	s              *Sensor
	client, server netip.AddrPort
	c              *analyze.Conn
	sides          [2]tcpStream
}

// tcpStream is one direction of a tcpConn.
type tcpStream struct {
	conn *tcpConn
	from netip.AddrPort
}

// connHandler gives the reassembler a tcpConn per connection.
type connHandler struct{ s *Sensor }

var (
	_ reassembly.Handler = connHandler{}
	_ reassembly.Stream  = (*tcpStream)(nil)
)

// Open implements reassembly.Handler.
func (h connHandler) Open(ci reassembly.ConnInfo) (reassembly.Stream, reassembly.Stream) {
	tc := &tcpConn{s: h.s, client: ci.Key.SrcAddrPort(), server: ci.Key.DstAddrPort()}
	tc.sides[0] = tcpStream{conn: tc, from: tc.client}
	tc.sides[1] = tcpStream{conn: tc, from: tc.server}
	return &tc.sides[0], &tc.sides[1]
}

// Close implements reassembly.Handler. A connection the client opened with
// a SYN that the server refused or never answered goes to the rules as a
// refused record: a sweep is many of them. It is not observed: the asset
// inventory must not learn a host from a probe that nothing answered.
func (h connHandler) Close(ci reassembly.ConnInfo, why reassembly.Reason) {
	if !ci.Handshake || ci.Answered || (why != reassembly.ReasonRST && why != reassembly.ReasonIdle) {
		return
	}
	r := analyze.Record{
		Time:      ci.Last,
		Frame:     h.s.frame,
		Flow:      analyze.Flow{Src: ci.Key.SrcAddrPort(), Dst: ci.Key.DstAddrPort(), Transport: analyze.TCP},
		Dir:       analyze.Request,
		Anomalies: analyze.AnomRefused,
		Detail:    "connection refused",
	}
	if why == reassembly.ReasonIdle {
		r.Frame, r.Detail = 0, "no answer"
	}
	h.s.eng.Evaluate(&r)
}

// Data implements reassembly.Stream: in-order bytes go to the analyzer.
func (st *tcpStream) Data(b []byte, m reassembly.Meta) {
	tc := st.conn
	if tc.c == nil {
		tc.c = tc.s.an.NewConn(tc.client, tc.server)
	}
	if tc.c.Ignored() {
		return
	}
	if m.Gap != 0 {
		tc.c.Gap(st.from)
	}
	tc.c.Data(st.from, b, m.Time, tc.s.frame)
}

// End implements reassembly.Stream.
func (st *tcpStream) End(reassembly.Reason) {}
