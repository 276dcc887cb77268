// Package wiretest records what tests put on the loopback wire and asks
// Wireshark's dissectors (tshark) what they make of it. It is for tests only.
package wiretest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/otrange/otrange/sensor/capture"
)

// Recorder captures packets on lo that match a predicate.
type Recorder struct {
	t      testing.TB
	src    *capture.Live
	match  func(gopacket.Packet) bool
	marker []byte

	mu      sync.Mutex
	packets []recorded
	sawMark chan struct{}
	done    chan struct{}
	stopped bool
}

type recorded struct {
	ci   gopacket.CaptureInfo
	data []byte
}

// Capture starts recording packets on lo for which match returns true
// (nil: all). Capture is live when it returns. It skips the test when the
// process has no capture rights and CI is not set; under CI it fails.
func Capture(t testing.TB, match func(gopacket.Packet) bool) *Recorder {
	t.Helper()
	src, err := capture.OpenLive("lo", 0)
	if err != nil {
		if errors.Is(err, capture.ErrPermission) && os.Getenv("CI") == "" {
			t.Skipf("wiretest: %v", err)
		}
		t.Fatalf("wiretest: %v", err)
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	r := &Recorder{
		t: t, src: src, match: match,
		marker:  []byte("wiretest-marker-" + hex.EncodeToString(tok)),
		sawMark: make(chan struct{}),
		done:    make(chan struct{}),
	}
	go r.loop()
	t.Cleanup(func() { r.close() })
	return r
}

func (r *Recorder) loop() {
	defer close(r.done)
	for {
		data, ci, err := r.src.ReadPacketData()
		if err != nil {
			return
		}
		if bytes.Contains(data, r.marker) {
			r.mu.Lock()
			if !r.stopped {
				r.stopped = true
				close(r.sawMark)
			}
			r.mu.Unlock()
			continue
		}
		pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.NoCopy)
		if r.match != nil && !r.match(pkt) {
			continue
		}
		r.mu.Lock()
		if !r.stopped {
			r.packets = append(r.packets, recorded{ci: ci, data: data})
		}
		r.mu.Unlock()
	}
}

func (r *Recorder) close() {
	r.src.Close()
	<-r.done
}

// Stop waits until every packet sent before the call has been read (it sends
// a marker datagram through lo and waits to see it), stops recording and
// writes the packets to a pcap file in the test's temporary folder.
func (r *Recorder) Stop() string {
	r.t.Helper()
	conn, err := net.Dial("udp", "127.0.0.1:9")
	if err != nil {
		r.t.Fatalf("wiretest: marker: %v", err)
	}
	defer conn.Close()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for sent := false; ; {
		if !sent {
			conn.Write(r.marker)
			sent = true
		}
		select {
		case <-r.sawMark:
			r.close()
			return r.write()
		case <-tick.C:
			sent = false // resend: the first may have been lost
		case <-deadline:
			r.t.Fatalf("wiretest: marker never seen on lo")
		}
	}
}

// Packets returns the recorded packets decoded, for assertions in Go.
func (r *Recorder) Packets() []gopacket.Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]gopacket.Packet, 0, len(r.packets))
	for _, p := range r.packets {
		pkt := gopacket.NewPacket(p.data, layers.LayerTypeEthernet, gopacket.Default)
		pkt.Metadata().CaptureInfo = p.ci
		out = append(out, pkt)
	}
	return out
}

func (r *Recorder) write() string {
	r.t.Helper()
	path := filepath.Join(r.t.TempDir(), "capture.pcap")
	f, err := os.Create(path)
	if err != nil {
		r.t.Fatalf("wiretest: %v", err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(capture.DefaultSnapLen, layers.LinkTypeEthernet); err != nil {
		r.t.Fatalf("wiretest: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.packets {
		if err := w.WritePacket(p.ci, p.data); err != nil {
			r.t.Fatalf("wiretest: %v", err)
		}
	}
	return path
}

// WritePcap writes packets (Ethernet frames) to a pcap file in the test's temporary folder.
func WritePcap(t testing.TB, frames [][]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "frames.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("wiretest: %v", err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(capture.DefaultSnapLen, layers.LinkTypeEthernet); err != nil {
		t.Fatalf("wiretest: %v", err)
	}
	now := time.Now()
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: now.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatalf("wiretest: %v", err)
		}
	}
	return path
}

// TsharkPath returns tshark's path. Without it the test is skipped, unless CI
// is set, where a missing tshark is a failure.
func TsharkPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("wiretest: tshark not installed (make deps installs it)")
		}
		t.Skip("wiretest: tshark not installed; run make deps")
	}
	return p
}

// Tshark runs tshark -r pcap with args and returns its standard output.
func Tshark(t testing.TB, pcap string, args ...string) []byte {
	t.Helper()
	bin := TsharkPath(t)
	cmd := exec.Command(bin, append([]string{"-n", "-r", pcap}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user profile
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("wiretest: tshark %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// TCPPort matches packets with the given TCP port on either side.
func TCPPort(port uint16) func(gopacket.Packet) bool {
	return func(p gopacket.Packet) bool {
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		return ok && (uint16(tcp.SrcPort) == port || uint16(tcp.DstPort) == port)
	}
}

// Host matches IPv4 packets to or from addr.
func Host(addr net.IP) func(gopacket.Packet) bool {
	return func(p gopacket.Packet) bool {
		ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		return ok && (ip.SrcIP.Equal(addr) || ip.DstIP.Equal(addr))
	}
}
