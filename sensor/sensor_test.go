package sensor

import (
	"context"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/capture"
	"github.com/otrange/otrange/sensor/rules"
)

var (
	hmiAddr = netip.MustParseAddr("127.10.2.10")
	plcAddr = netip.MustParseAddrPort("127.10.1.10:502")
)

func collect(t testing.TB, cfg Config) (*Sensor, *[]alert.Alert) {
	t.Helper()
	var mu sync.Mutex
	var got []alert.Alert
	cfg.Sink = alert.SinkFunc(func(a alert.Alert) { mu.Lock(); got = append(got, a); mu.Unlock() })
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, &got
}

// TestSliceCapture reads the thin slice's recorded traffic (HMI polling at
// 127.10.82.10 plus one attacker write): one alert, and only for the attacker.
func TestSliceCapture(t *testing.T) {
	run := func(cfg Config) (*Sensor, []alert.Alert) {
		src, err := capture.OpenFile("../testdata/captures/slice.pcap")
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		s, got := collect(t, cfg)
		if err := s.Run(context.Background(), src); err != nil {
			t.Fatal(err)
		}
		return s, *got
	}
	s, got := run(Config{AuthorizedMasters: []netip.Addr{netip.MustParseAddr("127.10.82.10")}})
	if len(got) != 1 {
		t.Fatalf("%d alerts, want 1: %+v", len(got), got)
	}
	a := got[0]
	if a.RuleID != RuleUnauthorizedWrite || a.SrcAddr != "127.66.81.1" || a.DstPort != 502 || a.Value == nil || *a.Value != 3950 ||
		a.Address == nil || *a.Address != 1 || a.Techniques[0] != "T0836" {
		t.Fatalf("alert %+v", a)
	}
	st := s.Stats()
	if st.ModbusADUs < 10 || st.Anomalies != 0 || st.DecodeErrors != 0 || st.Alerts != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Without a policy the unauthorized-host rules are quiet.
	if _, got := run(Config{}); len(got) != 0 {
		t.Fatalf("alerts without a policy: %+v", got)
	}
}

// frameOpts shape a crafted frame.
type frameOpts struct {
	vlan bool
	ipv6 bool
}

// segment builds an Ethernet/IPv4/TCP frame.
func segment(t testing.TB, src, dst netip.AddrPort, seq uint32, syn bool, payload []byte) []byte {
	t.Helper()
	return frame(t, src, dst, seq, syn, payload, frameOpts{})
}

func frame(t testing.TB, src, dst netip.AddrPort, seq uint32, syn bool, payload []byte, o frameOpts) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	if o.vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4})
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq, SYN: syn, ACK: !syn, PSH: len(payload) > 0, Window: 65535}
	if o.ipv6 {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		if o.vlan {
			ls[1].(*layers.Dot1Q).Type = layers.EthernetTypeIPv6
		} else {
			eth.EthernetType = layers.EthernetTypeIPv6
		}
		tcp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, ip)
	} else {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		tcp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, ip)
	}
	ls = append(ls, tcp, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// frames is a capture source over prepared frames, one millisecond apart.
type frames struct {
	data [][]byte
	i    int
}

func (f *frames) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	if f.i == len(f.data) {
		return nil, gopacket.CaptureInfo{}, io.EOF
	}
	d := f.data[f.i]
	f.i++
	return d, gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(f.i)*1e6), CaptureLength: len(d), Length: len(d)}, nil
}
func (f *frames) LinkType() layers.LinkType { return layers.LinkTypeEthernet }
func (f *frames) Close() error              { return nil }

func adu(tid uint16, p modbus.PDU) []byte {
	return modbus.AppendADU(nil, &modbus.ADU{TransactionID: tid, UnitID: 1, PDU: p})
}

