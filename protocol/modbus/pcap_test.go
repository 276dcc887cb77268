package modbus_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/otrange/otrange/internal/wiretest"
	"github.com/otrange/otrange/protocol/modbus"
)

var update = flag.Bool("update", false, "regenerate the golden files in testdata/golden from tshark")

// modbusPcaps are the real captures the golden test decodes.
var modbusPcaps = []string{
	"zeek-modbusSmall", "suricata-verify-modbus", "icsnpp-modbus_example",
	"quickdraw-modbus-part1", "quickdraw-modbus-part2",
}

// extraPDUs lists the PDUs we frame and tshark does not, with the reason.
// Frames 111 and 113 of quickdraw-modbus-part1 each carry an 11-byte ADU
// (function 42) followed by 3 stray bytes "01 01 23". tshark keeps the stray
// bytes as the start of the next ADU, joins them to frame 113, finds protocol
// id 0x2300 and gives up on that frame; Stream rejects the stray bytes at once
// (byte 2 must be 0), resynchronises and frames the valid ADU of frame 113.
var extraPDUs = map[string][]string{
	"quickdraw-modbus-part1": {"113\t42"},
}

// TestRealCaptures frames every Modbus PDU of real captures with Stream and
// compares, frame by frame, the function codes with tshark's decode (a golden
// file, regenerated with -update; checked against tshark live when present).
func TestRealCaptures(t *testing.T) {
	wiretest.Pcaps(t, "*.pcap")
	dir := wiretest.PcapDir(t)
	for _, name := range modbusPcaps {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pcap := filepath.Join(dir, name+".pcap")
			golden := filepath.Join("testdata", "golden", name+".txt")
			if *update {
				writeGolden(t, golden, tsharkFuncCodes(t, pcap))
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("golden file: %v (run go test -update with tshark installed)", err)
			}
			got, stats := decodePcap(t, pcap)
			got = removeLines(t, got, extraPDUs[name])
			if got != string(want) {
				t.Errorf("our decode differs from tshark's (%s):\n%s", golden, diffLines(string(want), got))
			}
			if stats.pdus == 0 {
				t.Error("no Modbus PDU decoded")
			}
			t.Logf("%d PDUs, %d stream errors, %d bytes dropped, %d PDUs rejected by the parsers", stats.pdus, stats.errors, stats.dropped, len(stats.rejected))
			for frame, why := range stats.rejected {
				t.Logf("frame %d: %s", frame, why)
			}
			if _, err := os.Stat("/usr/bin/tshark"); err == nil || os.Getenv("CI") != "" {
				if live := tsharkFuncCodes(t, pcap); live != string(want) {
					t.Errorf("tshark's live decode differs from %s:\n%s", golden, diffLines(string(want), live))
				}
				checkMalformed(t, pcap, stats.rejected)
			}
		})
	}
}

// checkMalformed checks that our parsers reject every Modbus frame tshark
// marks malformed.
func checkMalformed(t *testing.T, pcap string, rejected map[int]string) {
	t.Helper()
	out := wiretest.Tshark(t, pcap, "-Y", "modbus && _ws.malformed", "-T", "fields", "-e", "frame.number")
	for _, f := range strings.Fields(string(out)) {
		n, _ := strconv.Atoi(f)
		if _, ok := rejected[n]; !ok {
			t.Errorf("tshark finds frame %d malformed; our parsers accept it", n)
		}
	}
}

// tsharkFuncCodes returns tshark's "frame<TAB>fc,fc" lines for every frame
// with Modbus PDUs.
func tsharkFuncCodes(t *testing.T, pcap string) string {
	return string(wiretest.Tshark(t, pcap, "-Y", "modbus", "-T", "fields", "-E", "occurrence=a",
		"-e", "frame.number", "-e", "modbus.func_code"))
}

