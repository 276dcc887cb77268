package capture

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// LiveOptions configure a live capture. The zero value is usable.
type LiveOptions struct {
	// SnapLen is the number of bytes kept of each packet (<= 0: DefaultSnapLen).
	SnapLen int
	// Filter is a capture filter expression (see CompileFilter); "" keeps
	// every packet.
	Filter string
	// RingBytes is the size of each interface's kernel ring, the burst the
	// kernel absorbs while the sensor is busy (<= 0: 32 MiB; rounded to
	// whole MiB blocks).
	RingBytes int
	// NoPromiscuous leaves the interfaces out of promiscuous mode (a SPAN
	// port needs it: the mirrored traffic is not addressed to the host).
	NoPromiscuous bool
}

// pollTimeout is how long a read waits for a packet before ErrTimeout.
const pollTimeout = 100 * time.Millisecond

// ringBlock is the size of one block of the TPACKET_V3 ring.
const ringBlock = 1 << 20

// Live is a capture on one or more network interfaces. Packets of several
// interfaces are merged in arrival order.
type Live struct {
	ifaces []*iface
	snap   int
	closed atomic.Bool
	keep   bool // OpenLive: block through timeouts, fresh slices

	// One interface: read directly under mu (Close waits for a read to
	// finish, at most pollTimeout).
	mu  sync.Mutex
	buf []byte

	// Several interfaces: one reader goroutine each, passing filled
	// buffers on pkts and getting them back on free.
	pkts    chan livePacket
	free    chan []byte
	held    []byte // buffer of the packet last returned
	done    chan struct{}
	wg      sync.WaitGroup
	readErr atomic.Pointer[error]
	timer   *time.Timer
}

type livePacket struct {
	buf []byte
	ci  gopacket.CaptureInfo
}

// iface is the capture of one interface.
type iface struct {
	name     string
	index    int
	tp       *afpacket.TPacket
	mu       sync.Mutex // guards tp against Close while stats are read
	closed   bool
	last     InterfaceStats
	captured atomic.Uint64
	// early filters in user space the packets that entered the ring
	// before the kernel filter was attached (a socket sees everything
	// until then); nil once a packet from after attached is read.
	early    *bpf.VM
	attached time.Time
}

var _ Source = (*Live)(nil)
var _ KernelStatser = (*Live)(nil)

// OpenLive starts capturing on the named interface. snapLen <= 0 means
// DefaultSnapLen. The capture is active when OpenLive returns.
//
// Unlike OpenInterfaces, its ReadPacketData blocks until a packet arrives
// or the capture is closed (no ErrTimeout) and returns a fresh slice per
// packet, which the caller may keep: the contract of the first capture API,
// for recorders that keep packets. The sensor prefers OpenInterfaces.
func OpenLive(name string, snapLen int) (*Live, error) {
	l, err := OpenInterfaces([]string{name}, LiveOptions{SnapLen: snapLen})
	if err != nil {
		return nil, err
	}
	l.keep = true
	return l, nil
}

// OpenInterfaces starts capturing on every named interface. The capture is
// active when it returns. Errors name the interface; a process without the
// rights gets an error wrapping ErrPermission. ReadPacketData returns
// ErrTimeout after about 100 ms without a packet, and data valid until the
// next call: nothing is allocated per packet.
func OpenInterfaces(names []string, opt LiveOptions) (*Live, error) {
	if len(names) == 0 {
		return nil, errors.New("capture: no interface given")
	}
	if opt.SnapLen <= 0 {
		opt.SnapLen = DefaultSnapLen
	}
	if opt.RingBytes <= 0 {
		opt.RingBytes = 32 << 20
	}
	blocks := max(1, (opt.RingBytes+ringBlock-1)/ringBlock)
	l := &Live{snap: opt.SnapLen, buf: make([]byte, opt.SnapLen)}
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			l.Close()
			return nil, fmt.Errorf("capture on %q: interface given twice", name)
		}
		seen[name] = true
		ifc, err := openIface(name, opt, blocks)
		if err != nil {
			l.Close()
			return nil, err
		}
		l.ifaces = append(l.ifaces, ifc)
	}
	if len(l.ifaces) > 1 {
		l.startReaders()
	}
	return l, nil
}

