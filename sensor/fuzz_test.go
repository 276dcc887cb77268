package sensor

import (
	"bufio"
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/otrange/otrange/internal/wiretest"
	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/capture"
)

// FuzzPackets feeds arbitrary frames, one after another on the same sensor,
// through the whole pipeline: nothing may panic and counters stay consistent.
func FuzzPackets(f *testing.F) {
	a := netip.MustParseAddrPort("127.66.0.9:40000")
	p := netip.MustParseAddrPort("127.10.1.10:502")
	f.Add(segment(f, a, p, 1, true, nil), segment(f, a, p, 2, false, adu(1, modbus.WriteSingleRegister(1, 5))))
	f.Add(segment(f, a, p, 9, false, adu(1, modbus.WriteMultipleRegisters(0, []uint16{1, 2, 3}))[:9]), segment(f, a, p, 18, false, []byte{0, 1, 2}))
	f.Add(frame(f, a, p, 1, false, adu(2, modbus.ReadCoils(0, 8)), frameOpts{vlan: true}), []byte{0xff, 0xff})
	f.Add([]byte{0xff, 0xff}, []byte{})
	f.Fuzz(func(t *testing.T, first, second []byte) {
		s, err := New(Config{Sink: alert.SinkFunc(func(alert.Alert) {}), MaxFlows: 4, AuthorizedMasters: []netip.Addr{hmiAddr}})
		if err != nil {
			t.Fatal(err)
		}
		s.Run(context.Background(), &frames{data: [][]byte{first, second, first}})
		st := s.Stats()
		if st.Packets != 3 || st.TCP+st.UDP+st.Other+st.DecodeErrors != 3 || st.Panics != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// seedCaptures returns small real captures to seed FuzzCapture: the thin
// slice's and the shared ones that exist.
func seedCaptures(f *testing.F) [][]byte {
	var out [][]byte
	paths, _ := filepath.Glob(filepath.Join(wiretest.PcapDir(f), "*.pcap"))
	paths = append(paths, "../testdata/captures/slice.pcap")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 {
			out = append(out, b)
		}
	}
	return out
}

// FuzzCapture writes the fuzzer's bytes as a capture file and runs the
// sensor over it, as `otrange sensor -r` would: the bytes are either a
// whole file (pcap or pcapng, exercising the readers) or, when they do not
// parse, split into packets of a well-formed pcap.
func FuzzCapture(f *testing.F) {
	for _, b := range seedCaptures(f) {
		f.Add(b)
	}
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "fuzz.pcap")
		data := b
		if _, err := capture.NewReader(bufio.NewReader(bytes.NewReader(b)), nil); err != nil {
			data = packetsPcap(t, b)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := capture.OpenFile(path)
		if err != nil {
			return // not a capture the readers accept
		}
		defer src.Close()
		s, err := New(Config{Sink: alert.SinkFunc(func(alert.Alert) {}), MaxFlows: 64,
			AuthorizedMasters: []netip.Addr{hmiAddr}})
		if err != nil {
			t.Fatal(err)
		}
		// A read error in the middle of a damaged file is an answer too.
		_ = s.Run(context.Background(), src)
		st := s.Stats()
		if st.Panics != 0 || st.TCP+st.UDP+st.Other+st.DecodeErrors != st.Packets || st.FlowsActive != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// packetsPcap splits b into packets (each prefixed by a one-byte length)
// of an Ethernet pcap, one millisecond apart; the first packet gets a
// TCP/IPv4 header towards port 502 so the bytes reach the analyzers.
func packetsPcap(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort("127.66.0.9:40000")
	ts := time.Unix(1700000000, 0)
	for i := 0; len(b) > 0; i++ {
		n := min(int(b[0]), len(b)-1)
		pkt := b[1 : 1+n]
		b = b[1+n:]
		if i%2 == 0 {
			pkt = segment(t, a, plcAddr, uint32(1+i*7), false, pkt)
		}
		ts = ts.Add(time.Millisecond)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(pkt), Length: len(pkt)}, pkt); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}
