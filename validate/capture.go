package validate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/otrange/otrange/sensor/capture"
)

// recorder writes what crosses lo within one subnet to a pcap file.
type recorder struct {
	src    *capture.Live
	f      *os.File
	bw     *bufio.Writer
	w      *pcapgo.Writer
	marker []byte
	max    int

	sawMark chan struct{}
	done    chan struct{}
	// Written by the loop; read after done.
	packets   int
	truncated uint64
	err       error
}

// startRecorder starts capturing packets of subnet on lo into path; the
// capture is live when it returns. At most max packets are written; the
// rest are counted.
func startRecorder(path string, subnet netip.Prefix, max int) (*recorder, error) {
	src, err := capture.OpenInterfaces([]string{"lo"}, capture.LiveOptions{
		Filter: "net " + subnet.String(), RingBytes: 64 << 20})
	if err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		src.Close()
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(capture.DefaultSnapLen, layers.LinkTypeEthernet); err != nil {
		src.Close()
		f.Close()
		return nil, err
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	r := &recorder{src: src, f: f, bw: bw, w: w, max: max,
		marker:  []byte("otrange-validate-marker-" + hex.EncodeToString(tok)),
		sawMark: make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	return r, nil
}

func (r *recorder) loop() {
	defer close(r.done)
	marked := false
	for {
		data, ci, err := r.src.ReadPacketData()
		switch {
		case errors.Is(err, capture.ErrTimeout):
			continue
		case err != nil:
			if !errors.Is(err, capture.ErrClosed) && !errors.Is(err, io.EOF) {
				r.err = err
			}
			return
		}
		if marked {
			continue
		}
		if bytes.Contains(data, r.marker) {
			marked = true
			close(r.sawMark)
			continue
		}
		if r.packets >= r.max {
			r.truncated++
			continue
		}
		if err := r.w.WritePacket(ci, data); err != nil && r.err == nil {
			r.err = err
		}
		r.packets++
	}
}

// stop waits until every packet sent before the call has been read (a
// marker datagram from markerSrc crosses lo and is seen), then closes the
// capture and the file. It returns the kernel's drop count.
func (r *recorder) stop(ctx context.Context, markerSrc netip.Addr) (drops uint64, err error) {
	defer func() {
		r.src.Close()
		<-r.done
		if e := r.bw.Flush(); e != nil && err == nil {
			err = e
		}
		if e := r.f.Close(); e != nil && err == nil {
			err = e
		}
		if r.err != nil && err == nil {
			err = r.err
		}
	}()
	d := net.Dialer{LocalAddr: &net.UDPAddr{IP: markerSrc.AsSlice()}}
	dst := netip.AddrPortFrom(markerSrc.Next(), 9) // nothing listens; the datagram only has to cross lo
	conn, err := d.DialContext(ctx, "udp", dst.String())
	if err != nil {
		return 0, fmt.Errorf("capture marker: %w", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		conn.Write(r.marker) // resent until seen: a datagram may be lost
		select {
		case <-r.sawMark:
			for _, s := range r.src.KernelStats() {
				drops += s.Drops
			}
			return drops, nil
		case <-r.done:
			return 0, fmt.Errorf("capture ended before its marker: %v", r.err)
		case <-ctx.Done():
			return 0, fmt.Errorf("capture marker never seen on lo: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// packet is one frame of a capture, reduced to what labelling needs.
type packet struct {
	Frame     uint64
	Time      time.Time
	Transport string // "tcp", "udp", or "" for other frames
	Src, Dst  netip.AddrPort
	SYN, ACK  bool
}

// readPackets reads the frames of a pcap or pcapng file (at most max; 0:
// no bound beyond MaxPackets).
func readPackets(path string, max int) ([]packet, error) {
	if max <= 0 {
		max = MaxPackets
	}
	src, err := capture.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var (
		eth     layers.Ethernet
		lo      layers.Loopback
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		udp     layers.UDP
		payload gopacket.Payload
	)
	first := layers.LayerTypeEthernet
	switch src.LinkType() {
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		first = layers.LayerTypeLoopback
	case layers.LinkTypeRaw, layers.LinkTypeIPv4:
		first = layers.LayerTypeIPv4
	}
	parser := gopacket.NewDecodingLayerParser(first, &eth, &lo, &ip4, &ip6, &tcp, &udp, &payload)
	parser.IgnoreUnsupported = true
	var decoded []gopacket.LayerType
	var out []packet
	for frame := uint64(1); ; frame++ {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s frame %d: %w", path, frame, err)
		}
		if len(out) >= max {
			return out, fmt.Errorf("%s: more than %d frames", path, max)
		}
		p := packet{Frame: frame, Time: ci.Timestamp}
		_ = parser.DecodeLayers(data, &decoded)
		var sa, da netip.Addr
		for _, lt := range decoded {
			switch lt {
			case layers.LayerTypeIPv4:
				sa, _ = netip.AddrFromSlice(ip4.SrcIP.To4())
				da, _ = netip.AddrFromSlice(ip4.DstIP.To4())
			case layers.LayerTypeIPv6:
				sa, _ = netip.AddrFromSlice(ip6.SrcIP)
				da, _ = netip.AddrFromSlice(ip6.DstIP)
			case layers.LayerTypeTCP:
				p.Transport, p.SYN, p.ACK = "tcp", tcp.SYN, tcp.ACK
				p.Src, p.Dst = netip.AddrPortFrom(sa, uint16(tcp.SrcPort)), netip.AddrPortFrom(da, uint16(tcp.DstPort))
			case layers.LayerTypeUDP:
				p.Transport = "udp"
				p.Src, p.Dst = netip.AddrPortFrom(sa, uint16(udp.SrcPort)), netip.AddrPortFrom(da, uint16(udp.DstPort))
			}
		}
		if p.Transport == "" && sa.IsValid() {
			p.Src, p.Dst = netip.AddrPortFrom(sa, 0), netip.AddrPortFrom(da, 0)
		}
		out = append(out, p)
	}
}
