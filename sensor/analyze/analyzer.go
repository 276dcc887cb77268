package analyze

import (
	"errors"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
)

// Config configures an Analyzer. The zero value of every bound means its
// default.
type Config struct {
	// ModbusPorts are the server ports where Modbus is expected; nil means
	// 502. Modbus on other ports is found by content.
	ModbusPorts []uint16
	// DNP3Ports are the ports where DNP3 is expected (TCP and UDP); nil
	// means 20000. DNP3 on other ports is found by content.
	DNP3Ports []uint16
	// MaxPending bounds the Modbus requests awaiting a response per
	// connection (default 64); the oldest is evicted and counted.
	MaxPending int
	// MaxStreamBytes bounds the bytes buffered per direction of a
	// connection while a frame is incomplete (default 4096).
	MaxStreamBytes int
	// MaxFragment bounds a reassembled DNP3 application fragment (default
	// dnp3.DefaultMaxFragment, 2048).
	MaxFragment int
	// MaxLinkPairs bounds the DNP3 link address pairs followed per
	// connection (default 16); frames of further pairs are counted and
	// dropped.
	MaxLinkPairs int
	// MaxObjects is the number of DNP3 object headers in one fragment
	// beyond which the fragment is flagged AnomTooManyObjects (default 64).
	MaxObjects int
	// MaxUDPFlows bounds the UDP endpoint pairs followed for DNP3 over UDP
	// (default 1024).
	MaxUDPFlows int
	// Emit receives every record. It must not keep the pointer: the record
	// is reused. Required.
	Emit func(*Record)
}

// Stats are the analyzer's counters. They may be read from any goroutine.
type Stats struct {
	Records         uint64 // records emitted
	ModbusADUs      uint64 // Modbus ADUs framed
	DNP3Frames      uint64 // DNP3 link frames with good CRCs
	DNP3Fragments   uint64 // DNP3 application fragments reassembled
	Anomalies       uint64 // records with at least one anomaly
	GarbageBytes    uint64 // bytes skipped while resynchronising
	PendingEvicted  uint64 // Modbus requests evicted from a full pending table
	Unmatched       uint64 // responses without a request
	ConnsModbus     uint64 // connections analysed as Modbus
	ConnsDNP3       uint64 // connections analysed as DNP3
	ConnsIgnored    uint64 // connections that are neither
	LinkPairsDenied uint64 // DNP3 frames of link pairs beyond MaxLinkPairs
	UDPFlowsEvicted uint64 // UDP flow states evicted from a full table
}

// Analyzer decodes Modbus and DNP3. It is not safe for concurrent use,
// except Stats: run one per pipeline goroutine.
type Analyzer struct {
	cfg Config
	rec Record
	udp map[udpKey]*Conn

	records, modbusADUs, dnp3Frames, dnp3Fragments, anomalies, garbage atomic.Uint64
	evicted, unmatched, connsModbus, connsDNP3, connsIgnored           atomic.Uint64
	pairsDenied, udpEvicted                                            atomic.Uint64
}

// New returns an analyzer. It panics if cfg.Emit is nil: that is a
// programming error, not an input error.
func New(cfg Config) *Analyzer {
	if cfg.Emit == nil {
		panic("analyze: Config.Emit is required")
	}
	if cfg.ModbusPorts == nil {
		cfg.ModbusPorts = []uint16{502}
	}
	if cfg.DNP3Ports == nil {
		cfg.DNP3Ports = []uint16{20000}
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 64
	}
	if cfg.MaxStreamBytes <= 0 {
		cfg.MaxStreamBytes = 4096
	}
	if cfg.MaxFragment <= 0 {
		cfg.MaxFragment = dnp3.DefaultMaxFragment
	}
	if cfg.MaxLinkPairs <= 0 {
		cfg.MaxLinkPairs = 16
	}
	if cfg.MaxObjects <= 0 {
		cfg.MaxObjects = 64
	}
	if cfg.MaxUDPFlows <= 0 {
		cfg.MaxUDPFlows = 1024
	}
	return &Analyzer{cfg: cfg, udp: make(map[udpKey]*Conn)}
}

// Stats returns the counters so far.
func (a *Analyzer) Stats() Stats {
	return Stats{
		Records: a.records.Load(), ModbusADUs: a.modbusADUs.Load(), DNP3Frames: a.dnp3Frames.Load(),
		DNP3Fragments: a.dnp3Fragments.Load(), Anomalies: a.anomalies.Load(), GarbageBytes: a.garbage.Load(),
		PendingEvicted: a.evicted.Load(), Unmatched: a.unmatched.Load(), ConnsModbus: a.connsModbus.Load(),
		ConnsDNP3: a.connsDNP3.Load(), ConnsIgnored: a.connsIgnored.Load(), LinkPairsDenied: a.pairsDenied.Load(),
		UDPFlowsEvicted: a.udpEvicted.Load(),
	}
}

