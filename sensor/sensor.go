// Package sensor is otrange's passive OT monitor: it reads packets from a
// capture source, reassembles TCP streams, decodes Modbus/TCP and DNP3, and
// raises alerts tagged with ATT&CK for ICS techniques.
//
// The pipeline is one goroutine, for a small box where the other core runs
// the kernel's capture and the outputs:
//
//	capture.Source → decode (Ethernet, 802.1Q, IPv4, IPv6, TCP, UDP into
//	reused layers) → reassembly (TCP) → analyze (Modbus, DNP3; UDP datagrams
//	straight in) → rules, observers (asset inventory, baseline) → alert.Sink
//
// Nothing on that path allocates per packet in the steady state. Counters are
// atomics readable from any goroutine (Stats, MetricsSnapshot); the
// reassembler's own counters are only touched by the pipeline goroutine, so a
// copy is published every 4096 packets, on every read timeout of a live
// capture and when Run returns.
//
// Time is the packets' time: idle connections expire on capture time, and on
// a quiet live link the sensor moves time on by the wall clock since the
// last packet.
package sensor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/capture"
	"github.com/otrange/otrange/sensor/metrics"
	"github.com/otrange/otrange/sensor/reassembly"
	"github.com/otrange/otrange/sensor/rules"
)

// RuleUnauthorizedWrite is the id of the unauthorized Modbus write rule
// (kept for callers of the first sensor; the catalog is sensor/rules).
const RuleUnauthorizedWrite = rules.ModbusWriteUnauthorized

// Config configures a sensor. Zero values mean defaults.
type Config struct {
	Name        string   // appears in every alert; "" means "otrange"
	ModbusPorts []uint16 // TCP server ports of Modbus; nil: 502 (other ports are found by content)
	DNP3Ports   []uint16 // TCP and UDP ports of DNP3; nil: 20000

	// Policy is what the plant's owner allows (authorized masters, function
	// codes per pair, writable registers); nil with no AuthorizedMasters
	// leaves the policy rules quiet.
	Policy *rules.Policy
	// AuthorizedMasters is a shorthand for a policy listing only masters;
	// with a Policy, they are added to its masters.
	AuthorizedMasters []netip.Addr
	// DisableRules are rule ids turned off.
	DisableRules []string

	// MaxFlows bounds the TCP connections followed at once (default
	// 65536); it overrides Reassembly.MaxConns when set.
	MaxFlows int
	// Reassembly bounds TCP reassembly (out-of-order memory per stream and
	// in total, idle and gap timeouts); zero fields are defaults.
	Reassembly reassembly.Options
	// MaxStreamBytes bounds the bytes an analyzer buffers per direction
	// while a frame is incomplete (default 4096).
	MaxStreamBytes int
	// MaxPending bounds the Modbus requests awaiting a response per
	// connection (default 64).
	MaxPending int

	// Observers see every decoded record (asset inventory, baseline).
	Observers []Observer
	Sink      alert.Sink   // required
	Logger    *slog.Logger // nil: discard
}

