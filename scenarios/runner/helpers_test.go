package runner

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/otrange/otrange/internal/rangenet"
	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/dnp3/outstation"
	"github.com/otrange/otrange/protocol/modbus"
	scenario "github.com/otrange/otrange/scenarios"
	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/analyze/pcapfeed"
	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/simulator/plantdef"
)

// memRecorder keeps what the runner records.
type memRecorder struct {
	mu      sync.Mutex
	steps   []exercise.StepRecord
	injects []exercise.InjectRecord
}

func (m *memRecorder) RecordStep(_ context.Context, r exercise.StepRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.steps = append(m.steps, r)
	return nil
}

func (m *memRecorder) RecordInject(_ context.Context, r exercise.InjectRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.injects = append(m.injects, r)
	return nil
}

func (m *memRecorder) step(t *testing.T, id string) exercise.StepRecord {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.steps {
		if s.Step == id {
			return s
		}
	}
	t.Fatalf("no record of step %q (have %d records)", id, len(m.steps))
	return exercise.StepRecord{}
}

// controls is the RTU's device model in the tests: it accepts CROBs on the
// four binary outputs and setpoints on the three analog outputs of the
// default plant's RTU, and logs them.
type controls struct {
	mu     sync.Mutex
	crobs  []string
	analog []string
}

func (c *controls) OperateCROB(op outstation.Op, index uint16, cr dnp3.CROB) dnp3.CommandStatus {
	if index > 3 {
		return dnp3.StatusNotSupported
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.crobs = append(c.crobs, fmt.Sprintf("%s %d op%d", op, index, cr.Code.Op()))
	return dnp3.StatusSuccess
}

func (c *controls) OperateAnalog(op outstation.Op, index uint16, a dnp3.AnalogOutput) dnp3.CommandStatus {
	if index > 2 {
		return dnp3.StatusNotSupported
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.analog = append(c.analog, fmt.Sprintf("%s %d %v", op, index, a.Value))
	return dnp3.StatusSuccess
}

func (c *controls) log() ([]string, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.crobs...), append([]string(nil), c.analog...)
}

// devices are stand-ins for the default plant's field devices, built from
// the project's own Modbus server and DNP3 outstation, each on its plant
// address and an ephemeral port. blocked is the firewall: a source it holds
// is refused at accept and before every request.
type devices struct {
	plant   *plantdef.Plant
	addrs   map[string]netip.AddrPort
	banks   map[string]*modbus.Bank
	rtu     *outstation.Outstation
	ctl     *controls
	mu      sync.Mutex
	blocked map[netip.Addr]bool
}

func (d *devices) allow(a netip.Addr) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.blocked[a]
}

func (d *devices) block(a netip.Addr) {
	d.mu.Lock()
	d.blocked[a] = true
	d.mu.Unlock()
}

func (d *devices) addr(name string) (netip.AddrPort, bool) {
	a, ok := d.addrs[name]
	return a, ok
}

func listen(t *testing.T, a netip.Addr) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp4", netip.AddrPortFrom(a, 0).String())
	if err != nil {
		t.Fatalf("listen on %s: %v", a, err)
	}
	return l
}

