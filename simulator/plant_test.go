package simulator

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otrange/otrange/internal/rangenet"
	"github.com/otrange/otrange/protocol/dnp3/master"
	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/simulator/control"
	"github.com/otrange/otrange/simulator/plantdef"
	"github.com/otrange/otrange/simulator/scada"
)

var nextSubnet = byte(150)

// startPlant runs the default plant on ephemeral ports and hosts of its own.
func startPlant(t *testing.T, cfg Config) *Plant {
	t.Helper()
	cfg.EphemeralPorts = true
	cfg.Relocate = Subnet(nextSubnet)
	nextSubnet++
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("plant: %v", err)
		}
	})
	return p
}

// eventually waits for cond, polling.
func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func online(p *Plant, device string) bool {
	for _, d := range p.View().Devices {
		if d.Name == device {
			return d.Online
		}
	}
	return false
}

func dialFrom(src netip.Addr, to netip.AddrPort) (*modbus.Client, error) {
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: time.Second}
	return modbus.Dial(context.Background(), modbus.DialConfig{Address: to.String(), Timeout: time.Second, Dial: d.DialContext})
}

func TestPlantOnTheWire(t *testing.T) {
	var mu sync.Mutex
	var events []Event
	p := startPlant(t, Config{Speed: 20, OnEvent: func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }})
	ctx := context.Background()

	// The HMI sees every field device.
	for _, name := range []string{"plc-intake", "plc-treatment", "plc-distribution", "sis", "rtu-reservoir"} {
		eventually(t, name+" online at the HMI", 10*time.Second, func() bool { return online(p, name) })
	}
	v := p.View()
	if v.Values["plc-intake:level.start"] != 2.6 || v.Values["rtu-reservoir:level.start"] == 0 {
		t.Errorf("HMI values: intake level.start %v, reservoir level.start %v",
			v.Values["plc-intake:level.start"], v.Values["rtu-reservoir:level.start"])
	}

	// An operator's setpoint change from the HMI changes the process: a
	// lower pressure setpoint lowers the network pressure.
	eventually(t, "pressure settles near its 4.2 bar setpoint", 20*time.Second, func() bool {
		pr, _ := p.Read("plc-distribution", "pressure")
		return pr > 3.8
	})
	if err := p.Command(ctx, "plc-distribution:pressure.sp", 3.0); err != nil {
		t.Fatal(err)
	}
	if sp, _ := p.Read("plc-distribution", "pressure.sp"); sp != 3.0 {
		t.Fatalf("pressure.sp = %v after the command", sp)
	}
	eventually(t, "pressure follows the new setpoint", 20*time.Second, func() bool {
		pr, _ := p.Read("plc-distribution", "pressure")
		return pr < 3.3
	})
	// And over DNP3: the operator starts a booster pump by a select-operate.
	if err := p.Command(ctx, "rtu-reservoir:auto", 0); err != nil {
		t.Fatal(err)
	}
	if err := p.Command(ctx, "rtu-reservoir:pump2.cmd", 1); err != nil {
		t.Fatal(err)
	}
	if c, _ := p.Read("rtu-reservoir", "pump2.cmd"); c != 1 {
		t.Errorf("booster pump2.cmd = %v after the DNP3 operate", c)
	}

	// A write to a register that shows a measurement is refused.
	hmi, _ := p.hostOf(plantdef.KindHMI)
	intake, _ := p.Addr("plc-intake")
	c, err := dialFrom(hmi.Address, intake)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, 1, modbus.WriteSingleRegister(8, 1)); !errors.Is(err, &modbus.ExceptionError{Code: modbus.ExIllegalDataAddress}) {
		t.Errorf("write to the checksum register: %v, want illegal data address", err)
	}
	// In local mode the network may not write setpoints.
	if _, err := p.Do(ctx, control.Action{Kind: control.SetMode, Device: "plc-intake", Mode: "local"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, 1, modbus.WriteSingleRegister(1, 2000)); !errors.Is(err, &modbus.ExceptionError{Code: modbus.ExIllegalFunction}) {
		t.Errorf("write in local mode: %v, want illegal function", err)
	}
	c.Close()
	p.Do(ctx, control.Action{Kind: control.SetMode, Device: "plc-intake", Mode: "remote"})

	// A blocked host is refused while others still connect.
	attacker := netip.MustParseAddr("127.66.0.9")
	if _, err := p.Do(ctx, control.Action{Kind: control.BlockHost, Device: "plc-intake", Source: attacker.String()}); err != nil {
		t.Fatal(err)
	}
	if ac, err := dialFrom(attacker, intake); err == nil {
		_, err = ac.Do(ctx, 1, modbus.ReadHoldingRegisters(0, 1))
		ac.Close()
		if err == nil {
			t.Error("the blocked attacker read the PLC")
		}
	}
	other, err := dialFrom(netip.MustParseAddr("127.66.0.10"), intake)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Do(ctx, 1, modbus.ReadHoldingRegisters(0, 1)); err != nil {
		t.Errorf("an unblocked host was refused: %v", err)
	}
	other.Close()
	if !online(p, "plc-intake") {
		t.Error("the HMI lost the PLC when the attacker was blocked")
	}

	// A restart takes the device away for its time, then it comes back.
	start := time.Now()
	if _, err := p.Do(ctx, control.Action{Kind: control.RestartDevice, Device: "plc-treatment", For: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	treat, _ := p.Addr("plc-treatment")
	eventually(t, "plc-treatment refuses connections", 2*time.Second, func() bool {
		cn, err := net.DialTimeout("tcp", treat.String(), 200*time.Millisecond)
		if err == nil {
			cn.Close()
		}
		return errors.Is(err, syscall.ECONNREFUSED)
	})
	eventually(t, "HMI sees plc-treatment offline", 5*time.Second, func() bool { return !online(p, "plc-treatment") })
	eventually(t, "plc-treatment back online", 10*time.Second, func() bool { return online(p, "plc-treatment") })
	if since := time.Since(start); since < 1500*time.Millisecond {
		t.Errorf("back after %v, before its restart time", since)
	}

	// Reset restores the initial state.
	if err := p.Command(ctx, "plc-intake:level.start", 1.0); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	if v, _ := p.Read("plc-intake", "level.start"); v != 2.6 {
		t.Errorf("level.start after reset = %v", v)
	}
	if len(p.Firewall().Rules()) != 0 {
		t.Error("reset left firewall rules")
	}
	mu.Lock()
	defer mu.Unlock()
	var sawOffline bool
	for _, e := range events {
		if e.Name == DeviceOffline && e.Device == "plc-treatment" && e.Active {
			sawOffline = true
		}
	}
	if !sawOffline {
		t.Errorf("no device offline event for the restart; events: %+v", events)
	}
}

func TestOverdoseTripsTheSIS(t *testing.T) {
	var mu sync.Mutex
	got := map[string]bool{}
	p := startPlant(t, Config{Speed: 200, OnEvent: func(e Event) {
		if e.Active {
			mu.Lock()
			got[e.Name] = true
			mu.Unlock()
		}
	}})
	ctx := context.Background()
	eventually(t, "treatment online", 10*time.Second, func() bool { return online(p, "plc-treatment") })
	// Oldsmar: sodium hydroxide from 8 to 11,100 mg/L through the HMI.
	if err := p.Command(ctx, "plc-treatment:naoh.dose", 11100); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the SIS trips on the pH", 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got[SISTrip]
	})
	if trip, _ := p.Read("sis", "trip"); trip != 1 {
		t.Errorf("sis trip = %v", trip)
	}
}

