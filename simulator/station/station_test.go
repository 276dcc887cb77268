package station

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

// echoServe answers each connection by echoing what it reads.
func echoServe(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Go(func() {
			defer c.Close()
			done := context.AfterFunc(ctx, func() { c.Close() })
			defer done()
			io.Copy(c, c)
		})
	}
}

func echo(t *testing.T, addr netip.AddrPort) error {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if string(b) != "ping" {
		t.Fatalf("echo = %q", b)
	}
	return nil
}

func TestRestartTakesDeviceAway(t *testing.T) {
	s, err := New(Config{Name: "plc", Addr: netip.MustParseAddr("127.10.1.99"), Serve: echoServe})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	if err := echo(t, s.AddrPort()); err != nil {
		t.Fatalf("device unreachable before restart: %v", err)
	}
	const down = 400 * time.Millisecond
	start := time.Now()
	if err := s.Restart(down); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(down); !errors.Is(err, ErrDown) {
		t.Errorf("second Restart = %v, want ErrDown", err)
	}
	// Refused while down.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := echo(t, s.AddrPort())
		if errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("device still answers during its restart (last error %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if up, back := s.Up(); up || back.Before(start) {
		t.Errorf("Up = %v, %v during restart", up, back)
	}
	// Back after the restart time, on the same address.
	for {
		err := echo(t, s.AddrPort())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("device not back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if since := time.Since(start); since < down {
		t.Errorf("device back after %v, before its restart time %v", since, down)
	}
	if up, _ := s.Up(); !up {
		t.Error("Up = false after the device came back")
	}
}

func TestBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.10.1.98:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ap := netip.MustParseAddrPort(ln.Addr().String())
	if _, err := New(Config{Name: "plc", Addr: ap.Addr(), Port: int(ap.Port()), Serve: echoServe}); err == nil {
		t.Fatal("New bound a busy port")
	}
	if _, err := New(Config{Name: "plc", Addr: ap.Addr()}); err == nil {
		t.Fatal("New accepted a station without a serve function")
	}
}
