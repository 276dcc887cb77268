package modbus

import (
	"context"
	"errors"
	"net"
	"testing"
)

// fakeServer accepts one connection on loopback and runs script on it.
func fakeServer(t *testing.T, script func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		script(c)
	}()
	return ln.Addr().String()
}

// readADU reads one request ADU from c.
func readADU(t *testing.T, c net.Conn) ADU {
	s := NewStream(0)
	buf := make([]byte, MaxADULen)
	for {
		var a ADU
		if ok, err := s.Next(&a); ok || err != nil {
			if err != nil {
				t.Errorf("fake server: %v", err)
			}
			a.PDU.Data = append([]byte(nil), a.PDU.Data...)
			return a
		}
		n, err := c.Read(buf)
		if err != nil {
			return ADU{}
		}
		_ = s.Write(buf[:n])
	}
}

func TestClientSkipsStaleTransactions(t *testing.T) {
	addr := fakeServer(t, func(c net.Conn) {
		req := readADU(t, c)
		stale := ADU{TransactionID: req.TransactionID - 1, UnitID: req.UnitID, PDU: PDU{Function: req.PDU.Function, Data: []byte{2, 0, 9}}}
		good := ADU{TransactionID: req.TransactionID, UnitID: req.UnitID, PDU: PDU{Function: req.PDU.Function, Data: []byte{2, 0, 7}}}
		_, _ = c.Write(AppendADU(AppendADU(nil, &stale), &good)[:5]) // split mid-header
		_, _ = c.Write(AppendADU(AppendADU(nil, &stale), &good)[5:])
	})
	c := dial(t, addr)
	resp, err := c.Do(context.Background(), 3, ReadHoldingRegisters(0, 1))
	if err != nil || string(resp.Data) != "\x02\x00\x07" {
		t.Fatalf("Do = % x, %v; want the response with the request's transaction id", resp.Data, err)
	}
}

func TestClientUnexpectedFunction(t *testing.T) {
	addr := fakeServer(t, func(c net.Conn) {
		req := readADU(t, c)
		wrong := ADU{TransactionID: req.TransactionID, UnitID: req.UnitID, PDU: PDU{Function: FuncReadCoils, Data: []byte{1, 0}}}
		_, _ = c.Write(AppendADU(nil, &wrong))
	})
	c := dial(t, addr)
	if _, err := c.Do(context.Background(), 1, ReadHoldingRegisters(0, 1)); !errors.Is(err, ErrUnexpectedResponse) {
		t.Fatalf("Do = %v, want ErrUnexpectedResponse", err)
	}
}

func TestClientTransactionIDsIncrease(t *testing.T) {
	tids := make(chan uint16, 3)
	addr := fakeServer(t, func(c net.Conn) {
		for range 3 {
			req := readADU(t, c)
			tids <- req.TransactionID
			_, _ = c.Write(AppendADU(nil, &req))
		}
	})
	c := dial(t, addr)
	for range 3 {
		if _, err := c.Do(context.Background(), 1, ReadExceptionStatus()); err != nil {
			t.Fatal(err)
		}
	}
	if a, b, d := <-tids, <-tids, <-tids; b != a+1 || d != b+1 {
		t.Errorf("transaction ids %d %d %d", a, b, d)
	}
}

func TestDialFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Dial(context.Background(), DialConfig{Address: addr}); err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
	if _, err := Dial(context.Background(), DialConfig{Address: addr, Timeout: -1}); err == nil {
		t.Fatal("negative timeout accepted")
	}
}