func TestHMIDownIsLossOfView(t *testing.T) {
	var mu sync.Mutex
	var updates int
	p := startPlant(t, Config{OnHMI: func(scada.Update) { mu.Lock(); updates++; mu.Unlock() }})
	eventually(t, "intake online", 10*time.Second, func() bool { return online(p, "plc-intake") })
	if _, err := p.Do(context.Background(), control.Action{Kind: control.RestartDevice, Device: "hmi", For: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := p.Command(context.Background(), "plc-intake:level.start", 2); err == nil {
		t.Error("a command went out while the HMI was down")
	}
	mu.Lock()
	n := updates
	mu.Unlock()
	time.Sleep(1500 * time.Millisecond) // two poll periods with the HMI down
	mu.Lock()
	defer mu.Unlock()
	if updates != n {
		t.Errorf("the HMI published %d updates while down", updates-n)
	}
	if len(p.View().Values) != 0 {
		t.Error("the view still shows values while the HMI is down")
	}
}

func TestDefinitionRefusesOutsideAddresses(t *testing.T) {
	y := strings.Replace(string(plantdef.DefaultYAML()), "address: 127.10.1.10", "address: 192.168.10.10", 1)
	_, err := plantdef.Parse("bad.yaml", []byte(y), nil, rangenet.New(nil).CheckAddr)
	if err == nil || !strings.Contains(err.Error(), "192.168.10.10") {
		t.Fatalf("a PLC outside the range: %v", err)
	}
}

func TestTrendsFromTheHistorian(t *testing.T) {
	p := startPlant(t, Config{DataDir: t.TempDir()})
	start := time.Now()
	ctx := context.Background()
	eventually(t, "two seconds of history", 10*time.Second, func() bool {
		pts, err := p.Trend(ctx, "raw.level", start.Add(-time.Minute), time.Now().Add(time.Second), time.Second)
		return err == nil && len(pts) >= 2
	})
	// What the HMI polled is recorded too, under its HMI key.
	eventually(t, "HMI values in the historian", 10*time.Second, func() bool {
		pts, err := p.Trend(ctx, "plc-intake:level.start", start.Add(-time.Minute), time.Now().Add(time.Second), time.Second)
		return err == nil && len(pts) > 0 && pts[len(pts)-1].Last == 2.6
	})
	if _, err := p.Trend(ctx, "nope:raw.level", start.Add(-time.Minute), time.Now(), time.Second); err == nil {
		t.Error("an unknown tag has a trend")
	}
}

func TestDNP3ColdRestartTakesTheRTUOffline(t *testing.T) {
	var mu sync.Mutex
	var offline bool
	p := startPlant(t, Config{OnEvent: func(e Event) {
		if e.Name == DeviceOffline && e.Device == "rtu-reservoir" && e.Active {
			mu.Lock()
			offline = true
			mu.Unlock()
		}
	}})
	addr, _ := p.Addr("rtu-reservoir")
	m, err := master.New(master.Config{Addr: addr.String(), Outstation: 10, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := m.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.ColdRestart(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "device offline event for the RTU", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return offline
	})
	if _, err := p.Do(ctx, control.Action{Kind: control.InjectFault, Fault: "pump_trip", Target: "intake.pump1"}); err != nil {
		t.Errorf("fault with an underscore: %v", err)
	}
}