// Observer sees every record the analyzers decode, after the rules, with
// the link-layer addresses of the packet that completed it. It runs on the
// pipeline goroutine, must be quick and must not keep r or the addresses.
type Observer interface {
	Observe(r *analyze.Record, l Link)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(r *analyze.Record, l Link)

// Observe calls f.
func (f ObserverFunc) Observe(r *analyze.Record, l Link) { f(r, l) }

// Link is the link layer of the packet that completed a record; the MACs
// are nil when the capture has no Ethernet header.
type Link struct {
	SrcMAC, DstMAC net.HardwareAddr
}

// Stats are the sensor's counters.
type Stats struct {
	Packets, Bytes uint64 // read from the source (bytes on the wire)
	TCP, UDP       uint64 // packets by transport
	Other          uint64 // decoded, neither TCP nor UDP (ARP, ICMP, IP fragments)
	DecodeErrors   uint64 // packets not decodable down to their transport header
	Panics         uint64 // packets whose processing panicked (a bug; recovered and counted)
	FlowsActive    int    // TCP connections followed now (as of the last publish)
	FlowsDropped   uint64 // TCP connections evicted at MaxFlows
	ModbusADUs     uint64
	DNP3Frames     uint64
	Records        uint64 // analyzer records (requests, responses, anomalies)
	Anomalies      uint64 // records with a protocol anomaly
	Alerts         uint64 // alerts emitted, from rules and observers

	Reassembly reassembly.Stats // as of the last publish
	Analyzer   analyze.Stats
	Rules      rules.Stats
	Kernel     []capture.InterfaceStats // live captures only
}

// Sensor is one monitoring pipeline. Run it once at a time; Stats and
// MetricsSnapshot may be called from any goroutine.
type Sensor struct {
	cfg  Config
	log  *slog.Logger
	re   *reassembly.Reassembler
	an   *analyze.Analyzer
	eng  *rules.Engine
	sink *countingSink
	obs  []Observer
	pkt  *packet // the packet being processed, for observers

	running atomic.Bool
	frame   uint64 // number of the current packet, 1-based

	packets, bytes, tcp, udp, other, decodeErrs, panics atomic.Uint64
	anomalies                                           [3]atomic.Uint64 // by analyze.Protocol
	modbusFn, dnp3Fn                                    metrics.CodeCounter

	pubMu   sync.Mutex
	reStats reassembly.Stats
	kernel  atomic.Pointer[capture.KernelStatser]
}

// New validates cfg and builds a sensor.
func New(cfg Config) (*Sensor, error) {
	if cfg.Sink == nil {
		return nil, errors.New("sensor: an alert sink is required")
	}
	if cfg.Name == "" {
		cfg.Name = "otrange"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sensor{cfg: cfg, log: log, obs: cfg.Observers}
	s.sink = &countingSink{next: cfg.Sink, byRule: map[string]uint64{}}

	policy := buildPolicy(cfg.Policy, cfg.AuthorizedMasters)
	eng, err := rules.New(rules.Config{Sensor: cfg.Name, Policy: policy, Sink: s.sink, Disable: cfg.DisableRules})
	if err != nil {
		return nil, fmt.Errorf("sensor: %w", err)
	}
	s.eng = eng
	s.an = analyze.New(analyze.Config{
		ModbusPorts:    cfg.ModbusPorts,
		DNP3Ports:      cfg.DNP3Ports,
		MaxStreamBytes: cfg.MaxStreamBytes,
		MaxPending:     cfg.MaxPending,
		Emit:           s.record,
	})
	ro := cfg.Reassembly
	if cfg.MaxFlows > 0 {
		ro.MaxConns = cfg.MaxFlows
	}
	if ro.Logger == nil {
		ro.Logger = log.With("part", "reassembly")
	}
	re, err := reassembly.New(ro, connHandler{s})
	if err != nil {
		return nil, fmt.Errorf("sensor: %w", err)
	}
	s.re = re
	s.reStats = re.Stats()
	return s, nil
}

// MemoryBound is an upper estimate of the memory the pipeline's state can
// hold with cfg's bounds: TCP reassembly at its bound, plus the worst
// analyzer state (Modbus framing buffers and pending requests, or DNP3
// transport reassembly of every link pair) for every followed connection,
// plus the rule engine's threshold states. Real traffic uses a small part of
// it: analyzer state exists only for connections that carried data.
func (c Config) MemoryBound() int64 {
	ro := c.Reassembly
	if c.MaxFlows > 0 {
		ro.MaxConns = c.MaxFlows
	}
	if ro.MaxConns == 0 {
		ro.MaxConns = reassembly.DefaultMaxConns
	}
	streamBytes, pending := int64(c.MaxStreamBytes), int64(c.MaxPending)
	if streamBytes <= 0 {
		streamBytes = 4096
	}
	streamBytes = max(streamBytes, modbus.MaxADULen)
	if pending <= 0 {
		pending = 64
	}
	// A slice that grows to n bytes may hold up to 2n; request slots are
	// about 64 bytes; the rest is the connection's fixed structs.
	modbusConn := 2*2*streamBytes + pending*64 + 2048
	// 16 link pairs, each with a transport reassembler per direction
	// (a fragment of up to 2048 bytes, doubled by growth) and 16 pending
	// requests, plus the two framers.
	dnp3Conn := int64(16*(2*2*dnp3.DefaultMaxFragment+16*64+256) + 2*1024 + 1024)
	perConn := max(modbusConn, dnp3Conn) + 256 // + the sensor's tcpConn
	const udpFlows, ruleKeys = 1024, 65536
	return ro.MemoryBound() + int64(ro.MaxConns)*perConn + udpFlows*dnp3Conn + ruleKeys*512
}

// Run reads src until it ends (io.EOF: returns nil), is closed, or ctx is
// cancelled; it closes src when ctx is cancelled, to unblock a live read.
// At the end every followed connection is closed (flushing what the
// reassembler held).
func (s *Sensor) Run(ctx context.Context, src capture.Source) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("sensor: already running")
	}
	defer s.running.Store(false)
	var once sync.Once
	stop := context.AfterFunc(ctx, func() { once.Do(func() { src.Close() }) })
	defer stop()
	if ks, ok := src.(capture.KernelStatser); ok {
		s.kernel.Store(&ks)
	}
	d := newDecoder(src.LinkType())
	defer func() {
		s.pkt = nil
		s.re.CloseAll()
		s.publish()
	}()
	var lastTS, idleSince time.Time
	for {
		data, ci, err := src.ReadPacketData()
		if err != nil {
			switch {
			case errors.Is(err, capture.ErrTimeout):
				// A quiet live link: move capture time on by the wall
				// clock, so idle connections still expire.
				now := time.Now()
				if idleSince.IsZero() {
					idleSince = now
				}
				if !lastTS.IsZero() {
					s.pkt = nil
					s.re.Advance(lastTS.Add(now.Sub(idleSince)))
				}
				s.publish()
				continue
			case errors.Is(err, io.EOF), errors.Is(err, capture.ErrClosed), ctx.Err() != nil:
				return nil
			}
			return fmt.Errorf("sensor: read: %w", err)
		}
		if !idleSince.IsZero() {
			idleSince = time.Time{}
		}
		lastTS = ci.Timestamp
		s.handle(d, data, ci)
		if s.frame&4095 == 0 {
			s.publish()
		}
	}
}

