//go:build !linux

package capture

import (
	"errors"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// LiveOptions configure a live capture (Linux only).
type LiveOptions struct {
	SnapLen       int
	Filter        string
	RingBytes     int
	NoPromiscuous bool
}

// Live is a live capture; only Linux is supported.
type Live struct{}

var errUnsupported = errors.New("capture: live capture needs Linux (AF_PACKET)")

// OpenLive fails: live capture needs Linux.
func OpenLive(string, int) (*Live, error) { return nil, errUnsupported }

// OpenInterfaces fails: live capture needs Linux.
func OpenInterfaces([]string, LiveOptions) (*Live, error) { return nil, errUnsupported }

// ReadPacketData never returns a packet.
func (*Live) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	return nil, gopacket.CaptureInfo{}, ErrClosed
}

// LinkType is Ethernet.
func (*Live) LinkType() layers.LinkType { return layers.LinkTypeEthernet }

// Close does nothing.
func (*Live) Close() error { return nil }

// KernelStats is empty.
func (*Live) KernelStats() []InterfaceStats { return nil }
