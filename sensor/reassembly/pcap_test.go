package reassembly

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

const sharedPcaps = "../../../shared/pcaps"

// capturePackets reads every TCP segment of a capture file.
func capturePackets(t *testing.T, path string) []Packet {
	t.Helper()
	pkts, err := readCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	return pkts
}

func readCapture(path string) ([]Packet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if rd.LinkType() != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("%s: link type %v, the test decodes Ethernet only", path, rd.LinkType())
	}
	d := newFrameDecoder()
	var out []Packet
	for {
		data, ci, err := rd.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		var p Packet
		if d.decode(data, ci.Timestamp, &p) {
			p.Payload = append([]byte(nil), p.Payload...) // the decoder's slice is reused
			out = append(out, p)
		}
	}
}

// byDirection feeds pkts to a Reassembler and returns the bytes it
// delivered per sender → receiver key, with its stats.
func byDirection(t *testing.T, pkts []Packet) (map[Key]int, Stats) {
	t.Helper()
	rec := &recorder{t: t}
	r, err := New(Options{}, rec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pkts {
		r.Add(&pkts[i])
		checkInvariants(t, r, Options{})
	}
	r.CloseAll()
	got := map[Key]int{}
	for _, c := range rec.conns {
		got[c.info.Key] += c.streams[ClientToServer].bytes
		got[c.info.Key.Reverse()] += c.streams[ServerToClient].bytes
	}
	for k, n := range got {
		if n == 0 {
			delete(got, k)
		}
	}
	return got, r.Stats()
}

func payloadSums(pkts []Packet) map[Key]int {
	want := map[Key]int{}
	for _, p := range pkts {
		if len(p.Payload) > 0 {
			want[p.Key] += len(p.Payload)
		}
	}
	return want
}

// TestCaptures replays the shared real captures (Modbus/TCP on 502, DNP3 on
// 20000): they are clean (no retransmitted or lost payload), so what is
// reassembled in each direction must equal the sum of the TCP payloads.
// Then the same captures with segments swapped (out of order: still equal)
// and with one segment dropped (a hole reported, its bytes missing).
func TestCaptures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(sharedPcaps, "*.pcap"))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no captures in %s (required in CI)", sharedPcaps)
		}
		t.Skipf("no captures in %s (the shared real captures sit beside the project); skipping", sharedPcaps)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			pkts := capturePackets(t, path)
			want := payloadSums(pkts)
			modbus := 0
			for k, n := range want {
				if k.SrcPort == 502 || k.DstPort == 502 {
					modbus += n
				}
			}
			if len(want) == 0 {
				t.Fatal("no TCP payload in the capture")
			}
			got, st := byDirection(t, pkts)
			equalSums(t, got, want)
			if st.Gaps != 0 || st.Conflicts != 0 || st.Retransmits != 0 || st.DeliveredBytes != st.AcceptedBytes {
				t.Errorf("stats of a clean capture: %+v", st)
			}
			t.Logf("%d packets, %d directions, %d Modbus bytes, %d bytes in all", len(pkts), len(want), modbus, st.DeliveredBytes)

			// Swap each pair of consecutive payload segments of a direction
			// sent within half the gap timeout (times stay in capture order):
			// everything still arrives, out of order.
			swapped := append([]Packet(nil), pkts...)
			last := map[Key]int{}
			swaps := 0
			for i, p := range swapped {
				if len(p.Payload) == 0 || p.Flags&(SYN|FIN|RST) != 0 {
					continue
				}
				j, ok := last[p.Key]
				if ok && p.Time.Sub(swapped[j].Time) < DefaultGapTimeout/2 {
					swapped[i], swapped[j] = swapped[j], swapped[i]
					swapped[i].Time, swapped[j].Time = swapped[j].Time, swapped[i].Time
					swaps++
					delete(last, p.Key)
					continue
				}
				last[p.Key] = i
			}
			got, st = byDirection(t, swapped)
			equalSums(t, got, want)
			if swaps > 0 && st.OutOfOrder == 0 {
				t.Errorf("%d swaps but nothing out of order: %+v", swaps, st)
			}

			// Drop a payload segment between two others of its direction,
			// directly followed by the next: a hole of exactly its size.
			// (Not a direction's first: a stream picked up mid-way cannot
			// know what came before it.)
			drop := -1
			seen := map[Key]bool{}
			for i, p := range pkts {
				if len(p.Payload) == 0 || p.Flags&(SYN|FIN|RST) != 0 || !seen[p.Key] {
					seen[p.Key] = len(p.Payload) > 0
					continue
				}
				for _, q := range pkts[i+1:] {
					if q.Key == p.Key && len(q.Payload) > 0 {
						if q.Seq == p.Seq+uint32(len(p.Payload)) && q.Time.Sub(p.Time) < DefaultIdleTimeout/2 {
							drop = i
						}
						break
					}
				}
				if drop >= 0 {
					break
				}
			}
			if drop < 0 {
				t.Logf("no segment to drop")
				return
			}
			lossy := append(append([]Packet(nil), pkts[:drop]...), pkts[drop+1:]...)
			got, st = byDirection(t, lossy)
			want[pkts[drop].Key] -= len(pkts[drop].Payload)
			equalSums(t, got, want)
			if st.Gaps != 1 || st.GapBytes != uint64(len(pkts[drop].Payload)) {
				t.Errorf("dropped %d bytes: %d gaps of %d bytes", len(pkts[drop].Payload), st.Gaps, st.GapBytes)
			}
		})
	}
}

func equalSums(t *testing.T, got, want map[Key]int) {
	t.Helper()
	for k, n := range want {
		if n != 0 && got[k] != n {
			t.Errorf("%v: reassembled %d bytes, TCP payloads %d", k, got[k], n)
		}
	}
	for k, n := range got {
		if want[k] == 0 {
			t.Errorf("%v: reassembled %d bytes of nothing", k, n)
		}
	}
}