// handle runs one packet through the pipeline. A panic is a bug: it is
// recovered here, at the pipeline's boundary, counted and logged once.
func (s *Sensor) handle(d *decoder, data []byte, ci gopacket.CaptureInfo) {
	defer func() {
		if r := recover(); r != nil {
			if s.panics.Add(1) == 1 {
				s.log.Error("packet processing panicked (counted; further panics are not logged)",
					"frame", s.frame, "panic", r, "stack", string(debug.Stack()))
			}
		}
	}()
	s.frame++
	s.packets.Add(1)
	s.bytes.Add(uint64(ci.Length))
	switch d.decode(data) {
	case transTCP:
		s.tcp.Add(1)
		s.pkt = &d.pkt
		d.pkt.seg.Time = ci.Timestamp
		s.re.Add(&d.pkt.seg)
	case transUDP:
		s.udp.Add(1)
		s.pkt = &d.pkt
		s.an.Datagram(d.pkt.src, d.pkt.dst, d.pkt.payload, ci.Timestamp, s.frame)
	case transOther:
		s.other.Add(1)
	default:
		s.decodeErrs.Add(1)
	}
}

// record receives every analyzer record: metrics, rules, observers.
func (s *Sensor) record(r *analyze.Record) {
	if r.Anomalies != 0 && int(r.Protocol) < len(s.anomalies) {
		s.anomalies[r.Protocol].Add(1)
	}
	if r.Valid {
		switch r.Protocol {
		case analyze.ProtoModbus:
			s.modbusFn.Inc(r.Modbus.Func())
		case analyze.ProtoDNP3:
			if r.DNP3.HasApp {
				s.dnp3Fn.Inc(r.DNP3.AppFunction)
			}
		}
	}
	s.eng.Evaluate(r)
	if len(s.obs) == 0 {
		return
	}
	var l Link
	if s.pkt != nil {
		l = Link{SrcMAC: s.pkt.srcMAC, DstMAC: s.pkt.dstMAC}
	}
	for _, o := range s.obs {
		o.Observe(r, l)
	}
}

