package scada

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/dnp3/outstation"
	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/simulator/firewall"
)

var hmiAddr = netip.MustParseAddr("127.10.2.77")

// servePLC serves bank on a fresh loopback address behind fw.
func servePLC(t *testing.T, ctx context.Context, bank *modbus.Bank, fw *firewall.Firewall) (netip.AddrPort, *modbus.Server) {
	t.Helper()
	srv, err := modbus.NewServer(modbus.ServerConfig{Handler: bank, Allow: fw.Allow("plc")})
	if err != nil {
		t.Fatal(err)
	}
	fw.OnChange(func() { srv.Recheck() })
	ln, err := net.Listen("tcp", "127.10.1.77:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx, ln)
	return netip.MustParseAddrPort(ln.Addr().String()), srv
}

// rtu records the controls an outstation receives.
type rtu struct {
	mu     sync.Mutex
	pump   bool
	target float64
	db     *outstation.Database
}

func (r *rtu) OperateCROB(op outstation.Op, index uint16, c dnp3.CROB) dnp3.CommandStatus {
	if op == outstation.OpSelect {
		return dnp3.StatusSuccess
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pump = c.Code.Op() == dnp3.OpLatchOn
	r.db.SetBool(outstation.BinaryOutput, int(index), r.pump)
	return dnp3.StatusSuccess
}

func (r *rtu) OperateAnalog(op outstation.Op, index uint16, a dnp3.AnalogOutput) dnp3.CommandStatus {
	if op == outstation.OpSelect {
		return dnp3.StatusSuccess
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.target = a.Value
	return dnp3.StatusSuccess
}

// updates collects the station's updates for waiting on conditions.
type updates struct {
	mu   sync.Mutex
	last map[string]Update
	cond chan struct{}
}

func newUpdates() *updates { return &updates{last: map[string]Update{}, cond: make(chan struct{}, 1)} }

func (u *updates) add(up Update) {
	u.mu.Lock()
	// Keep every value seen so far: event polls carry only what changed.
	merged := up
	merged.Values = map[string]float64{}
	for k, v := range u.last[up.Device].Values {
		merged.Values[k] = v
	}
	for k, v := range up.Values {
		merged.Values[k] = v
	}
	u.last[up.Device] = merged
	u.mu.Unlock()
	select {
	case u.cond <- struct{}{}:
	default:
	}
}

// wait waits until ok holds for device's latest update.
func (u *updates) wait(t *testing.T, device, what string, ok func(Update) bool) Update {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		u.mu.Lock()
		up, seen := u.last[device]
		u.mu.Unlock()
		if seen && ok(up) {
			return up
		}
		select {
		case <-u.cond:
		case <-deadline:
			t.Fatalf("%s: %s never happened (last update %+v)", device, what, up)
		}
	}
}

func TestPollsAndCommands(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fw := firewall.New(nil, nil)

	bank := modbus.NewBank(modbus.BankConfig{HoldingRegisters: 64, Coils: 16, InputRegisters: 8})
	bank.SetHolding(0, 250)     // level 2.50 m
	bank.SetHolding(40, 0xFFF6) // -10, signed
	bank.SetCoil(3, true)
	bank.SetInput(2, 712)
	bank.SetHolding(50, 0x0001)
	bank.SetHolding(51, 0x86A0) // 100000 in two registers
	plcAddr, srv := servePLC(t, ctx, bank, fw)

	r := &rtu{}
	o, err := outstation.New(outstation.Config{
		Address: 10, MasterAddress: 1, Unsolicited: true,
		Points: outstation.Points{
			AnalogInputs:  []outstation.PointConfig{{Class: 2}},
			BinaryOutputs: []outstation.PointConfig{{}},
		},
		Controls: r, Allow: fw.Allow("rtu"),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.db = o.Database()
	r.db.SetValue(outstation.AnalogInput, 0, 4.25)
	ln, err := net.Listen("tcp", "127.10.1.78:0")
	if err != nil {
		t.Fatal(err)
	}
	go o.Serve(ctx, ln)

	ups := newUpdates()
	st, err := New(Config{
		Source: hmiAddr, Timeout: time.Second, OnUpdate: ups.add,
		Modbus: []ModbusDevice{{
			Name: "plc", Addr: plcAddr, Unit: 1, Interval: 50 * time.Millisecond,
			Tags: []ModbusTag{
				{Name: "level", Table: Holding, Address: 0, Scale: 100},
				{Name: "setpoint", Table: Holding, Address: 1, Scale: 100},
				{Name: "offset", Table: Holding, Address: 40, Signed: true},
				{Name: "pump", Table: Coil, Address: 3},
				{Name: "ph", Table: Input, Address: 2, Scale: 100},
				{Name: "checksum", Table: Holding, Address: 50, Words: 2},
			},
		}},
		DNP3: []DNP3Device{{
			Name: "rtu", Addr: netip.MustParseAddrPort(ln.Addr().String()), Link: 10, Master: 1,
			IntegrityInterval: time.Minute, EventInterval: 100 * time.Millisecond, Unsolicited: true,
			Tags: []DNP3Tag{
				{Name: "reservoir", Type: AnalogInput, Index: 0},
				{Name: "booster", Type: BinaryOutput, Index: 0},
			},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()

	up := ups.wait(t, "plc", "first poll", func(u Update) bool { return u.Online })
	for tag, want := range map[string]float64{"level": 2.5, "setpoint": 0, "offset": -10, "pump": 1, "ph": 7.12, "checksum": 100000} {
		if got := up.Values[tag]; got != want {
			t.Errorf("%s = %v, want %v", tag, got, want)
		}
	}
	ups.wait(t, "rtu", "integrity poll", func(u Update) bool { return u.Online && u.Values["reservoir"] == 4.25 })

	// Operator commands go out on the wire and change the devices.
	if err := st.Command(ctx, "setpoint", 3.1); err != nil {
		t.Fatal(err)
	}
	if got := bank.Holding(1); got != 310 {
		t.Errorf("setpoint register = %d after the command, want 310", got)
	}
	if err := st.Command(ctx, "checksum", 70000); err != nil {
		t.Fatal(err)
	}
	if hi, lo := bank.Holding(50), bank.Holding(51); uint32(hi)<<16|uint32(lo) != 70000 {
		t.Errorf("32-bit command wrote %#04x %#04x", hi, lo)
	}
	if err := st.Command(ctx, "booster", 1); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	pump := r.pump
	r.mu.Unlock()
	if !pump {
		t.Error("booster not latched on by the command")
	}
	if err := st.Command(ctx, "ph", 7); err == nil {
		t.Error("command to an input register accepted")
	}
	if err := st.Command(ctx, "nope", 1); err == nil {
		t.Error("command to an unknown tag accepted")
	}

	// Events reach the station (by unsolicited response or event poll).
	r.db.SetValue(outstation.AnalogInput, 0, 5.5)
	ups.wait(t, "rtu", "event with the new level", func(u Update) bool { return u.Values["reservoir"] == 5.5 })

	// Blocking the station's host at the PLC leaves it offline; the RTU still answers.
	if _, err := fw.Block("plc", netip.PrefixFrom(hmiAddr, 32), "test"); err != nil {
		t.Fatal(err)
	}
	ups.wait(t, "plc", "offline while blocked", func(u Update) bool { return !u.Online })
	if srv.Stats().Denied == 0 {
		t.Error("the PLC denied nothing")
	}
	fw.Reset()
	ups.wait(t, "plc", "back online after unblock", func(u Update) bool { return u.Online })
	var rtuOnline bool
	for _, s := range st.Status() {
		if s.Name == "rtu" {
			rtuOnline = s.Online
		}
	}
	if !rtuOnline {
		t.Error("rtu offline")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	a := netip.MustParseAddrPort("127.10.1.1:502")
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"duplicate device", Config{Modbus: []ModbusDevice{{Name: "p", Addr: a}, {Name: "p", Addr: a}}}},
		{"duplicate tag", Config{Modbus: []ModbusDevice{{Name: "p", Addr: a, Tags: []ModbusTag{{Name: "x", Table: Holding}}}},
			DNP3: []DNP3Device{{Name: "r", Addr: a, Tags: []DNP3Tag{{Name: "x", Type: AnalogInput}}}}}},
		{"no address", Config{Modbus: []ModbusDevice{{Name: "p"}}}},
		{"bad table", Config{Modbus: []ModbusDevice{{Name: "p", Addr: a, Tags: []ModbusTag{{Name: "x"}}}}}},
		{"point bound twice", Config{DNP3: []DNP3Device{{Name: "r", Addr: a, Tags: []DNP3Tag{
			{Name: "x", Type: AnalogInput}, {Name: "y", Type: AnalogInput}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestPlanBlocks(t *testing.T) {
	tags := []ModbusTag{
		{Name: "a", Table: Holding, Address: 0}, {Name: "b", Table: Holding, Address: 5},
		{Name: "c", Table: Holding, Address: 100}, {Name: "d", Table: Coil, Address: 0},
		{Name: "e", Table: Holding, Address: 230}, {Name: "f", Table: Holding, Address: 110},
	}
	got := planBlocks(tags)
	type span struct {
		table      Table
		start, qty uint16
	}
	want := []span{{Coil, 0, 1}, {Holding, 0, 6}, {Holding, 100, 11}, {Holding, 230, 1}}
	if len(got) != len(want) {
		t.Fatalf("got %d blocks %+v, want %v", len(got), got, want)
	}
	for i, b := range got {
		if (span{b.table, b.start, b.qty}) != want[i] {
			t.Errorf("block %d = %v %d+%d, want %v", i, b.table, b.start, b.qty, want[i])
		}
	}
}
