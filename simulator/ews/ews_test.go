package ews

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/otrange/otrange/protocol/modbus"
)

// plc serves a Device with identity over a bank, and records the hosts that
// wrote to it.
func plc(t *testing.T, ctx context.Context) (netip.AddrPort, *modbus.Bank, func() []netip.Addr) {
	t.Helper()
	bank := modbus.NewBank(modbus.BankConfig{HoldingRegisters: 32})
	bank.SetHolding(3, 1234)
	var mu sync.Mutex
	var writes int
	bank.OnWrite(func(fc modbus.FunctionCode, addr, qty uint16) {
		mu.Lock()
		writes++
		mu.Unlock()
	})
	dev, err := modbus.NewDevice(modbus.DeviceConfig{Data: bank, Identity: modbus.Identity{
		VendorName: "otrange", ProductCode: "WTP-PLC", MajorMinorRevision: "2.1"}})
	if err != nil {
		t.Fatal(err)
	}
	var clients []netip.Addr
	srv, err := modbus.NewServer(modbus.ServerConfig{Handler: dev, Allow: func(a netip.Addr) bool {
		mu.Lock()
		clients = append(clients, a)
		mu.Unlock()
		return true
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.10.1.88:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx, ln)
	return netip.MustParseAddrPort(ln.Addr().String()), bank, func() []netip.Addr {
		mu.Lock()
		defer mu.Unlock()
		return append([]netip.Addr(nil), clients...)
	}
}

func TestMaintenanceVisits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, bank, clients := plc(t, ctx)
	src := netip.MustParseAddr("127.10.2.88")
	visits := make(chan Visit, 16)
	w, err := New(Config{
		Source: src, Interval: 20 * time.Millisecond, WriteEvery: 2,
		Targets: []Target{{Name: "plc", Addr: addr, Unit: 1, Registers: 10, Write: true, WriteRegister: 3}},
		OnVisit: func(v Visit) { visits <- v },
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var got []Visit
	for len(got) < 3 {
		select {
		case v := <-visits:
			got = append(got, v)
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d visits", len(got))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v.Error != "" {
			t.Fatalf("visit %d: %s", i, v.Error)
		}
		if v.Identity[0] != "otrange" || v.Identity[1] != "WTP-PLC" || v.Read != 10 {
			t.Errorf("visit %d = %+v", i, v)
		}
	}
	// One target: rounds are visits. Rounds 0 and 2 write, round 1 does not.
	if got[0].Wrote == nil || *got[0].Wrote != 3 || got[1].Wrote != nil || got[2].Wrote == nil {
		t.Errorf("writes: %v %v %v; want the first and third to write register 3", got[0].Wrote, got[1].Wrote, got[2].Wrote)
	}
	if bank.Holding(3) != 1234 {
		t.Errorf("write back changed the register to %d", bank.Holding(3))
	}
	for _, c := range clients() {
		if c != src {
			t.Errorf("a connection came from %v, not the workstation's address %v", c, src)
		}
	}
}

func TestUnreachableTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.10.1.89:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close() // nothing listens there now
	w, err := New(Config{Interval: time.Second, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	v := w.Visit(context.Background(), Target{Name: "gone", Addr: addr, Unit: 1, Registers: 1})
	if v.Error == "" {
		t.Error("a visit to a closed port succeeded")
	}
	if _, err := New(Config{Interval: time.Second, Targets: []Target{{Name: "x", Addr: addr, Registers: 200}}}); err == nil {
		t.Error("200 registers accepted")
	}
}
