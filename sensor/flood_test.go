package sensor

import (
	"context"
	"encoding/binary"
	"io"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/sensor/capture"
	"github.com/otrange/otrange/sensor/reassembly"
)

// floodSource crafts n distinct TCP flows in a reused buffer: each is one
// segment carrying a Modbus read, from its own source address and port to a
// PLC, so every flow creates reassembly and analyzer state. Every
// checkEvery packets it calls check (with the pipeline idle between
// packets).
type floodSource struct {
	n, i       int
	buf        []byte
	start      time.Time
	checkEvery int
	check      func(i int)
}

func (f *floodSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	if f.i == f.n {
		return nil, gopacket.CaptureInfo{}, io.EOF
	}
	if f.check != nil && f.i > 0 && f.i%f.checkEvery == 0 {
		f.check(f.i)
	}
	i := f.i
	f.i++
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 66, byte(i >> 16), byte(i >> 8)}), uint16(1024+i&0xff))
	req := modbus.AppendADU(nil, &modbus.ADU{TransactionID: uint16(i), UnitID: 1, PDU: modbus.ReadHoldingRegisters(0, 4)})
	f.buf = appendTCPFrame(f.buf[:0], src, plcAddr, uint32(i)*7919, 1, 0x18, req)
	binary.BigEndian.PutUint16(f.buf[18:], uint16(i)) // IP id, for variety
	ts := f.start.Add(time.Duration(i) * time.Microsecond)
	return f.buf, gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(f.buf), Length: len(f.buf)}, nil
}
func (f *floodSource) LinkType() layers.LinkType { return layers.LinkTypeEthernet }
func (f *floodSource) Close() error              { return nil }

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestFloodOfFlows: a million distinct TCP flows, each carrying a Modbus
// request, go through the pipeline with a small flow bound. The heap stays
// under the configured bound (Config.MemoryBound) all along, the evictions
// are counted, and afterwards the same sensor still decodes a real Modbus
// session and raises its alert.
func TestFloodOfFlows(t *testing.T) {
	if testing.Short() {
		t.Skip("a million flows: not in -short")
	}
	cfg := Config{
		MaxFlows:          4096,
		Reassembly:        reassembly.Options{MaxBufferedBytes: 4 << 20, MaxStreamBytes: 64 << 10, MaxBufferedSegments: 4096, MaxStreamSegments: 64},
		AuthorizedMasters: []netip.Addr{netip.MustParseAddr("127.10.82.10")},
	}
	bound := cfg.MemoryBound()
	s, got := collect(t, cfg)

	// The real session comes after the flood in capture time.
	slice, err := capture.OpenFile("../testdata/captures/slice.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer slice.Close()
	_, first, err := slice.ReadPacketData()
	if err != nil {
		t.Fatal(err)
	}
	slice.Close()

	const flows = 1_000_000
	base := heapInUse()
	var peak uint64
	src := &floodSource{n: flows, start: first.Timestamp.Add(-2 * time.Second), checkEvery: 200_000, check: func(int) {
		peak = max(peak, heapInUse()-min(base, heapInUse()))
	}}
	if err := s.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.TCP != flows || st.ModbusADUs != flows || st.FlowsDropped < flows-uint64(cfg.MaxFlows) {
		t.Fatalf("after the flood: %+v", st)
	}
	t.Logf("heap above the start: peak %.1f MB at the checkpoints; bound %.1f MB; %d flows evicted",
		float64(peak)/1e6, float64(bound)/1e6, st.FlowsDropped)
	if peak > uint64(bound) {
		t.Fatalf("heap grew by %d bytes, over the configured bound of %d", peak, bound)
	}
	// The flood's reads come from hosts outside the policy: one alert per
	// host and minute at most (the rule's threshold), far fewer than flows.
	flood := len(*got)
	if flood == 0 || flood > flows/64 {
		t.Fatalf("the flood raised %d alerts", flood)
	}
	// The flood left the sensor able to decode: the thin slice's session
	// still raises its one alert.
	slice, err = capture.OpenFile("../testdata/captures/slice.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer slice.Close()
	if err := s.Run(context.Background(), slice); err != nil {
		t.Fatal(err)
	}
	if after := (*got)[flood:]; len(after) != 1 || after[0].RuleID != RuleUnauthorizedWrite || *after[0].Value != 3950 {
		t.Fatalf("after the flood, the real session gave %+v", after)
	}
}
