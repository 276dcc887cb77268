// Package sensor is otrange's passive OT monitor: it reads packets from a
// capture source, follows TCP streams, frames and decodes industrial
// protocols, and raises alerts tagged with ATT&CK for ICS techniques.
package sensor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/capture"
)

// Config configures a sensor.
type Config struct {
	Name              string       // appears in every alert; "" means "otrange"
	ModbusPorts       []uint16     // nil: 502 and 5020
	AuthorizedMasters []netip.Addr // hosts allowed to write to PLCs
	MaxFlows          int          // <= 0: 65536
	MaxStreamBytes    int          // buffered per direction; <= 0: 4096
	Sink              alert.Sink   // required
	Logger            *slog.Logger // nil: discard
}

// Stats are the sensor's counters.
type Stats struct {
	Packets, Bytes, DecodeErrors, FlowsDropped, ModbusADUs, ModbusErrors, Alerts uint64
}

// Sensor is one monitoring pipeline.
type Sensor struct {
	cfg   Config
	log   *slog.Logger
	flows *flowTable
	rules []rule

	packets, bytes, decodeErrs, modbusADUs, modbusErrs, alerts atomic.Uint64
	frame                                                      uint64 // number of the current packet, 1-based
	nextID                                                     uint64
}

// New validates cfg and builds a sensor.
func New(cfg Config) (*Sensor, error) {
	if cfg.Sink == nil {
		return nil, errors.New("sensor: an alert sink is required")
	}
	if cfg.Name == "" {
		cfg.Name = "otrange"
	}
	if cfg.ModbusPorts == nil {
		cfg.ModbusPorts = []uint16{502, 5020}
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = 65536
	}
	if cfg.MaxStreamBytes <= 0 {
		cfg.MaxStreamBytes = 4096
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Sensor{cfg: cfg, log: log, flows: newFlowTable(cfg.MaxFlows, cfg.MaxStreamBytes)}
	s.rules = []rule{unauthorizedWrite{masters: cfg.AuthorizedMasters}}
	return s, nil
}

// Stats returns the counters so far.
func (s *Sensor) Stats() Stats {
	return Stats{
		Packets: s.packets.Load(), Bytes: s.bytes.Load(), DecodeErrors: s.decodeErrs.Load(),
		FlowsDropped: s.flows.dropped.Load(), ModbusADUs: s.modbusADUs.Load(),
		ModbusErrors: s.modbusErrs.Load(), Alerts: s.alerts.Load(),
	}
}

// Run reads src until it ends (io.EOF: returns nil) or ctx is cancelled.
// It closes src when ctx is cancelled, to unblock a live read.
func (s *Sensor) Run(ctx context.Context, src capture.Source) error {
	var once sync.Once
	stop := context.AfterFunc(ctx, func() { once.Do(func() { src.Close() }) })
	defer stop()
	d := newDecoder(src.LinkType())
	for {
		data, ci, err := src.ReadPacketData()
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sensor: read: %w", err)
		}
		s.handle(d, data, ci)
	}
}

// handle decodes one packet and feeds any TCP payload to its stream.
func (s *Sensor) handle(d *decoder, data []byte, ci gopacket.CaptureInfo) {
	s.frame++
	s.packets.Add(1)
	s.bytes.Add(uint64(ci.Length))
	p, ok := d.decode(data)
	if !ok {
		s.decodeErrs.Add(1)
		return
	}
	if !p.isTCP || !s.isModbus(p) {
		return
	}
	toServer := slices.Contains(s.cfg.ModbusPorts, p.dst.Port())
	hs := s.flows.get(p.src, p.dst, ci.Timestamp)
	if hs == nil {
		return
	}
	if p.syn {
		hs.reset(p.seq + 1)
		return
	}
	if len(p.payload) == 0 {
		return
	}
	if !hs.accept(p.seq, len(p.payload)) {
		return
	}
	if err := hs.stream.Write(p.payload); err != nil {
		s.modbusErrs.Add(1)
		hs.stream.Reset()
		return
	}
	for {
		var adu modbus.ADU
		ok, err := hs.stream.Next(&adu)
		if err != nil {
			s.modbusErrs.Add(1)
			continue
		}
		if !ok {
			break
		}
		s.modbusADUs.Add(1)
		if toServer {
			s.onRequest(p, &adu, ci.Timestamp)
		}
	}
}

func (s *Sensor) isModbus(p *packet) bool {
	return slices.Contains(s.cfg.ModbusPorts, p.dst.Port()) || slices.Contains(s.cfg.ModbusPorts, p.src.Port())
}

