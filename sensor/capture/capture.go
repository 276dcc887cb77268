// Package capture is where packets enter the sensor: live from one or more
// network interfaces through AF_PACKET memory-mapped rings, or from a pcap or
// pcapng file or stream (standard input).
//
// A live capture on the loopback interface sees every packet twice (once
// leaving, once arriving); the kernel filter attached here keeps only the
// arriving copy, as libpcap does, so each frame on lo is counted once.
//
// A capture filter is a small tcpdump-like expression (see [CompileFilter])
// compiled in pure Go to classic BPF: attached to the socket of a live
// capture, run in a BPF interpreter over the packets of a file.
package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

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

// ErrTimeout is returned by a live source's ReadPacketData when no packet
// arrived for a while (about 100 ms). It is not an error: it lets the reader
// move time on over a quiet link. Test for it with errors.Is.
var ErrTimeout = errors.New("capture: no packet before the read timeout")

// ErrClosed is returned by ReadPacketData after Close.
var ErrClosed = errors.New("capture: closed")

// Source yields captured packets. ReadPacketData returns io.EOF at the end
// of a file, ErrTimeout on a quiet live link, ErrClosed after Close. The
// returned data is valid until the next call to ReadPacketData.
type Source interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
	Close() error
}

// InterfaceStats are the kernel's counters of one live interface since the
// capture started.
type InterfaceStats struct {
	Name     string
	Packets  uint64 // packets the kernel passed the filter
	Drops    uint64 // packets the kernel dropped because the sensor did not keep up
	Freezes  uint64 // times the ring was full (TPACKET_V3 queue freezes)
	Captured uint64 // packets handed to the reader
}

// KernelStatser is a source that reports kernel counters (a live capture).
// KernelStats may be called from any goroutine.
type KernelStatser interface {
	KernelStats() []InterfaceStats
}

// File is a capture read from a pcap or pcapng file (or stream).
type File struct {
	r interface {
		ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
		LinkType() layers.LinkType
	}
	c        io.Closer
	counter  *countingReader
	filter   *bpf.VM
	filtered uint64
}

var _ Source = (*File)(nil)

// countingReader counts the bytes read from a file, for progress reports.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

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
	cr := &countingReader{r: rc}
	f, err := NewReader(bufio.NewReaderSize(cr, 1<<20), rc)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.counter = cr
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

// SetFilter keeps only the packets the filter expression matches (see
// CompileFilter); "" removes the filter.
func (f *File) SetFilter(expr string) error {
	if expr == "" {
		f.filter = nil
		return nil
	}
	prog, err := compileFilter(expr, f.LinkType(), DefaultSnapLen)
	if err != nil {
		return err
	}
	ins, _ := bpf.Disassemble(prog)
	vm, err := bpf.NewVM(ins)
	if err != nil {
		return fmt.Errorf("capture filter: %w", err)
	}
	f.filter = vm
	return nil
}

// ReadPacketData returns the next packet (that passes the filter), or
// io.EOF at the end. The data is valid until the next call.
func (f *File) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	for {
		data, ci, err := f.r.ZeroCopyReadPacketData()
		if err != nil || f.filter == nil {
			return data, ci, err
		}
		if n, err := f.filter.Run(data); err == nil && n > 0 {
			return data, ci, nil
		}
		f.filtered++
	}
}

// Filtered is the number of packets the filter left out.
func (f *File) Filtered() uint64 { return f.filtered }

// Offset is how many bytes of the file were read so far (a little ahead of
// the packets returned, by the read buffer); 0 for a stream from NewReader.
// It may be called from any goroutine.
func (f *File) Offset() int64 {
	if f.counter == nil {
		return 0
	}
	return f.counter.n.Load()
}

// LinkType is the file's link type.
func (f *File) LinkType() layers.LinkType { return f.r.LinkType() }

// Close closes the underlying file.
func (f *File) Close() error {
	if f.c == nil {
		return nil
	}
	return f.c.Close()
}
