package master_test

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/otrange/otrange/internal/wiretest"
	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/dnp3/internal/dnp3test"
	"github.com/otrange/otrange/protocol/dnp3/master"
	"github.com/otrange/otrange/protocol/dnp3/outstation"
)

type okPlant struct{}

func (okPlant) OperateCROB(outstation.Op, uint16, dnp3.CROB) dnp3.CommandStatus {
	return dnp3.StatusSuccess
}

func (okPlant) OperateAnalog(outstation.Op, uint16, dnp3.AnalogOutput) dnp3.CommandStatus {
	return dnp3.StatusSuccess
}

// tsharkProblems is the display filter for anything Wireshark dislikes.
const tsharkProblems = `_ws.malformed || _ws.expert.severity >= error || dnp.hdr.CRC.status == 0 || dnp.data_chunk.CRC.status == 0`

// TestWiresharkAgrees runs a master/outstation session on port 20000 (and
// attack-style raw frames), captures it on lo and checks that tshark finds
// nothing malformed, every CRC good, and the fields we meant to send.
func TestWiresharkAgrees(t *testing.T) {
	wiretest.TsharkPath(t)
	l := dnp3test.Listen(t, 20000)
	ip := l.Addr().(*net.TCPAddr).IP
	rec := wiretest.Capture(t, func(p gopacket.Packet) bool {
		return wiretest.Host(ip)(p) && wiretest.TCPPort(20000)(p)
	})
	o, err := outstation.New(outstation.Config{
		Address: 1024, Unsolicited: true, Controls: okPlant{},
		Points: outstation.Points{
			BinaryInputs:  []outstation.PointConfig{{Class: 1}, {Class: 1}},
			BinaryOutputs: make([]outstation.PointConfig, 2),
			Counters:      []outstation.PointConfig{{Class: 2}},
			AnalogInputs:  []outstation.PointConfig{{Class: 3}, {Class: 3}},
			AnalogOutputs: make([]outstation.PointConfig, 1),
		},
	})
	dnp3test.Must(t, err, "outstation")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- o.Serve(ctx, l) }()
	defer func() { cancel(); <-served }()

	var unsol atomic.Int32
	m, err := master.New(master.Config{Address: 3, Outstation: 1024, Addr: l.Addr().String(),
		OnUnsolicited: func(*master.Response) { unsol.Add(1) }})
	dnp3test.Must(t, err, "master")
	dnp3test.Must(t, m.Connect(ctx), "connect")
	defer m.Close()
	dnp3test.Eventually(t, 2*time.Second, "null unsolicited", func() bool { return unsol.Load() == 1 })
	_, err = m.EnableUnsolicited(ctx, master.Class1|master.Class2|master.Class3)
	dnp3test.Must(t, err, "enable unsolicited")
	o.Database().SetValue(outstation.AnalogInput, 1, 3.25)
	dnp3test.Eventually(t, 2*time.Second, "unsolicited event", func() bool { return unsol.Load() == 2 })
	dnp3test.Eventually(t, 2*time.Second, "event confirmed", func() bool { return o.Database().Events() == 0 })

	_, err = m.DisableUnsolicited(ctx, master.Class1|master.Class2|master.Class3)
	dnp3test.Must(t, err, "disable unsolicited")
	o.Database().SetBool(outstation.BinaryInput, 1, true)
	_, err = m.IntegrityPoll(ctx)
	dnp3test.Must(t, err, "integrity poll")
	dnp3test.Eventually(t, 2*time.Second, "poll confirmed", func() bool { return o.Database().Events() == 0 })
	crob := dnp3.CROB{Code: dnp3.NewControlCode(dnp3.OpPulseOn, dnp3.TCCClose, false), Count: 1, OnTime: 500}
	if st, err := m.SelectOperate(ctx, 1, crob); err != nil || st != dnp3.StatusSuccess {
		t.Fatalf("select/operate: %v %v", st, err)
	}
	if st, err := m.DirectOperateAnalog(ctx, 0, 3, dnp3.AnalogOutput{Value: 42.5}); err != nil || st != dnp3.StatusSuccess {
		t.Fatalf("analog: %v %v", st, err)
	}
	dnp3test.Must(t, m.WriteTime(ctx, time.Now()), "write time")
	_, err = m.ReadTime(ctx)
	dnp3test.Must(t, err, "read time")
	dnp3test.Must(t, m.ClearRestart(ctx), "clear restart")
	_, err = m.Read(ctx, dnp3.ObjectHeader{Group: 30, Variation: 1, Qualifier: dnp3.QualStartStop8, Start: 0, Stop: 1})
	dnp3test.Must(t, err, "range read")
	_, err = m.LinkStatus(ctx, 1024)
	dnp3test.Must(t, err, "link status")
	// attack-style: broadcast direct operate (no ack) from a spoofed source
	req := m.NewRequest(dnp3.FuncDirectOperateNR, master.CROBObjects(0, crob))
	req.To, req.From = dnp3.AddrBroadcastNoAck, 0x0BAD
	_, err = m.Do(ctx, req)
	dnp3test.Must(t, err, "broadcast")
	// an unknown function code is answered with NO_FUNC_CODE_SUPPORT
	resp, err := m.Do(ctx, m.NewRequest(dnp3.FunctionCode(0x5A), nil))
	dnp3test.Must(t, err, "unknown function")
	if resp.IIN&dnp3.IINNoFuncCodeSupport == 0 {
		t.Fatalf("unknown function answered with %v", resp.IIN)
	}
	delay, err := m.ColdRestart(ctx)
	dnp3test.Must(t, err, "cold restart")
	if delay != 5*time.Second {
		t.Fatalf("delay %v", delay)
	}
	pcap := rec.Stop()

	if bad := wiretest.Tshark(t, pcap, "-Y", tsharkProblems); len(strings.TrimSpace(string(bad))) > 0 {
		t.Fatalf("tshark flags frames:\n%s", bad)
	}
	out := wiretest.Tshark(t, pcap, "-Y", "dnp3", "-T", "fields", "-E", "separator=|", "-E", "occurrence=a",
		"-e", "tcp.dstport", "-e", "dnp3.src", "-e", "dnp3.dst", "-e", "dnp3.ctl", "-e", "dnp3.al.func",
		"-e", "dnp3.al.obj", "-e", "dnp3.al.index", "-e", "dnp3.al.iin.fcni", "-e", "dnp3.al.ctrlstatus")
	var toOut, fromOut []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "|", 2)
		if f[0] == "20000" {
			toOut = append(toOut, f[1])
		} else {
			fromOut = append(fromOut, f[1])
		}
	}
	// fields: src|dst|ctl|func|objects|indexes|IIN2.0|control status
	wantTo := []string{
		"3|1024|0xc4|0||||",                            // confirm of the null unsolicited
		"3|1024|0xc4|20|0x3c02,0x3c03,0x3c04|||",       // enable unsolicited classes 1-3
		"3|1024|0xc4|0||||",                            // confirm of the unsolicited event
		"3|1024|0xc4|21|0x3c02,0x3c03,0x3c04|||",       // disable unsolicited
		"3|1024|0xc4|1|0x3c02,0x3c03,0x3c04,0x3c01|||", // integrity poll
		"3|1024|0xc4|0||||",                            // confirm of the events in it
		"3|1024|0xc4|3|0x0c01|1||0",                    // select CROB index 1
		"3|1024|0xc4|4|0x0c01|1||0",                    // operate
		"3|1024|0xc4|5|0x2903|0||0",                    // direct operate g41v3 index 0
		"3|1024|0xc4|2|0x3201|||",                      // write time
		"3|1024|0xc4|1|0x3201|||",                      // read time
		"3|1024|0xc4|2|0x5001|||",                      // clear restart
		"3|1024|0xc4|1|0x1e01|||",                      // range read g30v1 0..1
		"3|1024|0xc9|||||",                             // request link status
		"2989|65535|0xc4|6|0x0c01|0||0",                // broadcast from a spoofed source 0x0BAD
		"3|1024|0xc4|90||||",                           // unknown function 0x5A
		"3|1024|0xc4|13||||",                           // cold restart
	}
	wantFrom := []string{
		"1024|1|0x44|130|||0|", // null unsolicited, to the configured master before it spoke
		"1024|3|0x44|129|||0|",
		"1024|3|0x44|130|0x2007|1|0|", // analog event g32v7 index 1
		"1024|3|0x44|129|||0|",
		"1024|3|0x44|129|0x0202,0x0102,0x0a02,0x1401,0x1501,0x1e05,0x2803|1|0|", // event, then class 0 (frozen counters g21 too)
		"1024|3|0x44|129|0x0c01|1|0|0",
		"1024|3|0x44|129|0x0c01|1|0|0",
		"1024|3|0x44|129|0x2903|0|0|0",
		"1024|3|0x44|129|||0|",
		"1024|3|0x44|129|0x3201||0|",
		"1024|3|0x44|129|||0|",
		"1024|3|0x44|129|0x1e01||0|",
		"1024|3|0x0b|||||",           // LINK_STATUS
		"1024|3|0x44|129|||1|",       // NO_FUNC_CODE_SUPPORT
		"1024|3|0x44|129|0x3401||0|", // restart delay g52v1
	}
	if strings.Join(toOut, "\n") != strings.Join(wantTo, "\n") {
		t.Errorf("master frames differ:\n got %q\nwant %q", toOut, wantTo)
	}
	if strings.Join(fromOut, "\n") != strings.Join(wantFrom, "\n") {
		t.Errorf("outstation frames differ:\n got %q\nwant %q", fromOut, wantFrom)
	}
}