// emit counts and delivers the shared record.
func (a *Analyzer) emit() {
	a.records.Add(1)
	if a.rec.Anomalies != 0 {
		a.anomalies.Add(1)
	}
	a.cfg.Emit(&a.rec)
}

// begin resets the shared record for a new message and returns it.
func (a *Analyzer) begin(src, dst netip.AddrPort, tr Transport, p Protocol, d Direction, ts time.Time, frame uint64) *Record {
	r := &a.rec
	r.reset()
	r.Time, r.Frame, r.Flow, r.Protocol, r.Dir = ts, frame, Flow{Src: src, Dst: dst, Transport: tr}, p, d
	return r
}

// reset makes r equal to Record{} without rewriting the whole of its lists
// (values, device objects, DNP3 objects: about 1.4 KB, most of the record,
// which the analyzer resets for every message). The analyzer fills a list
// from its start and counts what it fills, so entries beyond the count are
// already zero and only the counted ones are cleared; Emit callbacks must
// not modify the record. TestRecordReset checks that every field is reset.
func (r *Record) reset() {
	m, d := &r.Modbus, &r.DNP3
	clear(m.Values[:min(max(m.NValues, 0), MaxValues)])
	clear(m.DeviceID[:min(max(m.NDeviceID, 0), MaxDeviceObjects)])
	clear(d.Objects[:min(max(d.NObjects, 0), MaxObjects)])

	r.Time, r.Frame, r.Flow, r.Protocol, r.Dir = time.Time{}, 0, Flow{}, ProtoUnknown, Request
	r.Valid, r.Anomalies, r.Detail, r.Dropped, r.Len = false, 0, "", 0, 0
	r.Matched, r.ReqFrame, r.Latency = false, 0, 0

	m.TransactionID, m.UnitID, m.Function, m.Exception = 0, 0, 0, 0
	m.SubFunction, m.HasSubFunction = 0, false
	m.Address, m.Quantity, m.WriteAddress, m.WriteQuantity = 0, 0, 0, 0
	m.NValues, m.ValuesTruncated = 0, false
	m.MEIType, m.ReadDeviceIDCode, m.ObjectID = 0, 0, 0
	m.NDeviceID, m.DeviceIDTruncated = 0, false

	d.LinkSrc, d.LinkDst, d.LinkControl = 0, 0, 0
	d.HasApp, d.AppControl, d.AppFunction, d.IIN = false, 0, 0, 0
	d.NObjects, d.NObjectHeaders, d.ObjectsTruncated = 0, 0, false
}

// connState is where a connection is in protocol detection.
type connState uint8

const (
	stateSniff connState = iota
	stateActive
	stateIgnored
)

// maxSniffChunks is how many chunks a connection on an unknown port may
// send before it is ignored.
const maxSniffChunks = 4

// Conn analyses one TCP connection. Create it with Analyzer.NewConn.
type Conn struct {
	a              *Analyzer
	client, server netip.AddrPort
	transport      Transport
	proto          Protocol
	state          connState
	sniffed        int
	mb             *modbusConn
	dn             *dnp3Conn
}

// NewConn returns the state for a TCP connection from client (the side that
// opened it, or the side not on a well-known port when it was picked up
// mid-way) to server. When only the client's port is a configured Modbus or
// DNP3 port, the roles are swapped: the side on the protocol's port serves.
func (a *Analyzer) NewConn(client, server netip.AddrPort) *Conn {
	known := func(p uint16) bool {
		return slices.Contains(a.cfg.ModbusPorts, p) || slices.Contains(a.cfg.DNP3Ports, p)
	}
	if known(client.Port()) && !known(server.Port()) {
		// The side on the protocol's port is the server, whoever opened
		// the connection (some test tools and gateways connect from 502).
		client, server = server, client
	}
	c := &Conn{a: a, client: client, server: server}
	switch {
	case slices.Contains(a.cfg.ModbusPorts, server.Port()):
		c.activate(ProtoModbus)
	case slices.Contains(a.cfg.DNP3Ports, server.Port()):
		c.activate(ProtoDNP3)
	}
	return c
}

// Protocol returns the protocol the connection was found to carry, or
// ProtoUnknown while undecided or ignored.
func (c *Conn) Protocol() Protocol { return c.proto }

// Ignored reports that the connection carries neither protocol; the caller
// may stop feeding it.
func (c *Conn) Ignored() bool { return c.state == stateIgnored }

func (c *Conn) activate(p Protocol) {
	c.proto, c.state = p, stateActive
	switch p {
	case ProtoModbus:
		c.a.connsModbus.Add(1)
		c.mb = newModbusConn(c.a.cfg)
	case ProtoDNP3:
		c.a.connsDNP3.Add(1)
		c.dn = newDNP3Conn()
	}
}