func openIface(name string, opt LiveOptions, blocks int) (*iface, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("capture on %q: no such interface", name)
	}
	typ, err := os.ReadFile("/sys/class/net/" + name + "/type")
	if err == nil {
		// ARPHRD_ETHER (1) and ARPHRD_LOOPBACK (772) frames carry an
		// Ethernet header; others (tun, ppp) do not.
		if t := strings.TrimSpace(string(typ)); t != "1" && t != "772" {
			return nil, fmt.Errorf("capture on %q: link type %s is not Ethernet (only Ethernet and loopback interfaces are supported)", name, t)
		}
	}
	loopback := ifi.Flags&net.FlagLoopback != 0
	prog, err := liveFilter(loopback, opt.Filter, opt.SnapLen)
	if err != nil {
		return nil, err
	}
	var early *bpf.VM
	if strings.TrimSpace(opt.Filter) != "" {
		user, _ := compileFilter(opt.Filter, layers.LinkTypeEthernet, opt.SnapLen)
		ins, _ := bpf.Disassemble(user)
		if early, err = bpf.NewVM(ins); err != nil {
			return nil, fmt.Errorf("capture filter: %w", err)
		}
	}
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(name),
		afpacket.TPacketVersion3,
		afpacket.OptBlockSize(ringBlock),
		afpacket.OptNumBlocks(blocks),
		afpacket.OptBlockTimeout(10*time.Millisecond),
		afpacket.OptPollTimeout(pollTimeout),
		afpacket.OptAddVLANHeader(true),
	)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("capture on %q: %w", name, ErrPermission)
		}
		return nil, fmt.Errorf("capture on %q: %w", name, err)
	}
	if err := tp.SetBPF(prog); err != nil {
		tp.Close()
		return nil, fmt.Errorf("capture on %q: attach filter: %w", name, err)
	}
	// Packets that entered the ring before the filter was attached are
	// filtered by read with the user's expression; the outgoing copies on
	// lo among them are left: the decoder sees them as duplicates, which
	// TCP reassembly absorbs.
	attached := time.Now()
	if !opt.NoPromiscuous && !loopback {
		if err := tp.SetPromiscuous(true); err != nil {
			tp.Close()
			return nil, fmt.Errorf("capture on %q: promiscuous mode: %w", name, err)
		}
	}
	return &iface{name: name, index: ifi.Index, tp: tp, last: InterfaceStats{Name: name}, early: early, attached: attached}, nil
}

// liveFilter builds the kernel filter: on loopback it first drops the
// outgoing copy of each packet; then the user's expression, truncating to
// snapLen.
func liveFilter(loopback bool, expr string, snapLen int) ([]bpf.RawInstruction, error) {
	user, err := compileFilter(expr, layers.LinkTypeEthernet, snapLen)
	if err != nil {
		return nil, err
	}
	if !loopback {
		return user, nil
	}
	const packetOutgoing = 4 // PACKET_OUTGOING from linux/if_packet.h
	prefix, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: packetOutgoing, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return nil, err
	}
	return append(prefix, user...), nil
}

// read copies the next packet of the interface into buf.
func (f *iface) read(buf []byte) (gopacket.CaptureInfo, error) {
	for {
		ci, err := f.tp.ReadPacketDataTo(buf)
		if err != nil {
			if errors.Is(err, afpacket.ErrTimeout) {
				return ci, ErrTimeout
			}
			return ci, fmt.Errorf("capture on %q: %w", f.name, err)
		}
		if f.early != nil {
			if !ci.Timestamp.Before(f.attached) {
				f.early = nil
			} else if n, err := f.early.Run(buf[:min(ci.CaptureLength, len(buf))]); err != nil || n == 0 {
				continue
			}
		}
		f.captured.Add(1)
		ci.InterfaceIndex = f.index
		return ci, nil
	}
}

func (f *iface) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.stats()
	f.closed = true
	f.tp.Close()
}

// stats refreshes and returns the interface's counters; f.mu held.
func (f *iface) stats() InterfaceStats {
	if !f.closed {
		if _, s3, err := f.tp.SocketStats(); err == nil {
			// The kernel's counters were accumulated by afpacket since
			// the socket opened.
			f.last.Packets, f.last.Drops, f.last.Freezes = uint64(s3.Packets()), uint64(s3.Drops()), uint64(s3.QueueFreezes())
		}
	}
	f.last.Captured = f.captured.Load()
	return f.last
}