// TestTsharkFilterCatchesBadCRC shows the problem filter above is not blind:
// a frame with a corrupted data CRC written to a pcap is flagged.
func TestTsharkFilterCatchesBadCRC(t *testing.T) {
	wiretest.TsharkPath(t)
	good, _ := dnp3.AppendAPDU(nil, dnp3.NewControl(true, true, false, false, dnp3.LinkUnconfirmedUserData), 1024, 3, 0,
		append(dnp3.AppendRequestHeader(nil, dnp3.NewAppControl(true, true, false, false, 0), dnp3.FuncRead), 60, 1, 6))
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 0xFF
	for _, tc := range []struct {
		name    string
		payload []byte
		flagged bool
	}{{"good", good, false}, {"bad CRC", bad, true}} {
		t.Run(tc.name, func(t *testing.T) {
			pcap := wiretest.WritePcap(t, [][]byte{tcpFrame(t, tc.payload)})
			out := strings.TrimSpace(string(wiretest.Tshark(t, pcap, "-Y", tsharkProblems)))
			if (out != "") != tc.flagged {
				t.Fatalf("flagged=%v, want %v: %q", out != "", tc.flagged, out)
			}
		})
	}
}

// tcpFrame wraps payload in Ethernet/IPv4/TCP to port 20000.
func tcpFrame(t *testing.T, payload []byte) []byte {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{127, 0, 0, 2}, DstIP: net.IP{127, 0, 0, 3}}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 20000, Seq: 1, PSH: true, ACK: true, Window: 1000}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload))
	dnp3test.Must(t, err, "serialize")
	return buf.Bytes()
}