func startDevices(t *testing.T) *devices {
	t.Helper()
	p, err := plantdef.Default(nil, nil)
	if err != nil {
		t.Fatalf("default plant: %v", err)
	}
	d := &devices{plant: p, addrs: map[string]netip.AddrPort{}, banks: map[string]*modbus.Bank{}, blocked: map[netip.Addr]bool{}, ctl: &controls{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, dev := range p.Devices {
		switch {
		case dev.Modbus != nil:
			bank := modbus.NewBank(modbus.BankConfig{Coils: 16, DiscreteInputs: 16, HoldingRegisters: 100, InputRegisters: 100})
			mdev, err := modbus.NewDevice(modbus.DeviceConfig{Data: bank, Identity: modbus.Identity{
				VendorName: dev.Identity.Vendor, ProductCode: dev.Identity.Product, MajorMinorRevision: dev.Identity.Revision}})
			if err != nil {
				t.Fatal(err)
			}
			srv, err := modbus.NewServer(modbus.ServerConfig{Handler: mdev, Allow: d.allow})
			if err != nil {
				t.Fatal(err)
			}
			l := listen(t, dev.Address)
			d.addrs[dev.Name] = netip.MustParseAddrPort(l.Addr().String())
			d.banks[dev.Name] = bank
			wg.Add(1)
			go func() { defer wg.Done(); srv.Serve(ctx, l) }()
		case dev.DNP3 != nil:
			o, err := outstation.New(outstation.Config{
				Address: uint16(dev.DNP3.Address), MasterAddress: uint16(dev.DNP3.Master), Controls: d.ctl, Allow: d.allow,
				ColdRestartDelay: 100 * time.Millisecond, Unsolicited: dev.DNP3.Unsolicited,
				Points: outstation.Points{
					BinaryInputs:  []outstation.PointConfig{{Class: 1}, {Class: 1}, {Class: 1}, {Class: 1}},
					BinaryOutputs: make([]outstation.PointConfig, 4),
					Counters:      []outstation.PointConfig{{Class: 3}, {Class: 3}},
					AnalogInputs:  []outstation.PointConfig{{Class: 2}, {Class: 2}, {Class: 2}, {Class: 2}, {Class: 1}},
					AnalogOutputs: make([]outstation.PointConfig, 3),
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			l := listen(t, dev.Address)
			d.addrs[dev.Name] = netip.MustParseAddrPort(l.Addr().String())
			d.rtu = o
			wg.Add(1)
			go func() { defer wg.Done(); o.Serve(ctx, l) }()
		}
	}
	return d
}

// msg is one decoded application message of the capture.
type msg struct {
	Src, Dst netip.AddrPort
	UDP      bool
	Proto    analyze.Protocol
	Response bool
	Valid    bool
	// Modbus
	Unit      uint8
	Func      uint8 // with the exception bit
	Sub       uint16
	Address   uint16
	Quantity  uint16
	Values    []uint16
	MEI, Code uint8
	// DNP3
	LinkSrc, LinkDst uint16
	AppFunc          uint8
	UNS              bool
	Objects          []string
}

func (m msg) String() string {
	if m.Proto == analyze.ProtoDNP3 {
		return fmt.Sprintf("%v>%v dnp3 fc=%d %d>%d uns=%v %v", m.Src, m.Dst, m.AppFunc, m.LinkSrc, m.LinkDst, m.UNS, m.Objects)
	}
	return fmt.Sprintf("%v>%v modbus unit=%d fc=%d addr=%d qty=%d values=%v", m.Src, m.Dst, m.Unit, m.Func, m.Address, m.Quantity, m.Values)
}

// decode reads a capture with the sensor's own decoders.
func decode(t *testing.T, pcap string) []msg {
	t.Helper()
	var out []msg
	a := analyze.New(analyze.Config{Emit: func(r *analyze.Record) {
		m := msg{Src: r.Flow.Src, Dst: r.Flow.Dst, UDP: r.Flow.Transport == analyze.UDP, Proto: r.Protocol,
			Response: r.Dir == analyze.Response, Valid: r.Valid}
		switch r.Protocol {
		case analyze.ProtoModbus:
			f := &r.Modbus
			m.Unit, m.Func, m.Sub, m.Address, m.Quantity = f.UnitID, f.Function, f.SubFunction, f.Address, f.Quantity
			m.Values = append([]uint16(nil), f.ValueList()...)
			m.MEI, m.Code = f.MEIType, f.ReadDeviceIDCode
		case analyze.ProtoDNP3:
			f := &r.DNP3
			m.LinkSrc, m.LinkDst, m.AppFunc, m.UNS = f.LinkSrc, f.LinkDst, f.AppFunction, f.UNS()
			for _, o := range f.ObjectList() {
				m.Objects = append(m.Objects, fmt.Sprintf("g%dv%d", o.Group, o.Variation))
			}
		}
		out = append(out, m)
	}})
	if _, err := pcapfeed.FeedFile(pcap, a); err != nil {
		t.Fatalf("decode %s: %v", pcap, err)
	}
	return out
}

// requests returns the valid requests (client to server) in the capture,
// without the DNP3 master's confirmations of unsolicited responses.
func requests(ms []msg) []msg {
	var out []msg
	for _, m := range ms {
		if m.Valid && !m.Response && !(m.Proto == analyze.ProtoDNP3 && m.AppFunc == 0) {
			out = append(out, m)
		}
	}
	return out
}

// from matches packets to or from address a (both directions of the
// step's connections).
func from(a netip.Addr) func(gopacket.Packet) bool {
	ip := net.IP(a.AsSlice())
	return func(p gopacket.Packet) bool {
		v4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		return ok && (v4.SrcIP.Equal(ip) || v4.DstIP.Equal(ip))
	}
}

// syns counts the connection attempts (SYN without ACK) from src in the
// capture, by destination.
func syns(pkts []gopacket.Packet, src netip.Addr) map[netip.AddrPort]int {
	out := map[netip.AddrPort]int{}
	for _, p := range pkts {
		v4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, ok2 := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || !ok2 || !tcp.SYN || tcp.ACK {
			continue
		}
		s, _ := netip.AddrFromSlice(v4.SrcIP.To4())
		if s != src {
			continue
		}
		d, _ := netip.AddrFromSlice(v4.DstIP.To4())
		out[netip.AddrPortFrom(d, uint16(tcp.DstPort))]++
	}
	return out
}

// parse builds a one-phase scenario from step YAML (indented for the
// steps list) with the given source.
func parse(t *testing.T, source string, steps string) *scenario.Scenario {
	t.Helper()
	doc := `id: runner-test
title: Runner test
summary: One step against the test devices.
source: ` + source + `
references: [{title: test, url: "https://example.org/"}]
techniques: [T0801]
roles: [operator]
phases:
  - name: Test
    questions: ["Does it run?"]
    steps:
` + steps
	s, err := scenario.Parse("runner-test.yaml", []byte(doc), scenario.DefaultCatalog())
	if err != nil {
		t.Fatalf("scenario: %v\n%s", err, doc)
	}
	return s
}

// indent indents YAML lines for the steps list.
func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "      " + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func fastClock(t *testing.T) *ScaledClock {
	t.Helper()
	c, err := NewClock(1000)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func guard() *rangenet.Guard {
	return rangenet.New(func(context.Context, string, string) ([]netip.Addr, error) {
		return nil, fmt.Errorf("no name resolution in tests")
	})
}