// publish copies the reassembler's counters for other goroutines.
func (s *Sensor) publish() {
	st := s.re.Stats()
	s.pubMu.Lock()
	s.reStats = st
	s.pubMu.Unlock()
}

// Stats returns the counters so far.
func (s *Sensor) Stats() Stats {
	s.pubMu.Lock()
	re := s.reStats
	s.pubMu.Unlock()
	an := s.an.Stats()
	st := Stats{
		Packets: s.packets.Load(), Bytes: s.bytes.Load(), TCP: s.tcp.Load(), UDP: s.udp.Load(),
		Other: s.other.Load(), DecodeErrors: s.decodeErrs.Load(), Panics: s.panics.Load(),
		FlowsActive: re.Conns, FlowsDropped: re.ClosedEvicted,
		ModbusADUs: an.ModbusADUs, DNP3Frames: an.DNP3Frames, Records: an.Records, Anomalies: an.Anomalies,
		Alerts:     s.sink.total.Load(),
		Reassembly: re, Analyzer: an, Rules: s.eng.Stats(),
	}
	if ks := s.kernel.Load(); ks != nil {
		st.Kernel = (*ks).KernelStats()
	}
	return st
}

// MetricsSnapshot returns the counters in the form sensor/metrics exposes
// (OutputDrops is left to the caller, who owns the outputs).
func (s *Sensor) MetricsSnapshot() metrics.Snapshot {
	st := s.Stats()
	snap := metrics.Snapshot{
		Packets:      st.Packets,
		Bytes:        st.Bytes,
		FlowsActive:  uint64(st.FlowsActive),
		FlowsEvicted: st.FlowsDropped,
		ReassemblyDrops: map[string]uint64{
			"gap_bytes":       st.Reassembly.GapBytes,
			"after_fin_bytes": st.Reassembly.AfterFINBytes,
			"discarded_bytes": st.Reassembly.DiscardedBytes,
			"stream_flushes":  st.Reassembly.StreamFlushes,
			"global_flushes":  st.Reassembly.GlobalFlushes,
		},
		DecodeErrors: map[string]uint64{
			"packet": st.DecodeErrors,
			"modbus": s.anomalies[analyze.ProtoModbus].Load(),
			"dnp3":   s.anomalies[analyze.ProtoDNP3].Load(),
		},
		Records: map[metrics.Record]uint64{},
		Alerts:  s.sink.snapshot(),
	}
	if len(st.Kernel) > 0 {
		snap.KernelDrops = map[string]uint64{}
		for _, k := range st.Kernel {
			snap.KernelDrops[k.Name] = k.Drops
		}
	}
	s.modbusFn.AddTo(snap.Records, "modbus", func(c byte) string { return modbus.FunctionCode(c).String() })
	s.dnp3Fn.AddTo(snap.Records, "dnp3", func(c byte) string { return dnp3.FunctionCode(c).String() })
	return snap
}

// Sink returns the sensor's alert sink, which counts alerts by rule before
// passing them on: observers that raise alerts (asset inventory, baseline)
// should emit through it so that the counters and metrics include theirs.
func (s *Sensor) Sink() alert.Sink { return s.sink }

// countingSink counts alerts by rule and passes them on.
type countingSink struct {
	next   alert.Sink
	total  atomic.Uint64
	mu     sync.Mutex
	byRule map[string]uint64
}

// maxRuleCounters bounds the rule ids counted (ids come from code, but
// observers may make their own).
const maxRuleCounters = 1024

func (c *countingSink) Emit(a alert.Alert) {
	c.total.Add(1)
	c.mu.Lock()
	if _, ok := c.byRule[a.RuleID]; ok || len(c.byRule) < maxRuleCounters {
		c.byRule[a.RuleID]++
	} else {
		c.byRule["other"]++
	}
	c.mu.Unlock()
	c.next.Emit(a)
}

func (c *countingSink) snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]uint64, len(c.byRule))
	for k, v := range c.byRule {
		m[k] = v
	}
	return m
}