// TestStreamReassembly: ADUs split across segments, several in one segment,
// a retransmitted segment, segments out of order and a stream picked up
// mid-way are each decoded exactly once, in stream order.
func TestStreamReassembly(t *testing.T) {
	attacker := netip.MustParseAddrPort("127.66.0.9:40000")
	w1 := adu(1, modbus.WriteSingleRegister(1, 100))
	w2 := adu(2, modbus.WriteSingleRegister(2, 200))
	w3 := adu(3, modbus.WriteMultipleRegisters(3, []uint16{1, 2}))
	w4 := adu(4, modbus.WriteSingleRegister(4, 400))
	both := append(append([]byte{}, w2...), w3...)
	isn := uint32(1000)
	seq := isn + 1
	off := seq + uint32(len(w1)+len(both))
	pkts := [][]byte{
		segment(t, attacker, plcAddr, isn, true, nil),
		segment(t, attacker, plcAddr, seq, false, w1[:5]),                    // split...
		segment(t, attacker, plcAddr, seq+5, false, w1[5:]),                  // ...across two segments
		segment(t, attacker, plcAddr, seq+5, false, w1[5:]),                  // retransmission
		segment(t, attacker, plcAddr, off, false, w4),                        // ahead of a hole
		segment(t, attacker, plcAddr, seq+uint32(len(w1)), false, both),      // fills it: two ADUs
		segment(t, attacker, plcAddr, seq+uint32(len(w1)), false, both[:10]), // partial retransmission
	}
	other := netip.MustParseAddrPort("127.66.0.9:40001") // seen only from its middle
	pkts = append(pkts, segment(t, other, plcAddr, 77777, false, adu(9, modbus.WriteSingleCoil(4, true))))

	s, got := collect(t, Config{AuthorizedMasters: []netip.Addr{hmiAddr}})
	if err := s.Run(context.Background(), &frames{data: pkts}); err != nil {
		t.Fatal(err)
	}
	var addrs []int
	for _, a := range *got {
		if a.RuleID == RuleUnauthorizedWrite {
			addrs = append(addrs, *a.Address)
		}
	}
	if want := []int{1, 2, 3, 4, 4}; len(addrs) != 5 || addrs[0] != 1 || addrs[1] != 2 || addrs[2] != 3 || addrs[3] != 4 || (*got)[len(*got)-1].SrcPort != 40001 {
		t.Fatalf("write alerts at addresses %v, want %v (the last from port 40001): %+v", addrs, want, *got)
	}
	st := s.Stats()
	if st.ModbusADUs != 5 || st.Reassembly.OutOfOrder != 1 || st.Reassembly.Retransmits != 2 {
		t.Fatalf("decoded %d ADUs (want 5), reassembly %+v", st.ModbusADUs, st.Reassembly)
	}
}

// TestDecodeVariants: VLAN tags and IPv6 reach the analyzers like plain
// IPv4, with the frame's MACs for observers; truncated frames are decode
// errors, ARP is other traffic.
func TestDecodeVariants(t *testing.T) {
	a6 := netip.MustParseAddrPort("[fd00::66]:40000")
	p6 := netip.MustParseAddrPort("[fd00::10]:502")
	a4 := netip.MustParseAddrPort("127.66.0.9:40000")
	w := adu(1, modbus.WriteSingleRegister(1, 5))
	arp := make([]byte, 42)
	copy(arp[12:], []byte{0x08, 0x06})
	pkts := [][]byte{
		frame(t, a4, plcAddr, 1, false, w, frameOpts{vlan: true}),
		frame(t, a6, p6, 1, false, w, frameOpts{ipv6: true}),
		frame(t, a6, p6, 1, false, w, frameOpts{ipv6: true, vlan: true})[:40], // cut inside the IPv6 header
		segment(t, a4, plcAddr, 1, false, w)[:30],                             // cut inside the IPv4 header
		arp,
	}
	var srcs []string
	var macs []string
	obs := ObserverFunc(func(r *analyze.Record, l Link) {
		srcs = append(srcs, r.Flow.Src.String())
		macs = append(macs, l.SrcMAC.String()+">"+l.DstMAC.String())
	})
	s, got := collect(t, Config{AuthorizedMasters: []netip.Addr{hmiAddr}, Observers: []Observer{obs}})
	if err := s.Run(context.Background(), &frames{data: pkts}); err != nil {
		t.Fatal(err)
	}
	if len(*got) != 2 || (*got)[0].SrcAddr != "127.66.0.9" || (*got)[1].SrcAddr != "fd00::66" {
		t.Fatalf("alerts %+v", *got)
	}
	if len(srcs) != 2 || srcs[1] != a6.String() || macs[0] != "02:00:00:00:00:01>02:00:00:00:00:02" {
		t.Fatalf("observer saw %v %v", srcs, macs)
	}
	st := s.Stats()
	if st.Packets != 5 || st.TCP != 2 || st.DecodeErrors != 2 || st.Other != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAuthorizedMasterWriteIsQuiet(t *testing.T) {
	hmi := netip.AddrPortFrom(hmiAddr, 40000)
	pkts := [][]byte{segment(t, hmi, plcAddr, 5, false, adu(1, modbus.WriteSingleRegister(1, 2600)))}
	s, got := collect(t, Config{AuthorizedMasters: []netip.Addr{hmi.Addr()}})
	s.Run(context.Background(), &frames{data: pkts})
	if len(*got) != 0 || s.Stats().ModbusADUs != 1 {
		t.Fatalf("authorized write alerted (or was not decoded): %+v %+v", *got, s.Stats())
	}
}

// TestPolicyAndShorthand: AuthorizedMasters add to a policy's masters.
func TestPolicyAndShorthand(t *testing.T) {
	p, err := rules.ParsePolicy("p.yaml", []byte("masters: [127.10.2.0/24]\n"))
	if err != nil {
		t.Fatal(err)
	}
	other := netip.MustParseAddr("127.10.3.3")
	got := buildPolicy(p, []netip.Addr{other})
	if !got.IsMaster(hmiAddr) || !got.IsMaster(other) || p.IsMaster(other) || len(p.Masters) != 1 {
		t.Fatalf("policy %+v (original %+v)", got, p)
	}
	if buildPolicy(nil, nil) != nil || buildPolicy(p, nil) != p {
		t.Fatal("no masters: the policy must be passed through")
	}
	if _, err := New(Config{Sink: alert.SinkFunc(func(alert.Alert) {}), DisableRules: []string{"no.such.rule"}}); err == nil {
		t.Fatal("unknown rule id accepted")
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("missing sink accepted")
	}
}

// TestFlowTableBounded: beyond MaxFlows connections are evicted and
// counted; the table stays at the bound.
func TestFlowTableBounded(t *testing.T) {
	var pkts [][]byte
	for i := range 50 {
		src := netip.AddrPortFrom(netip.MustParseAddr("127.66.0.9"), uint16(30000+i))
		pkts = append(pkts, segment(t, src, plcAddr, 1, false, adu(1, modbus.ReadHoldingRegisters(0, 1))))
	}
	s, _ := collect(t, Config{MaxFlows: 10})
	s.Run(context.Background(), &frames{data: pkts})
	if st := s.Stats(); st.FlowsDropped != 40 || st.ModbusADUs != 50 {
		t.Fatalf("stats %+v: want 40 flows evicted and 50 ADUs decoded", st)
	}
}

// TestStatsWhileRunning reads the counters from another goroutine while
// the pipeline runs (the race detector checks the publication).
func TestStatsWhileRunning(t *testing.T) {
	src, err := capture.OpenFile("../testdata/captures/slice.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	s, _ := collect(t, Config{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for s.running.Load() || s.Stats().Packets == 0 {
			_ = s.MetricsSnapshot()
		}
	}()
	if err := s.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	<-done
	snap := s.MetricsSnapshot()
	if snap.Packets == 0 || len(snap.Records) == 0 || snap.FlowsActive != 0 {
		t.Fatalf("snapshot %+v", snap)
	}
	if err := s.Run(context.Background(), &frames{}); err != nil {
		t.Fatalf("a second run: %v", err)
	}
}

