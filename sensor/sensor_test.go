package sensor

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/capture"
)

func collect(t *testing.T, cfg Config) (*Sensor, *[]alert.Alert) {
	t.Helper()
	var got []alert.Alert
	cfg.Sink = alert.SinkFunc(func(a alert.Alert) { got = append(got, a) })
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, &got
}

// TestSliceCapture reads the thin slice's recorded traffic (HMI polling at
// 127.10.82.10 plus one attacker write): one alert, and only for the attacker.
func TestSliceCapture(t *testing.T) {
	src, err := capture.OpenFile("../testdata/captures/slice.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	s, got := collect(t, Config{AuthorizedMasters: []netip.Addr{netip.MustParseAddr("127.10.82.10")}})
	if err := s.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if len(*got) != 1 {
		t.Fatalf("%d alerts, want 1: %+v", len(*got), *got)
	}
	a := (*got)[0]
	if a.SrcAddr != "127.66.81.1" || a.DstPort != 502 || *a.Value != 3950 || *a.Address != 1 || a.Techniques[0] != "T0836" {
		t.Fatalf("alert %+v", a)
	}
	st := s.Stats()
	if st.ModbusADUs < 10 || st.ModbusErrors != 0 || st.DecodeErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Without an authorized list, the HMI's reads still raise nothing: only writes alert.
	src2, _ := capture.OpenFile("../testdata/captures/slice.pcap")
	defer src2.Close()
	s2, got2 := collect(t, Config{})
	s2.Run(context.Background(), src2)
	if len(*got2) != 1 {
		t.Fatalf("reads raised alerts: %+v", *got2)
	}
}

// segment builds an Ethernet/IPv4/TCP frame.
func segment(t testing.TB, src, dst netip.AddrPort, seq uint32, syn bool, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq, SYN: syn, ACK: !syn, PSH: len(payload) > 0, Window: 65535}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// frames is a capture source over prepared frames.
type frames struct {
	data [][]byte
	i    int
}

func (f *frames) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	if f.i == len(f.data) {
		return nil, gopacket.CaptureInfo{}, errEOF
	}
	d := f.data[f.i]
	f.i++
	return d, gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(f.i)), CaptureLength: len(d), Length: len(d)}, nil
}
func (f *frames) LinkType() layers.LinkType { return layers.LinkTypeEthernet }
func (f *frames) Close() error              { return nil }

func adu(tid uint16, p modbus.PDU) []byte {
	return modbus.AppendADU(nil, &modbus.ADU{TransactionID: tid, UnitID: 1, PDU: p})
}

// TestStreamReassembly: ADUs split across segments, several in one segment,
// a retransmitted segment and a stream picked up mid-way are each decoded
// exactly once.
func TestStreamReassembly(t *testing.T) {
	attacker := netip.MustParseAddrPort("127.66.0.9:40000")
	plc := netip.MustParseAddrPort("127.10.1.10:502")
	w1 := adu(1, modbus.WriteSingleRegister(1, 100))
	w2 := adu(2, modbus.WriteSingleRegister(2, 200))
	w3 := adu(3, modbus.WriteMultipleRegisters(3, []uint16{1, 2}))
	both := append(append([]byte{}, w2...), w3...)
	isn := uint32(1000)
	var seq = isn + 1
	pkts := [][]byte{segment(t, attacker, plc, isn, true, nil)}
	pkts = append(pkts, segment(t, attacker, plc, seq, false, w1[:5]))               // split...
	pkts = append(pkts, segment(t, attacker, plc, seq+5, false, w1[5:]))             // ...across two segments
	pkts = append(pkts, segment(t, attacker, plc, seq+5, false, w1[5:]))             // retransmission
	pkts = append(pkts, segment(t, attacker, plc, seq+uint32(len(w1)), false, both)) // two ADUs in one segment
	// A second connection seen only from its middle.
	other := netip.MustParseAddrPort("127.66.0.9:40001")
	pkts = append(pkts, segment(t, other, plc, 77777, false, adu(9, modbus.WriteSingleCoil(4, true))))

	s, got := collect(t, Config{})
	if err := s.Run(context.Background(), &frames{data: pkts}); err != nil {
		t.Fatal(err)
	}
	var fns []string
	for _, a := range *got {
		fns = append(fns, a.Function)
	}
	if len(*got) != 4 {
		t.Fatalf("alerts for %v, want 4 (w1, w2, w3, coil)", fns)
	}
	if *(*got)[0].Value != 100 || *(*got)[1].Value != 200 || *(*got)[2].Address != 3 || (*got)[3].SrcPort != 40001 {
		t.Fatalf("alerts out of order or wrong: %+v", *got)
	}
	if s.Stats().ModbusADUs != 4 {
		t.Fatalf("decoded %d ADUs, want 4", s.Stats().ModbusADUs)
	}
}

func TestAuthorizedMasterWriteIsQuiet(t *testing.T) {
	hmi := netip.MustParseAddrPort("127.10.2.10:40000")
	plc := netip.MustParseAddrPort("127.10.1.10:502")
	pkts := [][]byte{segment(t, hmi, plc, 5, false, adu(1, modbus.WriteSingleRegister(1, 2600)))}
	s, got := collect(t, Config{AuthorizedMasters: []netip.Addr{hmi.Addr()}})
	s.Run(context.Background(), &frames{data: pkts})
	if len(*got) != 0 {
		t.Fatalf("authorized write alerted: %+v", *got)
	}
}

func TestFlowTableBounded(t *testing.T) {
	plc := netip.MustParseAddrPort("127.10.1.10:502")
	var pkts [][]byte
	for i := 0; i < 50; i++ {
		src := netip.AddrPortFrom(netip.MustParseAddr("127.66.0.9"), uint16(30000+i))
		pkts = append(pkts, segment(t, src, plc, 1, false, adu(1, modbus.ReadHoldingRegisters(0, 1))))
	}
	s, _ := collect(t, Config{MaxFlows: 10})
	s.Run(context.Background(), &frames{data: pkts})
	if st := s.Stats(); st.FlowsDropped != 40 || len(s.flows.m) != 10 {
		t.Fatalf("flows kept %d, dropped %d; want 10 and 40", len(s.flows.m), st.FlowsDropped)
	}
}

var errEOF = io.EOF
