package reassembly

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// frame builds a real Ethernet/IPv4/TCP frame, checksums and all.
func frame(t testing.TB, src, dst netip.AddrPort, seq uint32, fl Flags, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr{2, 0, 0, 0, 0, 1},
		DstMAC:       net.HardwareAddr{2, 0, 0, 0, 0, 2},
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: seq, Ack: 1, Window: 65535,
		FIN: fl&FIN != 0, SYN: fl&SYN != 0, RST: fl&RST != 0, PSH: fl&PSH != 0, ACK: fl&ACK != 0}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// frameDecoder turns Ethernet frames into Packets the way the sensor does:
// reused layers, no allocation per packet.
type frameDecoder struct {
	eth     layers.Ethernet
	vlan    layers.Dot1Q
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	udp     layers.UDP
	payload gopacket.Payload
	parser  *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

func newFrameDecoder() *frameDecoder {
	d := &frameDecoder{}
	d.parser = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &d.eth, &d.vlan, &d.ip4, &d.ip6, &d.tcp, &d.udp, &d.payload)
	d.parser.IgnoreUnsupported = true
	return d
}

// decode fills p from a frame; false when it holds no TCP segment.
func (d *frameDecoder) decode(data []byte, ts time.Time, p *Packet) bool {
	_ = d.parser.DecodeLayers(data, &d.decoded)
	var src, dst []byte
	isTCP := false
	for _, lt := range d.decoded {
		switch lt {
		case layers.LayerTypeIPv4:
			src, dst = d.ip4.SrcIP, d.ip4.DstIP
		case layers.LayerTypeIPv6:
			src, dst = d.ip6.SrcIP, d.ip6.DstIP
		case layers.LayerTypeTCP:
			isTCP = true
		}
	}
	if !isTCP || src == nil {
		return false
	}
	var fl Flags
	for _, f := range []struct {
		on bool
		f  Flags
	}{{d.tcp.FIN, FIN}, {d.tcp.SYN, SYN}, {d.tcp.RST, RST}, {d.tcp.PSH, PSH}, {d.tcp.ACK, ACK}} {
		if f.on {
			fl |= f.f
		}
	}
	*p = Packet{Key: KeyFromIPs(src, dst, uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)),
		Seq: d.tcp.Seq, Flags: fl, Payload: d.tcp.Payload, Time: ts}
	return true
}

// recorder is a Handler that writes down everything it is told and checks
// the contract as it goes: sequence continuity, no data after End, Close
// after both Ends.
type recorder struct {
	t     testing.TB
	conns []*rconn
	open  int
}

type rconn struct {
	info    ConnInfo
	last    ConnInfo    // as given to Close
	streams [2]*rstream // by Dir
	closed  Reason
}

type rstream struct {
	t       testing.TB
	dir     Dir
	out     strings.Builder
	end     Reason
	next    uint32
	started bool
	bytes   int
}

func (r *recorder) Open(c ConnInfo) (Stream, Stream) {
	rc := &rconn{info: c}
	for d := range rc.streams {
		rc.streams[d] = &rstream{t: r.t, dir: Dir(d)}
	}
	r.conns = append(r.conns, rc)
	r.open++
	return rc.streams[ClientToServer], rc.streams[ServerToClient]
}

func (r *recorder) Close(c ConnInfo, why Reason) {
	for _, rc := range r.conns {
		if idOf(rc.info) == idOf(c) && rc.closed == 0 {
			rc.closed, rc.last = why, c
			for _, s := range rc.streams {
				if s.end == 0 {
					r.t.Errorf("%v closed (%v) before its %v stream ended", c.Key, why, s.dir)
				}
			}
			r.open--
			return
		}
	}
	r.t.Errorf("Close of unknown connection %v", c.Key)
}

func (s *rstream) Data(b []byte, m Meta) {
	if s.end != 0 {
		s.t.Errorf("%v: data after End(%v)", s.dir, s.end)
	}
	if m.Dir != s.dir {
		s.t.Errorf("meta dir %v on the %v stream", m.Dir, s.dir)
	}
	if s.started && m.Seq != s.next+m.Gap {
		s.t.Errorf("%v: chunk at seq %d, want %d + gap %d", s.dir, m.Seq, s.next, m.Gap)
	}
	if m.Midstream {
		s.out.WriteString("|mid|")
	}
	if m.Gap > 0 {
		fmt.Fprintf(&s.out, "|gap=%d|", m.Gap)
	}
	s.out.Write(b)
	s.started, s.next = true, m.Seq+uint32(len(b))
	s.bytes += len(b)
}

func (s *rstream) End(r Reason) {
	if s.end != 0 {
		s.t.Errorf("%v: End(%v) after End(%v)", s.dir, r, s.end)
	}
	s.end = r
}