// TestSweepOfRefusedConnections: SYNs from one host to twelve closed ports,
// each refused with a RST, raise one net.scan alert naming it; an HMI
// retrying one refused server many times and a connection the server
// accepts raise nothing.
func TestSweepOfRefusedConnections(t *testing.T) {
	const syn, rstAck, synAck, ack = 0x02, 0x14, 0x12, 0x10
	attacker := netip.MustParseAddrPort("127.66.0.9:40000")
	hmi := netip.AddrPortFrom(hmiAddr, 41000)
	var pkts [][]byte
	for i := range 12 {
		src := netip.AddrPortFrom(attacker.Addr(), attacker.Port()+uint16(i))
		dst := netip.AddrPortFrom(plcAddr.Addr(), uint16(100+i))
		pkts = append(pkts, appendTCPFrame(nil, src, dst, 1000, 0, syn, nil), appendTCPFrame(nil, dst, src, 0, 1001, rstAck, nil))
	}
	closed := netip.AddrPortFrom(plcAddr.Addr(), 503)
	for i := range 20 {
		src := netip.AddrPortFrom(hmiAddr, 42000+uint16(i))
		pkts = append(pkts, appendTCPFrame(nil, src, closed, 5000, 0, syn, nil), appendTCPFrame(nil, closed, src, 0, 5001, rstAck, nil))
	}
	pkts = append(pkts,
		appendTCPFrame(nil, hmi, plcAddr, 7000, 0, syn, nil),
		appendTCPFrame(nil, plcAddr, hmi, 9000, 7001, synAck, nil),
		appendTCPFrame(nil, hmi, plcAddr, 7001, 9001, ack, nil),
		appendTCPFrame(nil, hmi, plcAddr, 7001, 9001, rstAck, nil))

	s, got := collect(t, Config{})
	if err := s.Run(context.Background(), &frames{data: pkts}); err != nil {
		t.Fatal(err)
	}
	if len(*got) != 1 {
		t.Fatalf("%d alerts, want 1: %+v", len(*got), *got)
	}
	a := (*got)[0]
	if a.RuleID != "net.scan" || a.SrcAddr != attacker.Addr().String() || a.DstAddr != plcAddr.Addr().String() ||
		!slices.Contains(a.Techniques, "T0846") || len(a.Evidence.Frames) != 10 {
		t.Fatalf("alert %+v", a)
	}
	// The evidence frames are the RSTs: frames 2, 4, ... 20.
	if a.Evidence.Frames[0] != 2 || a.Evidence.Frames[9] != 20 {
		t.Errorf("evidence frames %v", a.Evidence.Frames)
	}
}
