package reassembly

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// Key names one direction of a TCP connection: the packet's source and
// destination address and port. Addresses are held in 16-byte form (IPv4 as
// IPv4-mapped IPv6) so the key is a fixed-size, pointer-free, comparable value:
// a map of keys costs the garbage collector nothing to scan.
type Key struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
}

// KeyFrom builds the key of a packet sent from src to dst.
func KeyFrom(src, dst netip.AddrPort) Key {
	return Key{Src: src.Addr().As16(), Dst: dst.Addr().As16(), SrcPort: src.Port(), DstPort: dst.Port()}
}

// KeyFromIPs builds a key from raw 4- or 16-byte addresses as they sit in the
// IP header (gopacket's layers.IPv4.SrcIP, for example), without allocating.
// An address of any other length is left zero.
func KeyFromIPs(src, dst []byte, srcPort, dstPort uint16) Key {
	k := Key{SrcPort: srcPort, DstPort: dstPort}
	put16(&k.Src, src)
	put16(&k.Dst, dst)
	return k
}

func put16(a *[16]byte, ip []byte) {
	switch len(ip) {
	case 4:
		a[10], a[11] = 0xff, 0xff
		copy(a[12:], ip)
	case 16:
		copy(a[:], ip)
	}
}

// Reverse returns the key of the opposite direction.
func (k Key) Reverse() Key {
	return Key{Src: k.Dst, Dst: k.Src, SrcPort: k.DstPort, DstPort: k.SrcPort}
}

// SrcAddrPort returns the source as an address and port (IPv4 unmapped).
func (k Key) SrcAddrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(k.Src).Unmap(), k.SrcPort)
}

// DstAddrPort returns the destination as an address and port (IPv4 unmapped).
func (k Key) DstAddrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(k.Dst).Unmap(), k.DstPort)
}

// String formats the key as "src:port-dst:port", the form flow ids use.
func (k Key) String() string {
	return k.SrcAddrPort().String() + "-" + k.DstAddrPort().String()
}

// canon sets *out to the key both directions of a connection share (the
// lower endpoint first, in an arbitrary but fixed order) and returns which
// side of it the packet's sender is.
func canon(k, out *Key) uint8 {
	if endpointLess(&k.Dst, k.DstPort, &k.Src, k.SrcPort) {
		*out = Key{Src: k.Dst, Dst: k.Src, SrcPort: k.DstPort, DstPort: k.SrcPort}
		return 1
	}
	*out = *k
	return 0
}

func sameKey(a, b *Key) bool {
	return a.SrcPort == b.SrcPort && a.DstPort == b.DstPort && a.Src == b.Src && a.Dst == b.Dst
}

func reverseKey(a, b *Key) bool {
	return a.SrcPort == b.DstPort && a.DstPort == b.SrcPort && a.Src == b.Dst && a.Dst == b.Src
}

func endpointLess(a *[16]byte, ap uint16, b *[16]byte, bp uint16) bool {
	// Any fixed total order will do: native loads are cheapest.
	a0, b0 := binary.LittleEndian.Uint64(a[:8]), binary.LittleEndian.Uint64(b[:8])
	if a0 != b0 {
		return a0 < b0
	}
	a1, b1 := binary.LittleEndian.Uint64(a[8:]), binary.LittleEndian.Uint64(b[8:])
	if a1 != b1 {
		return a1 < b1
	}
	return ap < bp
}

// String names a direction.
func (d Dir) String() string {
	switch d {
	case ClientToServer:
		return "client-to-server"
	case ServerToClient:
		return "server-to-client"
	}
	return "dir(" + strconv.Itoa(int(d)) + ")"
}

// String names a reason.
func (r Reason) String() string {
	switch r {
	case ReasonFIN:
		return "fin"
	case ReasonRST:
		return "rst"
	case ReasonIdle:
		return "idle"
	case ReasonEvicted:
		return "evicted"
	case ReasonReused:
		return "reused"
	case ReasonShutdown:
		return "shutdown"
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}