// Data analyses the next in-order bytes of the direction sent by from (one
// of the connection's two endpoints). ts and frame are those of the packet
// that carried the last of the bytes. b is not kept after Data returns.
func (c *Conn) Data(from netip.AddrPort, b []byte, ts time.Time, frame uint64) {
	if len(b) == 0 {
		return
	}
	fromClient := from == c.client
	if c.state == stateSniff {
		c.sniff(b)
	}
	if c.state != stateActive {
		return
	}
	src, dst := c.client, c.server
	if !fromClient {
		src, dst = dst, src
	}
	side := 0
	if !fromClient {
		side = 1
	}
	switch c.proto {
	case ProtoModbus:
		c.mb.data(c.a, side, src, dst, b, ts, frame)
	case ProtoDNP3:
		c.dn.data(c.a, c.transport, side, src, dst, b, ts, frame)
	}
}

// Gap tells the connection that bytes sent by from were lost: framing of
// that direction restarts with the next Data.
func (c *Conn) Gap(from netip.AddrPort) {
	side := 0
	if from != c.client {
		side = 1
	}
	switch {
	case c.mb != nil:
		c.mb.gap(side)
	case c.dn != nil:
		c.dn.gap(side)
	}
}

// sniff judges a chunk on a port that is not a known Modbus or DNP3 port.
func (c *Conn) sniff(b []byte) {
	switch {
	case looksDNP3(b):
		c.activate(ProtoDNP3)
	case looksModbus(b):
		c.activate(ProtoModbus)
	default:
		c.sniffed++
		if c.sniffed >= maxSniffChunks {
			c.state = stateIgnored
			c.a.connsIgnored.Add(1)
		}
	}
}

// looksDNP3 reports whether b starts with a DNP3 link header whose CRC is
// right.
func looksDNP3(b []byte) bool {
	if len(b) < dnp3.HeaderSize || b[0] != 0x05 || b[1] != 0x64 {
		return false
	}
	_, err := dnp3.ParseLinkHeader(b)
	return err == nil
}

// looksModbus reports whether b starts with a whole MBAP-framed ADU: protocol
// id 0, a length of 2..254 that fits in b, a function code 1..127 (or an
// exception of one), and after the ADU either nothing or another header
// prefix.
func looksModbus(b []byte) bool {
	if len(b) < 8 || b[2] != 0 || b[3] != 0 || b[4] != 0 || b[5] < 2 || b[5] > 254 {
		return false
	}
	n := 6 + int(b[5])
	if n > len(b) {
		return false
	}
	fc := b[7] &^ 0x80
	if fc == 0 {
		return false
	}
	rest := b[n:]
	return len(rest) == 0 || (len(rest) >= 4 && rest[2] == 0 && rest[3] == 0)
}

// udpKey names a UDP endpoint pair, the lower endpoint first.
type udpKey struct{ a, b netip.AddrPort }

func makeUDPKey(x, y netip.AddrPort) udpKey {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return udpKey{x, y}
}

// Datagram analyses one UDP payload from src to dst. DNP3 is recognised by
// port (Config.DNP3Ports) or by content; anything else is ignored, except
// that a payload on a DNP3 port that is not DNP3 gives an AnomNonProtocol
// record. It reports whether the payload was DNP3.
func (a *Analyzer) Datagram(src, dst netip.AddrPort, b []byte, ts time.Time, frame uint64) bool {
	onPort := slices.Contains(a.cfg.DNP3Ports, dst.Port()) || slices.Contains(a.cfg.DNP3Ports, src.Port())
	isDNP3 := len(b) >= 2 && b[0] == 0x05 && b[1] == 0x64
	if !isDNP3 {
		if onPort && len(b) > 0 {
			r := a.begin(src, dst, UDP, ProtoDNP3, Request, ts, frame)
			r.Anomalies, r.Dropped, r.Detail = AnomNonProtocol, len(b), "datagram does not start with 05 64"
			a.garbage.Add(uint64(len(b)))
			a.emit()
		}
		return false
	}
	if !onPort && !looksDNP3(b) {
		return false
	}
	k := makeUDPKey(src, dst)
	c := a.udp[k]
	if c == nil {
		if len(a.udp) >= a.cfg.MaxUDPFlows {
			for old := range a.udp { // evict an arbitrary entry
				delete(a.udp, old)
				a.udpEvicted.Add(1)
				break
			}
		}
		c = &Conn{a: a, client: k.a, server: k.b, transport: UDP}
		c.activate(ProtoDNP3)
		a.udp[k] = c
	}
	c.dn.datagram(a, src, dst, b, ts, frame)
	return true
}

// errorIs is errors.Is, named for brevity in the decoders.
var errorIs = errors.Is
