// Package capture is where packets enter the sensor: live from an interface
// through an AF_PACKET socket, or from a pcap or pcapng file.
//
// A live capture on the loopback interface sees every packet twice (once
// leaving, once arriving); the kernel filter attached here keeps only the
// arriving copy, as libpcap does, so each frame on lo is counted once.
package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// DefaultSnapLen is the number of bytes kept of each packet unless asked otherwise.
const DefaultSnapLen = 65535

// ErrPermission means the process may not open a packet socket.
var ErrPermission = errors.New("no capture rights: run as root or grant the binary " +
	"cap_net_raw,cap_net_admin (sudo setcap cap_net_raw,cap_net_admin=eip $(which otrange))")

// Source yields captured packets. ReadPacketData returns io.EOF at the end of a file.
type Source interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
	Close() error
}

// Live is a capture on a network interface.
type Live struct {
	h     *pcapgo.EthernetHandle
	iface string
}

var _ Source = (*Live)(nil)

// OpenLive starts capturing on the named interface. snapLen <= 0 means DefaultSnapLen.
// The capture is active when OpenLive returns.
func OpenLive(iface string, snapLen int) (*Live, error) {
	if snapLen <= 0 {
		snapLen = DefaultSnapLen
	}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("capture on %q: no such interface", iface)
	}
	h, err := pcapgo.NewEthernetHandle(iface)
	if err != nil {
		if isPermission(err) {
			return nil, fmt.Errorf("capture on %q: %w", iface, ErrPermission)
		}
		return nil, fmt.Errorf("capture on %q: %w", iface, err)
	}
	if err := h.SetCaptureLength(snapLen); err != nil {
		h.Close()
		return nil, fmt.Errorf("capture on %q: snap length: %w", iface, err)
	}
	prog, err := filterProgram(ifi.Flags&net.FlagLoopback != 0, snapLen)
	if err == nil {
		err = h.SetBPF(prog)
	}
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("capture on %q: attach filter: %w", iface, err)
	}
	return &Live{h: h, iface: iface}, nil
}

// isPermission tells a refused packet socket; pcapgo formats the errno away.
func isPermission(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "operation not permitted") || strings.Contains(msg, "permission denied")
}

// filterProgram builds the kernel filter: on loopback it drops the outgoing
// copy of each packet; everywhere it truncates to snapLen.
func filterProgram(loopback bool, snapLen int) ([]bpf.RawInstruction, error) {
	const packetOutgoing = 4 // PACKET_OUTGOING from linux/if_packet.h
	var prog []bpf.Instruction
	if loopback {
		prog = append(prog,
			bpf.LoadExtension{Num: bpf.ExtType},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: 1},
		)
	}
	prog = append(prog, bpf.RetConstant{Val: uint32(snapLen)})
	if loopback {
		prog = append(prog, bpf.RetConstant{Val: 0})
	}
	return bpf.Assemble(prog)
}

// ReadPacketData returns the next packet; the data is a fresh slice.
func (l *Live) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	return l.h.ReadPacketData()
}

// LinkType is Ethernet: Linux presents loopback frames with an Ethernet header too.
func (l *Live) LinkType() layers.LinkType { return layers.LinkTypeEthernet }

// Close stops the capture and unblocks a pending read.
func (l *Live) Close() error { return l.h.Close() }

// Stats reports the kernel's packet and drop counters since the last call.
func (l *Live) Stats() (packets, drops uint32, err error) {
	s, err := l.h.Stats()
	if err != nil {
		return 0, 0, err
	}
	return s.Packets, s.Drops, nil
}

// File is a capture read from a pcap or pcapng file (or stream).
type File struct {
	r interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
		LinkType() layers.LinkType
	}
	c io.Closer
}

var _ Source = (*File)(nil)

// OpenFile opens a pcap or pcapng file; "-" reads standard input.
func OpenFile(path string) (*File, error) {
	var rc io.ReadCloser
	if path == "-" {
		rc = io.NopCloser(os.Stdin)
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		rc = f
	}
	f, err := NewReader(bufio.NewReaderSize(rc, 1<<20), rc)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// NewReader reads a pcap or pcapng stream from r, telling them apart by the
// magic number; c (may be nil) is closed by Close.
func NewReader(r *bufio.Reader, c io.Closer) (*File, error) {
	magic, err := r.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("not a capture file: %w", err)
	}
	if magic[0] == 0x0a && magic[1] == 0x0d && magic[2] == 0x0d && magic[3] == 0x0a {
		ng, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("pcapng: %w", err)
		}
		return &File{r: ng, c: c}, nil
	}
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("pcap: %w", err)
	}
	return &File{r: pr, c: c}, nil
}

// ReadPacketData returns the next packet, or io.EOF at the end.
func (f *File) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) { return f.r.ReadPacketData() }

// LinkType is the file's link type.
func (f *File) LinkType() layers.LinkType { return f.r.LinkType() }

// Close closes the underlying file.
func (f *File) Close() error {
	if f.c == nil {
		return nil
	}
	return f.c.Close()
}
