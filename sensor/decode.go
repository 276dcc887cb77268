package sensor

import (
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/otrange/otrange/sensor/reassembly"
)

// transport is what a decoded packet carries.
type transport uint8

const (
	transOther transport = iota // decoded, but neither TCP nor UDP (ARP, ICMP, fragments)
	transTCP
	transUDP
	transError // not decodable down to the IP header
)

// decoder decodes link, network and transport layers into reused structs:
// nothing is allocated per packet.
type decoder struct {
	parser  *gopacket.DecodingLayerParser // first layer by link type
	parser6 *gopacket.DecodingLayerParser // raw IP links: IPv6 first
	raw     bool
	eth     layers.Ethernet
	vlan    layers.Dot1Q
	sll     layers.LinuxSLL
	loop    layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     tcpLayer
	udp     udpLayer
	decoded []gopacket.LayerType
	pkt     packet
}

// packet is the part of a decoded packet the sensor uses; its slices alias
// the packet data.
type packet struct {
	src, dst       netip.AddrPort
	srcMAC, dstMAC net.HardwareAddr // nil without an Ethernet header
	seg            reassembly.Packet
	payload        []byte // UDP payload
}

// tcpLayer and udpLayer are the transport layers, after which decoding
// stops: the payload goes on as bytes (to reassembly, to the analyzer), so
// gopacket need not look up a layer type by port for every packet and then
// decode the payload as a layer.
type (
	tcpLayer struct{ layers.TCP }
	udpLayer struct{ layers.UDP }
)

// NextLayerType implements gopacket.DecodingLayer: nothing follows.
func (*tcpLayer) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

// NextLayerType implements gopacket.DecodingLayer: nothing follows.
func (*udpLayer) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

func newDecoder(link layers.LinkType) *decoder {
	d := &decoder{decoded: make([]gopacket.LayerType, 0, 8)}
	layersList := []gopacket.DecodingLayer{&d.eth, &d.vlan, &d.sll, &d.loop, &d.ip4, &d.ip6, &d.tcp, &d.udp}
	mk := func(first gopacket.LayerType) *gopacket.DecodingLayerParser {
		p := gopacket.NewDecodingLayerParser(first)
		p.SetDecodingLayerContainer(gopacket.DecodingLayerSparse(nil))
		for _, l := range layersList {
			p.AddDecodingLayer(l)
		}
		p.IgnoreUnsupported = true
		return p
	}
	switch link {
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		d.raw = true
		d.parser, d.parser6 = mk(layers.LayerTypeIPv4), mk(layers.LayerTypeIPv6)
	case layers.LinkTypeLinuxSLL:
		d.parser = mk(layers.LayerTypeLinuxSLL)
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		d.parser = mk(layers.LayerTypeLoopback)
	default:
		d.parser = mk(layers.LayerTypeEthernet)
	}
	return d
}

// decode fills d.pkt and says what the packet carries.
func (d *decoder) decode(data []byte) transport {
	p := d.parser
	if d.raw && len(data) > 0 && data[0]>>4 == 6 {
		p = d.parser6
	}
	// Errors are judged by how far decoding got: a packet whose transport
	// header was read is used whatever follows.
	err := p.DecodeLayers(data, &d.decoded)
	pk := &d.pkt
	pk.srcMAC, pk.dstMAC = nil, nil
	var srcIP, dstIP []byte
	for _, lt := range d.decoded {
		switch lt {
		case layers.LayerTypeEthernet:
			pk.srcMAC, pk.dstMAC = d.eth.SrcMAC, d.eth.DstMAC
		case layers.LayerTypeIPv4:
			srcIP, dstIP = d.ip4.SrcIP, d.ip4.DstIP
		case layers.LayerTypeIPv6:
			srcIP, dstIP = d.ip6.SrcIP, d.ip6.DstIP
		case layers.LayerTypeTCP:
			t := &d.tcp.TCP
			if len(t.Contents) < 14 || srcIP == nil {
				return transError
			}
			pk.seg.Key = reassembly.KeyFromIPs(srcIP, dstIP, uint16(t.SrcPort), uint16(t.DstPort))
			pk.seg.Seq = t.Seq
			pk.seg.Flags = reassembly.Flags(t.Contents[13])
			pk.seg.Payload = t.Payload
			return transTCP
		case layers.LayerTypeUDP:
			if srcIP == nil {
				return transError
			}
			s, _ := netip.AddrFromSlice(srcIP)
			t, _ := netip.AddrFromSlice(dstIP)
			pk.src = netip.AddrPortFrom(s.Unmap(), uint16(d.udp.SrcPort))
			pk.dst = netip.AddrPortFrom(t.Unmap(), uint16(d.udp.DstPort))
			pk.payload = d.udp.Payload
			return transUDP
		}
	}
	if err != nil {
		return transError // a header shorter than it says, a bad IP version...
	}
	return transOther // ARP, ICMP, fragments, other protocols
}
