// Package pcapfeed reads a capture file and feeds its TCP and UDP payloads
// to an analyze.Analyzer, with a simple in-order TCP follower. It is for
// tests, golden files and benchmarks over clean captures; the sensor itself
// uses sensor/reassembly, which handles loss, reordering and memory bounds.
package pcapfeed

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/otrange/otrange/sensor/analyze"
)

// Packet is one decoded transport payload of a capture.
type Packet struct {
	Frame    uint64
	Time     time.Time
	Src, Dst netip.AddrPort
	UDP      bool
	SYN, ACK bool
	FIN, RST bool
	Seq      uint32
	Payload  []byte // a copy
}

// Read returns the TCP and UDP packets of a pcap or pcapng file, in order.
func Read(path string) ([]Packet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var src interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var link layers.LinkType
	if r, err := pcapgo.NewReader(f); err == nil {
		src, link = r, r.LinkType()
	} else {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("%s: neither pcap nor pcapng: %w", path, err)
		}
		src, link = r, r.LinkType()
	}
	var out []Packet
	for frame := uint64(1); ; frame++ {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s frame %d: %w", path, frame, err)
		}
		pkt := gopacket.NewPacket(data, link, gopacket.Default)
		var sip, dip netip.Addr
		switch n := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			sip, _ = netip.AddrFromSlice(n.SrcIP.To4())
			dip, _ = netip.AddrFromSlice(n.DstIP.To4())
		case *layers.IPv6:
			sip, _ = netip.AddrFromSlice(n.SrcIP)
			dip, _ = netip.AddrFromSlice(n.DstIP)
		default:
			continue
		}
		p := Packet{Frame: frame, Time: ci.Timestamp}
		switch t := pkt.TransportLayer().(type) {
		case *layers.TCP:
			p.Src, p.Dst = netip.AddrPortFrom(sip, uint16(t.SrcPort)), netip.AddrPortFrom(dip, uint16(t.DstPort))
			p.SYN, p.ACK, p.FIN, p.RST, p.Seq = t.SYN, t.ACK, t.FIN, t.RST, t.Seq
			p.Payload = append([]byte(nil), t.Payload...)
		case *layers.UDP:
			p.Src, p.Dst = netip.AddrPortFrom(sip, uint16(t.SrcPort)), netip.AddrPortFrom(dip, uint16(t.DstPort))
			p.UDP = true
			p.Payload = append([]byte(nil), t.Payload...)
		default:
			continue
		}
		out = append(out, p)
	}
}

// connKey names a TCP connection, the lower endpoint first.
type connKey struct{ a, b netip.AddrPort }

// half follows one direction.
type half struct {
	next   uint32
	synced bool
}

type conn struct {
	c      *analyze.Conn
	client netip.AddrPort
	dirs   [2]half // 0 from client
}

// Feeder follows TCP connections and hands payloads to an analyzer.
type Feeder struct {
	A     *analyze.Analyzer
	conns map[connKey]*conn
	// KnownPorts decide the client of a connection picked up mid-way (the
	// side not on a known port); SYNs decide otherwise.
	KnownPorts map[uint16]bool
}

// NewFeeder returns a feeder for a.
func NewFeeder(a *analyze.Analyzer) *Feeder {
	return &Feeder{A: a, conns: map[connKey]*conn{}, KnownPorts: map[uint16]bool{502: true, 20000: true}}
}

// Packet feeds one packet.
func (f *Feeder) Packet(p *Packet) {
	if p.UDP {
		f.A.Datagram(p.Src, p.Dst, p.Payload, p.Time, p.Frame)
		return
	}
	k := connKey{p.Src, p.Dst}
	if k.a.Compare(k.b) > 0 {
		k = connKey{p.Dst, p.Src}
	}
	c := f.conns[k]
	if p.SYN && !p.ACK {
		// A new connection (or a reused tuple): start over.
		c = &conn{client: p.Src}
		c.c = f.A.NewConn(p.Src, p.Dst)
		c.dirs[0] = half{next: p.Seq + 1, synced: true}
		f.conns[k] = c
		return
	}
	if c == nil {
		client, server := p.Src, p.Dst
		if f.KnownPorts[p.Src.Port()] && !f.KnownPorts[p.Dst.Port()] {
			client, server = p.Dst, p.Src
		}
		c = &conn{client: client, c: f.A.NewConn(client, server)}
		f.conns[k] = c
	}
	side := 0
	if p.Src != c.client {
		side = 1
	}
	h := &c.dirs[side]
	if p.SYN {
		h.next, h.synced = p.Seq+1, true
		return
	}
	data := p.Payload
	if len(data) == 0 {
		return
	}
	if h.synced {
		d := int32(p.Seq - h.next)
		switch {
		case d < 0 && int(-d) >= len(data):
			return // retransmission
		case d < 0:
			data = data[-d:]
		case d > 0:
			c.c.Gap(p.Src)
		}
	}
	h.synced = true
	h.next = p.Seq + uint32(len(p.Payload))
	c.c.Data(p.Src, data, p.Time, p.Frame)
}

// FeedFile reads a capture and feeds every packet to a.
func FeedFile(path string, a *analyze.Analyzer) (int, error) {
	pkts, err := Read(path)
	if err != nil {
		return 0, err
	}
	f := NewFeeder(a)
	for i := range pkts {
		f.Packet(&pkts[i])
	}
	return len(pkts), nil
}