// modbusEvent is a decoded request with where it came from, handed to rules.
type modbusEvent struct {
	src, dst netip.AddrPort
	adu      *modbus.ADU
	req      *modbus.Request
	time     time.Time
	frame    uint64
}

func (s *Sensor) onRequest(p *packet, adu *modbus.ADU, ts time.Time) {
	var req modbus.Request
	if err := modbus.ParseRequest(adu.PDU, &req); err != nil {
		req = modbus.Request{Function: adu.PDU.Function}
	}
	ev := modbusEvent{src: p.src, dst: p.dst, adu: adu, req: &req, time: ts, frame: s.frame}
	for _, r := range s.rules {
		if a, ok := r.modbus(&ev); ok {
			s.raise(a, &ev)
		}
	}
}

// raise fills the common fields of an alert and emits it.
func (s *Sensor) raise(a alert.Alert, ev *modbusEvent) {
	s.nextID++
	a.ID = fmt.Sprintf("%s-%d-%d", s.cfg.Name, ev.time.UnixNano(), s.nextID)
	a.Time = ev.time
	a.Sensor = s.cfg.Name
	a.SrcAddr, a.SrcPort = ev.src.Addr().String(), ev.src.Port()
	a.DstAddr, a.DstPort = ev.dst.Addr().String(), ev.dst.Port()
	a.Protocol = "modbus"
	a.Function = ev.adu.PDU.Function.String()
	unit := int(ev.adu.UnitID)
	a.Unit = &unit
	a.Evidence = alert.Evidence{FlowID: flowID(ev.src, ev.dst), Frames: []uint64{ev.frame}}
	s.alerts.Add(1)
	s.cfg.Sink.Emit(a)
}

func flowID(src, dst netip.AddrPort) string { return "tcp:" + src.String() + "-" + dst.String() }

// decoder decodes link, network and transport layers into reused structs.
type decoder struct {
	parser  *gopacket.DecodingLayerParser
	eth     layers.Ethernet
	vlan    layers.Dot1Q
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	udp     layers.UDP
	payload gopacket.Payload
	decoded []gopacket.LayerType
	pkt     packet
}

// packet is the part of a decoded packet the sensor uses.
type packet struct {
	src, dst netip.AddrPort
	isTCP    bool
	syn      bool
	seq      uint32
	payload  []byte
}

func newDecoder(link layers.LinkType) *decoder {
	d := &decoder{}
	first := layers.LayerTypeEthernet
	if link == layers.LinkTypeRaw || link == layers.LinkTypeIPv4 {
		first = layers.LayerTypeIPv4
	}
	d.parser = gopacket.NewDecodingLayerParser(first, &d.eth, &d.vlan, &d.ip4, &d.ip6, &d.tcp, &d.udp, &d.payload)
	d.parser.IgnoreUnsupported = true
	d.decoded = make([]gopacket.LayerType, 0, 8)
	return d
}

// decode returns the packet's addresses and TCP payload; ok is false when
// the packet could not be decoded as far as its transport layer.
func (d *decoder) decode(data []byte) (*packet, bool) {
	err := d.parser.DecodeLayers(data, &d.decoded)
	p := &d.pkt
	*p = packet{}
	var srcIP, dstIP netip.Addr
	for _, lt := range d.decoded {
		switch lt {
		case layers.LayerTypeIPv4:
			srcIP, _ = netip.AddrFromSlice(d.ip4.SrcIP.To4())
			dstIP, _ = netip.AddrFromSlice(d.ip4.DstIP.To4())
		case layers.LayerTypeIPv6:
			srcIP, _ = netip.AddrFromSlice(d.ip6.SrcIP)
			dstIP, _ = netip.AddrFromSlice(d.ip6.DstIP)
		case layers.LayerTypeTCP:
			p.isTCP = true
			p.src = netip.AddrPortFrom(srcIP, uint16(d.tcp.SrcPort))
			p.dst = netip.AddrPortFrom(dstIP, uint16(d.tcp.DstPort))
			p.syn = d.tcp.SYN
			p.seq = d.tcp.Seq
			p.payload = d.tcp.Payload
			return p, true
		case layers.LayerTypeUDP:
			p.src = netip.AddrPortFrom(srcIP, uint16(d.udp.SrcPort))
			p.dst = netip.AddrPortFrom(dstIP, uint16(d.udp.DstPort))
			p.payload = d.udp.Payload
			return p, true
		}
	}
	return p, err == nil && srcIP.IsValid()
}