// udpPort matches UDP packets with the given port on either side.
func udpPort(port uint16) func(gopacket.Packet) bool {
	return func(p gopacket.Packet) bool {
		u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		return ok && (uint16(u.SrcPort) == port || uint16(u.DstPort) == port)
	}
}

// TestWiresharkAgreesUDP runs a master/outstation session over UDP port
// 20000 (a response of two link frames in one datagram, freezes,
// controls, a restart), captures it on lo and checks that tshark finds
// nothing malformed, every CRC good, and the fields we meant to send.
func TestWiresharkAgreesUDP(t *testing.T) {
	wiretest.TsharkPath(t)
	pc := dnp3test.ListenUDP(t, 20000)
	ip := pc.LocalAddr().(*net.UDPAddr).IP
	rec := wiretest.Capture(t, func(p gopacket.Packet) bool {
		return wiretest.Host(ip)(p) && udpPort(20000)(p)
	})
	o, err := outstation.New(outstation.Config{
		Address: 1024, Controls: okPlant{}, WarmRestartDelay: 1500 * time.Millisecond,
		Points: outstation.Points{
			BinaryInputs:  []outstation.PointConfig{{Class: 1}, {Class: 1}},
			BinaryOutputs: make([]outstation.PointConfig, 2),
			Counters:      []outstation.PointConfig{{Class: 2}, {Class: 2}},
			AnalogInputs:  make([]outstation.PointConfig, 60),
		},
	})
	dnp3test.Must(t, err, "outstation")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- o.ServeUDP(ctx, pc) }()
	defer func() { cancel(); <-served }()

	m, err := master.New(master.Config{Address: 3, Outstation: 1024, Addr: pc.LocalAddr().String(), Network: "udp"})
	dnp3test.Must(t, err, "master")
	dnp3test.Must(t, m.Connect(ctx), "connect")
	defer m.Close()
	o.Database().SetValue(outstation.Counter, 1, 77)
	resp, err := m.IntegrityPoll(ctx) // 60 analogs: one datagram of 2 link frames
	dnp3test.Must(t, err, "integrity poll")
	if len(resp.Find(30)) != 60 {
		t.Fatalf("integrity poll: %d analogs", len(resp.Find(30)))
	}
	dnp3test.Must(t, m.ImmedFreeze(ctx), "freeze")
	dnp3test.Must(t, m.FreezeClear(ctx, master.CounterRange(1, 1)), "freeze clear")
	dnp3test.Must(t, m.ImmedFreezeNR(ctx, master.CounterRange(0, 1)), "freeze NR")
	pts, err := m.ReadFrozenCounters(ctx)
	dnp3test.Must(t, err, "read frozen counters")
	if len(pts) != 2 || pts[1].Measurement.Value != 0 {
		t.Fatalf("frozen counters %+v", pts)
	}
	crob := dnp3.CROB{Code: dnp3.NewControlCode(dnp3.OpLatchOn, dnp3.TCCNul, false), Count: 1}
	if st, err := m.SelectOperate(ctx, 1, crob); err != nil || st != dnp3.StatusSuccess {
		t.Fatalf("select/operate: %v %v", st, err)
	}
	dnp3test.Must(t, m.WriteTime(ctx, time.Now()), "write time")
	_, err = m.LinkStatus(ctx, 1024)
	dnp3test.Must(t, err, "link status")
	resp, err = m.Do(ctx, m.NewRequest(dnp3.FunctionCode(0x5A), nil))
	dnp3test.Must(t, err, "unknown function")
	if resp.IIN&dnp3.IINNoFuncCodeSupport == 0 {
		t.Fatalf("unknown function answered with %v", resp.IIN)
	}
	delay, err := m.WarmRestart(ctx)
	dnp3test.Must(t, err, "warm restart")
	if delay != 1500*time.Millisecond {
		t.Fatalf("delay %v", delay)
	}
	pcap := rec.Stop()

	if bad := wiretest.Tshark(t, pcap, "-Y", tsharkProblems); len(strings.TrimSpace(string(bad))) > 0 {
		t.Fatalf("tshark flags frames:\n%s", bad)
	}
	out := wiretest.Tshark(t, pcap, "-Y", "dnp3", "-T", "fields", "-E", "separator=|", "-E", "occurrence=a",
		"-e", "udp.dstport", "-e", "dnp3.src", "-e", "dnp3.dst", "-e", "dnp3.ctl", "-e", "dnp3.al.func",
		"-e", "dnp3.al.obj", "-e", "dnp3.al.index", "-e", "dnp3.al.iin.fcni")
	var toOut, fromOut []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "|", 2)
		if f[0] == "20000" {
			toOut = append(toOut, f[1])
		} else {
			fromOut = append(fromOut, f[1])
		}
	}
	// fields: src|dst|ctl|func|objects|indexes|IIN2.0
	wantTo := []string{
		"3|1024|0xc4|1|0x3c02,0x3c03,0x3c04,0x3c01||", // integrity poll
		"3|1024|0xc4|0|||",                            // confirm of its events
		"3|1024|0xc4|7|0x1400||",                      // immediate freeze, all counters
		"3|1024|0xc4|9|0x1400||",                      // freeze and clear counter 1
		"3|1024|0xc4|8|0x1400||",                      // immediate freeze, no response
		"3|1024|0xc4|1|0x1500||",                      // read frozen counters
		"3|1024|0xc4|3|0x0c01|1|",                     // select
		"3|1024|0xc4|4|0x0c01|1|",                     // operate
		"3|1024|0xc4|2|0x3201||",                      // write time
		"3|1024|0xc9||||",                             // request link status
		"3|1024|0xc4|90|||",                           // unknown function 0x5A
		"3|1024|0xc4|14|||",                           // warm restart
	}
	wantFrom := []string{
		"1024,1024|3,3|0x44,0x44|129|0x1605,0x0102,0x0a02,0x1401,0x1501,0x1e05|1|0", // two link frames: counter event, class 0
		"1024|3|0x44|129|||0",
		"1024|3|0x44|129|||0",
		"1024|3|0x44|129|0x1501||0", // frozen counters
		"1024|3|0x44|129|0x0c01|1|0",
		"1024|3|0x44|129|0x0c01|1|0",
		"1024|3|0x44|129|||0",
		"1024|3|0x0b||||",
		"1024|3|0x44|129|||1",
		"1024|3|0x44|129|0x3402||0",
	}
	if strings.Join(toOut, "\n") != strings.Join(wantTo, "\n") {
		t.Errorf("master frames differ:\n got %q\nwant %q", toOut, wantTo)
	}
	if strings.Join(fromOut, "\n") != strings.Join(wantFrom, "\n") {
		t.Errorf("outstation frames differ:\n got %q\nwant %q", fromOut, wantFrom)
	}
	// the integrity response went out as one datagram of several link frames
	frames := wiretest.Tshark(t, pcap, "-Y", "udp.srcport == 20000 && dnp3.al.func == 129", "-T", "fields", "-e", "frame.number", "-e", "dnp3.len", "-E", "occurrence=a")
	if first := strings.SplitN(strings.TrimSpace(string(frames)), "\n", 2)[0]; strings.Count(first, ",") != 1 {
		t.Errorf("integrity response datagram holds link frames %q, want 2", first)
	}
}
