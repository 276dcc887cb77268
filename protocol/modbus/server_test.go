package modbus

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// startServer serves h on addr ("127.0.0.1:0" when empty) until the test ends
// and returns the listening address.
func startServer(t *testing.T, addr string, cfg ServerConfig) (*Server, string) {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// dial connects a Client to addr and closes it when the test ends.
func dial(t *testing.T, addr string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), DialConfig{Address: addr, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLoopback(t *testing.T) {
	bank := NewBank(BankConfig{Coils: 100, DiscreteInputs: 100, HoldingRegisters: 100, InputRegisters: 100})
	bank.SetInput(7, 0x1234)
	bank.SetDiscrete(3, true)
	_, addr := startServer(t, "", ServerConfig{Handler: bank})
	c := dial(t, addr)
	ctx := context.Background()

	if _, err := c.Do(ctx, 1, WriteMultipleRegisters(10, []uint16{1, 2, 3})); err != nil {
		t.Fatalf("FC16: %v", err)
	}
	resp, err := c.Do(ctx, 1, ReadHoldingRegisters(10, 3))
	if err != nil {
		t.Fatalf("FC3: %v", err)
	}
	if got := string(resp.Data); got != "\x06\x00\x01\x00\x02\x00\x03" {
		t.Errorf("FC3 data % x", resp.Data)
	}
	if _, err := c.Do(ctx, 1, WriteSingleCoil(5, true)); err != nil || !bank.Coil(5) {
		t.Fatalf("FC5: %v, coil %v", err, bank.Coil(5))
	}
	if resp, err := c.Do(ctx, 1, ReadInputRegisters(7, 1)); err != nil || string(resp.Data) != "\x02\x12\x34" {
		t.Fatalf("FC4: % x, %v", resp.Data, err)
	}
	if resp, err := c.Do(ctx, 1, ReadDiscreteInputs(0, 8)); err != nil || string(resp.Data) != "\x01\x08" {
		t.Fatalf("FC2: % x, %v", resp.Data, err)
	}
	resp, err = c.Do(ctx, 1, ReadHoldingRegisters(99, 2))
	var ee *ExceptionError
	if !errors.As(err, &ee) || ee.Code != ExIllegalDataAddress || resp.Function != 0x83 {
		t.Fatalf("illegal address: %v %v, want exception 2", resp, err)
	}
	if _, err := c.Do(ctx, 1, PDU{Function: 0x41}); !errors.Is(err, &ExceptionError{Code: ExIllegalFunction}) {
		t.Fatalf("unknown function: %v", err)
	}
}

func TestServerTransactionAndUnitEcho(t *testing.T) {
	var seen atomic.Uint32
	h := HandlerFunc(func(_ context.Context, unit uint8, req PDU) (PDU, error) {
		seen.Store(uint32(unit))
		return req, nil
	})
	_, addr := startServer(t, "", ServerConfig{Handler: h})
	c := dial(t, addr)
	// Two pipelined requests in one write; the answers echo tid and unit.
	raw := AppendADU(nil, &ADU{TransactionID: 0xbeef, UnitID: 0xf7, PDU: ReadCoils(1, 1)})
	raw = AppendADU(raw, &ADU{TransactionID: 0xcafe, UnitID: 0, PDU: ReadCoils(2, 2)})
	if err := c.WriteRaw(raw); err != nil {
		t.Fatal(err)
	}
	for _, want := range []ADU{{TransactionID: 0xbeef, UnitID: 0xf7}, {TransactionID: 0xcafe, UnitID: 0}} {
		a, err := c.ReadADU(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if a.TransactionID != want.TransactionID || a.UnitID != want.UnitID || a.PDU.Function != FuncReadCoils {
			t.Errorf("got %+v, want tid %#x unit %d", a, want.TransactionID, want.UnitID)
		}
	}
	if seen.Load() != 0 {
		t.Errorf("handler saw unit %d last", seen.Load())
	}
}

func TestServerClosesOnMalformedHeader(t *testing.T) {
	s, addr := startServer(t, "", ServerConfig{Handler: NewBank(BankConfig{})})
	c := dial(t, addr)
	if err := c.WriteRaw(hx(t, "0001 0001 0006 01 03 0000 0001")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadADU(context.Background()); err == nil {
		t.Fatal("server answered a frame with protocol id 1")
	}
	waitFor(t, "malformed count", func() bool { return s.Stats().Malformed == 1 })
}

func TestServerMaxClients(t *testing.T) {
	s, addr := startServer(t, "", ServerConfig{Handler: NewBank(BankConfig{HoldingRegisters: 1}), MaxClients: 1})
	c1 := dial(t, addr)
	if _, err := c1.Do(context.Background(), 1, ReadHoldingRegisters(0, 1)); err != nil {
		t.Fatal(err)
	}
	c2 := dial(t, addr) // the TCP handshake succeeds, then the server closes it
	if _, err := c2.Do(context.Background(), 1, ReadHoldingRegisters(0, 1)); err == nil {
		t.Fatal("a client beyond MaxClients was served")
	}
	if st := s.Stats(); st.Rejected != 1 || st.Accepted != 1 {
		t.Errorf("stats %+v", st)
	}
	c1.Close()
	waitFor(t, "the first client to go", func() bool { return s.Clients() == 0 })
	c3 := dial(t, addr)
	if _, err := c3.Do(context.Background(), 1, ReadHoldingRegisters(0, 1)); err != nil {
		t.Fatalf("a client after the first left was refused: %v", err)
	}
}

func TestServerIdleTimeout(t *testing.T) {
	s, addr := startServer(t, "", ServerConfig{Handler: NewBank(BankConfig{}), IdleTimeout: 50 * time.Millisecond})
	c := dial(t, addr)
	waitFor(t, "client to be counted", func() bool { return s.Clients() == 1 })
	start := time.Now()
	if _, err := c.ReadADU(context.Background()); err == nil {
		t.Fatal("read from an idle connection succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("idle connection closed after %v", d)
	}
	waitFor(t, "client to be dropped", func() bool { return s.Clients() == 0 })
}

func TestServerAllow(t *testing.T) {
	var blocked atomic.Bool
	var asked atomic.Value
	allow := func(a netip.Addr) bool {
		asked.Store(a)
		return !blocked.Load()
	}
	s, addr := startServer(t, "", ServerConfig{Handler: NewBank(BankConfig{HoldingRegisters: 1}), Allow: allow})
	c := dial(t, addr)
	if _, err := c.Do(context.Background(), 1, ReadHoldingRegisters(0, 1)); err != nil {
		t.Fatal(err)
	}
	if got := asked.Load().(netip.Addr); got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("Allow asked about %v", got)
	}
	blocked.Store(true) // takes effect on the open connection
	if _, err := c.Do(context.Background(), 1, ReadHoldingRegisters(0, 1)); err == nil {
		t.Fatal("a blocked host was served on its open connection")
	}
	c2 := dial(t, addr)
	if _, err := c2.Do(context.Background(), 1, ReadHoldingRegisters(0, 1)); err == nil {
		t.Fatal("a blocked host was served on a new connection")
	}
	if st := s.Stats(); st.Denied != 2 {
		t.Errorf("denied %d, want 2", st.Denied)
	}
}

func TestServerRecheck(t *testing.T) {
	var blocked atomic.Bool
	s, addr := startServer(t, "", ServerConfig{Handler: NewBank(BankConfig{HoldingRegisters: 1}), Allow: func(netip.Addr) bool { return !blocked.Load() }})
	c := dial(t, addr)
	if _, err := c.Do(context.Background(), 1, ReadHoldingRegisters(0, 1)); err != nil {
		t.Fatal(err)
	}
	if n := s.Recheck(); n != 0 {
		t.Fatalf("Recheck closed %d allowed connections", n)
	}
	blocked.Store(true)
	if n := s.Recheck(); n != 1 {
		t.Fatalf("Recheck closed %d connections, want 1", n)
	}
	if _, err := c.ReadADU(context.Background()); err == nil {
		t.Fatal("the blocked connection is still open")
	}
	waitFor(t, "the connection to go", func() bool { return s.Clients() == 0 })
}

func TestServerHandlerErrors(t *testing.T) {
	h := HandlerFunc(func(_ context.Context, _ uint8, req PDU) (PDU, error) {
		switch req.Function {
		case 1:
			return PDU{}, errors.New("boom")
		case 2:
			panic("bug")
		case 3:
			return PDU{}, ErrNoResponse
		case 4:
			return PDU{Function: 4, Data: make([]byte, MaxPDULen)}, nil
		}
		return req, nil
	})
	s, addr := startServer(t, "", ServerConfig{Handler: h})
	c := dial(t, addr)
	ctx := context.Background()
	for _, f := range []FunctionCode{1, 2, 4} {
		if _, err := c.Do(ctx, 1, PDU{Function: f}); !errors.Is(err, &ExceptionError{Code: ExServerDeviceFailure}) {
			t.Errorf("function %d: %v, want ServerDeviceFailure", f, err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.Do(short, 1, PDU{Function: 3}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no-response request: %v, want a deadline error", err)
	}
	// The late-arriving stream stays in sync: the next request matches by tid.
	if resp, err := c.Do(ctx, 1, PDU{Function: 6, Data: []byte{1, 2, 3, 4}}); err != nil || resp.Function != 6 {
		t.Errorf("after no response: %v %v", resp, err)
	}
	if s.Stats().Panics != 1 {
		t.Errorf("panics %d", s.Stats().Panics)
	}
}

func TestNewServerValidates(t *testing.T) {
	for _, cfg := range []ServerConfig{{}, {Handler: NewBank(BankConfig{}), MaxClients: -1}, {Handler: NewBank(BankConfig{}), IdleTimeout: -1}} {
		if _, err := NewServer(cfg); err == nil {
			t.Errorf("NewServer(%+v) accepted", cfg)
		}
	}
}

func TestServeReturnsOnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewServer(ServerConfig{Handler: NewBank(BankConfig{})})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	c := dial(t, ln.Addr().String())
	waitFor(t, "client to be counted", func() bool { return s.Clients() == 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := c.ReadADU(context.Background()); err == nil {
		t.Error("connection still open after Serve returned")
	}
}
