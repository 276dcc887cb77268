package modbus_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/otrange/otrange/protocol/modbus"
)

// requireTool returns the path of an external tool. When it is missing the
// test is skipped with a clear message, unless CI is set, where it fails.
func requireTool(t *testing.T, path, why string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI (%s): %v", path, why, err)
	}
	t.Skipf("%s not installed (%s); skipping", path, why)
	return ""
}

// hostPair returns a server and a client address on a private loopback /24
// (127.77.N.0) chosen from the process id, so concurrent test binaries do
// not collide on port 502.
func hostPair(t *testing.T) (server, client netip.Addr) {
	t.Helper()
	n := byte(os.Getpid()%250 + 1)
	return netip.AddrFrom4([4]byte{127, 77, n, 1}), netip.AddrFrom4([4]byte{127, 77, n, 2})
}

// testDevice returns a Device over a Bank filled with known values, covering
// every function code the package serves.
func testDevice(t *testing.T) (*modbus.Device, *modbus.Bank) {
	t.Helper()
	bank := modbus.NewBank(modbus.BankConfig{Coils: 100, DiscreteInputs: 100, HoldingRegisters: 100, InputRegisters: 100, Files: 4, FileRecords: 100})
	for i := range uint16(100) {
		bank.SetInput(i, 1000+i)
		bank.SetHolding(i, i)
		bank.SetDiscrete(i, i%3 == 0)
	}
	bank.SetFIFO(0x10, []uint16{0x1b8, 0x1284})
	dev, err := modbus.NewDevice(modbus.DeviceConfig{
		Data: bank,
		Identity: modbus.Identity{
			VendorName: "otrange", ProductCode: "OT-PLC-1", MajorMinorRevision: "1.0",
			VendorURL: "https://example.invalid/otrange", ProductName: "Range PLC", ModelName: "P1",
			Extended: map[uint8]string{0x80: "pump-station-a"},
		},
		ServerID: []byte("otrange-plc"),
	})
	if err != nil {
		t.Fatalf("NewDevice: %v", err)
	}
	return dev, bank
}

// serveOn starts a server for h on addr until the test ends; it returns the
// listening address. Binding a privileged port without the right to skips the
// test, unless CI is set.
func serveOn(t *testing.T, addr string, h modbus.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EACCES) && os.Getenv("CI") == "" {
		t.Skipf("cannot bind %s without privileges: %v", addr, err)
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	srv, err := modbus.NewServer(modbus.ServerConfig{Handler: h})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// dialFrom connects a Client from source address src to addr.
func dialFrom(t *testing.T, src netip.Addr, addr string) *modbus.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	c, err := modbus.Dial(context.Background(), modbus.DialConfig{Address: addr, Dial: d.DialContext, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// freePort returns a TCP port on ip that was free a moment ago, for external
// programs that cannot report the port they bound.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitDial waits until addr accepts TCP connections.
func waitDial(t *testing.T, addr string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("peer exited before listening on %s: %v", addr, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never accepted connections: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
