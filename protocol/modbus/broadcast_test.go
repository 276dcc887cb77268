package modbus

import (
	"context"
	"errors"
	"testing"
)

func TestBroadcastable(t *testing.T) {
	tests := []struct {
		name string
		req  PDU
		want bool
	}{
		{"write single coil", WriteSingleCoil(1, true), true},
		{"write single register", WriteSingleRegister(1, 2), true},
		{"write multiple coils", WriteMultipleCoils(0, []bool{true}), true},
		{"write multiple registers", WriteMultipleRegisters(0, []uint16{1}), true},
		{"mask write", PDU{Function: FuncMaskWriteRegister, Data: []byte{0, 1, 0, 2, 0, 3}}, true},
		{"write file record", PDU{Function: FuncWriteFileRecord, Data: []byte{9, 6, 0, 1, 0, 0, 0, 1, 0, 5}}, true},
		{"force listen only", Diagnostic(DiagForceListenOnlyMode, 0), true},
		{"restart communications", Diagnostic(DiagRestartCommunications, 0), true},
		{"clear counters", Diagnostic(DiagClearCounters, 0), true},
		{"return query data", Diagnostic(DiagReturnQueryData, 1), false},
		{"diagnostics without sub-function", PDU{Function: FuncDiagnostics, Data: []byte{0}}, false},
		{"read holding registers", ReadHoldingRegisters(0, 1), false},
		{"read/write registers", PDU{Function: FuncReadWriteMultipleRegisters}, false},
		{"read device id", PDU{Function: FuncEncapsulatedInterface, Data: []byte{14, 1, 0}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Broadcastable(tt.req); got != tt.want {
				t.Fatalf("Broadcastable = %v, want %v", got, tt.want)
			}
			if IsBroadcast(1, tt.req) || IsBroadcast(0, tt.req) != tt.want {
				t.Fatalf("IsBroadcast wrong for unit 0 or 1")
			}
		})
	}
}

// TestServerBroadcast sends broadcasts to a gateway (Mux) with two devices:
// both execute the write, none answers, not even with an exception; reads
// to unit 0 are answered.
func TestServerBroadcast(t *testing.T) {
	bank1 := NewBank(BankConfig{HoldingRegisters: 10, Coils: 8})
	bank2 := NewBank(BankConfig{HoldingRegisters: 5})
	dev1, err := NewDevice(DeviceConfig{Data: bank1})
	if err != nil {
		t.Fatal(err)
	}
	mux := NewMux()
	mux.Handle(1, dev1)
	mux.Handle(2, bank2)
	srv, addr := startServer(t, "", ServerConfig{Handler: mux})
	c := dial(t, addr)
	ctx := context.Background()

	if err := c.Broadcast(ctx, WriteSingleRegister(3, 0x1234)); err != nil {
		t.Fatal(err)
	}
	// an illegal address on unit 2 only: still no answer from anyone
	if err := c.Broadcast(ctx, WriteMultipleRegisters(8, []uint16{7, 7})); err != nil {
		t.Fatal(err)
	}
	// the next answer on the wire is the read's: nothing was sent for the broadcasts
	if err := c.WriteRaw(AppendADU(nil, &ADU{TransactionID: 0x4242, UnitID: 1, PDU: ReadHoldingRegisters(3, 1)})); err != nil {
		t.Fatal(err)
	}
	a, err := c.ReadADU(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.TransactionID != 0x4242 || string(a.PDU.Data) != "\x02\x12\x34" {
		t.Fatalf("after broadcasts got tid %#x % x, want the read's answer 02 1234", a.TransactionID, a.PDU.Data)
	}
	if bank2.Holding(3) != 0x1234 || bank1.Holding(8) != 7 || bank1.Holding(9) != 7 {
		t.Fatalf("broadcast writes not executed by both units: %#x %d %d", bank2.Holding(3), bank1.Holding(8), bank1.Holding(9))
	}
	if st := srv.Stats(); st.Broadcasts != 2 || st.Responses != 1 {
		t.Fatalf("stats %+v, want 2 broadcasts and 1 response", st)
	}
	// the device records a broadcast receive event and a no-response
	if n := dev1.Counters().ServerNoResponses; n != 2 {
		t.Fatalf("server no-response count %d, want 2", n)
	}
	resp, err := c.Do(ctx, 1, PDU{Function: FuncGetCommEventLog})
	if err != nil {
		t.Fatal(err)
	}
	// byte count, status (2), event count (2), message count (2), events newest first
	want := string([]byte{eventReceive, eventSend, eventReceive, eventReceive | eventReceiveBroadcast, eventReceive | eventReceiveBroadcast})
	if ev := resp.Data[7:]; string(ev) != want {
		t.Fatalf("event log % x, want % x: this request, the read sent and received, two broadcasts received and not answered", ev, want)
	}
	// a read to unit 0 is answered: by the gateway's unit 0 handler if any,
	// else with the gateway's exception
	if _, err := c.Do(ctx, 0, ReadHoldingRegisters(0, 1)); !errors.Is(err, &ExceptionError{Code: ExGatewayPathUnavailable}) {
		t.Fatalf("read to unit 0 of a gateway: %v", err)
	}
	mux.HandleDefault(bank1)
	if resp, err := c.Do(ctx, 0, ReadHoldingRegisters(3, 1)); err != nil || string(resp.Data) != "\x02\x12\x34" {
		t.Fatalf("read to unit 0: % x %v", resp.Data, err)
	}
}

// TestServerBroadcastToDevice serves one Bank for every unit id, as the
// plant's PLCs do: unit 0 writes are executed silently, reads answered.
func TestServerBroadcastToDevice(t *testing.T) {
	bank := NewBank(BankConfig{Coils: 8, HoldingRegisters: 4})
	srv, addr := startServer(t, "", ServerConfig{Handler: bank})
	c := dial(t, addr)
	ctx := context.Background()
	if err := c.Broadcast(ctx, WriteSingleCoil(2, true)); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(ctx, 0, ReadCoils(0, 8))
	if err != nil || string(resp.Data) != "\x01\x04" {
		t.Fatalf("read to unit 0 after a broadcast: % x %v", resp.Data, err)
	}
	if st := srv.Stats(); st.Broadcasts != 1 || st.Responses != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestServerUnitZeroDirect answers writes to unit 0 when asked to, and the
// handler does not see a broadcast.
func TestServerUnitZeroDirect(t *testing.T) {
	bank := NewBank(BankConfig{HoldingRegisters: 4})
	dev, err := NewDevice(DeviceConfig{Data: bank})
	if err != nil {
		t.Fatal(err)
	}
	srv, addr := startServer(t, "", ServerConfig{Handler: dev, UnitZeroDirect: true})
	c := dial(t, addr)
	resp, err := c.Do(context.Background(), 0, WriteSingleRegister(1, 99))
	if err != nil || resp.Function != FuncWriteSingleRegister || bank.Holding(1) != 99 {
		t.Fatalf("write to unit 0: %v %v, register %d", resp, err, bank.Holding(1))
	}
	if st := srv.Stats(); st.Broadcasts != 0 || dev.Counters().ServerNoResponses != 0 {
		t.Fatalf("direct unit 0 counted as a broadcast: %+v %+v", st, dev.Counters())
	}
}