// ReadPacketData returns the next packet, ErrTimeout after about 100 ms
// without one, ErrClosed after Close. The data is valid until the next call
// (see OpenLive for the exception).
func (l *Live) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	if !l.keep {
		return l.read()
	}
	for {
		data, ci, err := l.read()
		if errors.Is(err, ErrTimeout) {
			continue
		}
		if err != nil {
			return nil, ci, err
		}
		return append([]byte(nil), data...), ci, nil
	}
}

func (l *Live) read() ([]byte, gopacket.CaptureInfo, error) {
	if len(l.ifaces) > 1 {
		return l.readMerged()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return nil, gopacket.CaptureInfo{}, ErrClosed
	}
	ci, err := l.ifaces[0].read(l.buf)
	if err != nil {
		if l.closed.Load() {
			err = ErrClosed
		}
		return nil, ci, err
	}
	return l.buf[:ci.CaptureLength], ci, nil
}

// startReaders runs one reader goroutine per interface.
func (l *Live) startReaders() {
	l.pkts = make(chan livePacket, 256)
	l.free = make(chan []byte, 256+len(l.ifaces))
	for range cap(l.free) {
		l.free <- make([]byte, l.snap)
	}
	l.done = make(chan struct{})
	l.timer = time.NewTimer(pollTimeout)
	for _, f := range l.ifaces {
		l.wg.Add(1)
		go l.reader(f)
	}
}

func (l *Live) reader(f *iface) {
	defer l.wg.Done()
	for {
		var buf []byte
		select {
		case buf = <-l.free:
		case <-l.done:
			return
		}
		var ci gopacket.CaptureInfo
		var err error
		for {
			if l.closed.Load() {
				return
			}
			ci, err = f.read(buf)
			if !errors.Is(err, ErrTimeout) {
				break
			}
		}
		if err != nil {
			if !l.closed.Load() {
				l.readErr.CompareAndSwap(nil, &err)
			}
			return
		}
		select {
		case l.pkts <- livePacket{buf: buf, ci: ci}:
		case <-l.done:
			return
		}
	}
}

func (l *Live) readMerged() ([]byte, gopacket.CaptureInfo, error) {
	if l.held != nil {
		l.free <- l.held
		l.held = nil
	}
	var p livePacket
	select {
	case p = <-l.pkts:
	default:
		if l.closed.Load() {
			return nil, gopacket.CaptureInfo{}, ErrClosed
		}
		if e := l.readErr.Load(); e != nil {
			return nil, gopacket.CaptureInfo{}, *e
		}
		l.timer.Reset(pollTimeout)
		select {
		case p = <-l.pkts:
			l.timer.Stop()
		case <-l.timer.C:
			return nil, gopacket.CaptureInfo{}, ErrTimeout
		case <-l.done:
			l.timer.Stop()
			return nil, gopacket.CaptureInfo{}, ErrClosed
		}
	}
	l.held = p.buf
	return p.buf[:p.ci.CaptureLength], p.ci, nil
}

// LinkType is Ethernet: Linux presents loopback frames with an Ethernet header too.
func (l *Live) LinkType() layers.LinkType { return layers.LinkTypeEthernet }

// Close stops the capture and makes a pending read return ErrClosed within
// about 100 ms. It may be called from any goroutine, more than once.
func (l *Live) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	if l.done != nil {
		close(l.done)
		l.wg.Wait()
	} else {
		l.mu.Lock()
		defer l.mu.Unlock()
	}
	for _, f := range l.ifaces {
		f.close()
	}
	return nil
}

// KernelStats reports each interface's kernel counters since the capture
// started (the last values once closed).
func (l *Live) KernelStats() []InterfaceStats {
	out := make([]InterfaceStats, len(l.ifaces))
	for i, f := range l.ifaces {
		f.mu.Lock()
		out[i] = f.stats()
		f.mu.Unlock()
	}
	return out
}

// Stats reports the kernel's packet and drop counters of the first
// interface since the capture started.
func (l *Live) Stats() (packets, drops uint64, err error) {
	s := l.KernelStats()
	if len(s) == 0 {
		return 0, 0, errors.New("capture: no interface")
	}
	return s[0].Packets, s[0].Drops, nil
}