// writeGolden writes a golden file.
func writeGolden(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// decodeStats counts what decodePcap saw; rejected lists the frames with a
// PDU that ParseRequest or ParseResponse rejects, and why.
type decodeStats struct {
	pdus, errors, dropped int
	rejected              map[int]string
}

// decodePcap reassembles the TCP port 502 flows of a capture, frames them
// with Stream and renders "frame<TAB>fc,fc" lines like tsharkFuncCodes.
func decodePcap(t *testing.T, path string) (string, decodeStats) {
	t.Helper()
	flows := map[string]*tcpFlow{}
	var out strings.Builder
	st := decodeStats{rejected: map[int]string{}}
	wiretest.ReadPcap(t, path, gopacket.NoCopy, func(frame int, pkt gopacket.Packet) {
		if fcs := decodeFrame(t, pkt, flows, &st, frame); len(fcs) > 0 {
			fmt.Fprintf(&out, "%d\t%s\n", frame, strings.Join(fcs, ","))
		}
	})
	for _, fl := range flows {
		st.dropped += int(fl.stream.Dropped())
	}
	return out.String(), st
}

// decodeFrame feeds one packet's TCP payload to its flow and returns the
// function codes of the PDUs it completes.
func decodeFrame(t *testing.T, pkt gopacket.Packet, flows map[string]*tcpFlow, st *decodeStats, frame int) []string {
	tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok || (tcp.SrcPort != 502 && tcp.DstPort != 502) || pkt.NetworkLayer() == nil {
		return nil
	}
	key := fmt.Sprintf("%v:%d>%d", pkt.NetworkLayer().NetworkFlow(), tcp.SrcPort, tcp.DstPort)
	fl := flows[key]
	if fl == nil {
		fl = &tcpFlow{stream: modbus.NewStream(4096), pending: map[uint32][]byte{}}
		flows[key] = fl
	}
	var fcs []string
	fl.add(tcp.Seq, tcp.SYN, tcp.Payload, func(b []byte) {
		for len(b) > 0 {
			n := min(len(b), fl.stream.Free())
			if err := fl.stream.Write(b[:n]); err != nil {
				t.Fatalf("stream write: %v", err)
			}
			b = b[n:]
			fcs = append(fcs, drainStream(fl.stream, st, frame, tcp.DstPort == 502)...)
		}
	})
	return fcs
}

// drainStream returns the function codes of every ADU the stream frames now,
// and notes the PDUs that do not parse.
func drainStream(s *modbus.Stream, st *decodeStats, frame int, request bool) []string {
	var fcs []string
	for {
		var a modbus.ADU
		ok, err := s.Next(&a)
		if err != nil {
			st.errors++
			continue
		}
		if !ok {
			return fcs
		}
		st.pdus++
		if err := parsePDU(a.PDU, request); err != nil {
			st.rejected[frame] = err.Error()
		}
		fcs = append(fcs, fmt.Sprint(uint8(a.PDU.Function.Base())))
	}
}

// parsePDU parses p as a request or a response.
func parsePDU(p modbus.PDU, request bool) error {
	if request {
		var r modbus.Request
		return modbus.ParseRequest(p, &r)
	}
	var r modbus.Response
	return modbus.ParseResponse(p, &r)
}

// tcpFlow is a minimal reassembler for one direction of a TCP connection:
// in-order bytes are passed on, retransmitted bytes dropped, early segments
// kept (at most maxPending) until the gap before them is filled.
type tcpFlow struct {
	next    uint32
	started bool
	pending map[uint32][]byte
	stream  *modbus.Stream
}

const maxPending = 64

// add takes one segment and calls deliver with the bytes now in order.
func (f *tcpFlow) add(seq uint32, syn bool, payload []byte, deliver func([]byte)) {
	if syn {
		f.next, f.started = seq+1, true
		seq++
	}
	if len(payload) == 0 {
		return
	}
	if !f.started {
		f.next, f.started = seq, true
	}
	if d := int32(seq - f.next); d > 0 {
		if len(f.pending) < maxPending {
			f.pending[seq] = append([]byte(nil), payload...)
		}
		return
	}
	f.deliver(seq, payload, deliver)
	for {
		seg, ok := f.pending[f.next]
		if !ok {
			return
		}
		delete(f.pending, f.next)
		f.deliver(f.next, seg, deliver)
	}
}

// deliver passes the part of payload (starting at seq <= next) after next.
func (f *tcpFlow) deliver(seq uint32, payload []byte, deliver func([]byte)) {
	skip := int(f.next - seq)
	if skip >= len(payload) {
		return
	}
	deliver(payload[skip:])
	f.next += uint32(len(payload) - skip)
}

// removeLines removes each of lines from text; each must be present.
func removeLines(t *testing.T, text string, lines []string) string {
	t.Helper()
	for _, l := range lines {
		cut := strings.Replace(text, l+"\n", "", 1)
		if cut == text {
			t.Errorf("expected extra PDU line %q not found in our decode", l)
		}
		text = cut
	}
	return text
}

// diffLines shows the first differing lines of two texts.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)) && b.Len() < 2000; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d: tshark %q, ours %q\n", i+1, wl, gl)
		}
	}
	return b.String()
}
