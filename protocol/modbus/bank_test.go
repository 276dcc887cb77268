package modbus

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// specBank returns a Bank holding the values of the specification's examples.
func specBank(t *testing.T) *Bank {
	t.Helper()
	b := NewBank(BankConfig{Coils: 0x100, DiscreteInputs: 0x100, HoldingRegisters: 0x100, InputRegisters: 0x10})
	for i, on := range []bool{true, false, true, true, false, false, true, true, true, true, false, true, false, true, true, false, true, false, true} {
		b.SetCoil(uint16(0x13+i), on) // 19 coils: CD 6B 05
	}
	for i, on := range []bool{false, false, true, true, false, true, false, true, true, true, false, true, true, false, true, true, true, false, true, false, true, true} {
		b.SetDiscrete(uint16(0xc4+i), on) // 22 inputs: AC DB 35
	}
	b.SetHolding(0x6b, 0x022b)
	b.SetHolding(0x6c, 0)
	b.SetHolding(0x6d, 0x64)
	b.SetHolding(4, 0x12)
	b.SetInput(8, 0xa)
	return b
}

func TestBankSpecExamples(t *testing.T) {
	tests := []struct{ name, req, resp string }{
		{"fc1", "01 0013 0013", "01 03 cd6b05"},
		{"fc2", "02 00c4 0016", "02 03 acdb35"},
		{"fc3", "03 006b 0003", "03 06 022b 0000 0064"},
		{"fc4", "04 0008 0001", "04 02 000a"},
		{"fc5", "05 00ac ff00", "05 00ac ff00"},
		{"fc6", "06 0001 0003", "06 0001 0003"},
		{"fc15", "0f 0013 000a 02 cd01", "0f 0013 000a"},
		{"fc16", "10 0001 0002 04 000a 0102", "10 0001 0002"},
		{"fc22", "16 0004 00f2 0025", "16 0004 00f2 0025"},
	}
	b := specBank(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.ServeModbus(context.Background(), 1, pduOf(t, tt.req))
			if err != nil {
				t.Fatalf("ServeModbus: %v", err)
			}
			if want := pduOf(t, tt.resp); got.Function != want.Function || !bytes.Equal(got.Data, want.Data) {
				t.Errorf("got %v % x, want %s", got.Function, got.Data, tt.resp)
			}
		})
	}
	if b.Holding(4) != 0x17 { // spec: 0x12 AND 0xf2 OR (0x25 AND NOT 0xf2) = 0x17
		t.Errorf("mask write left %#x, want 0x17", b.Holding(4))
	}
	if !b.Coil(0xac) || b.Holding(1) != 0x000a || b.Holding(2) != 0x0102 {
		t.Errorf("writes not applied: coil %v regs %#x %#x", b.Coil(0xac), b.Holding(1), b.Holding(2))
	}
}

func TestBankReadWrite(t *testing.T) {
	b := NewBank(BankConfig{HoldingRegisters: 20})
	for i, v := range []uint16{0xfe, 0xacd, 1, 3, 0xd, 0xff} {
		b.SetHolding(uint16(3+i), v)
	}
	var calls []string
	b.OnWrite(func(fc FunctionCode, addr, qty uint16) {
		calls = append(calls, fc.String())
		if addr != 14 || qty != 3 || b.Holding(14) != 0xff { // runs after the write, outside the lock
			t.Errorf("OnWrite(%v, %d, %d) with register %#x", fc, addr, qty, b.Holding(14))
		}
	})
	got, err := b.ServeModbus(context.Background(), 1, pduOf(t, "17 0003 0006 000e 0003 06 00ff 00ff 00ff"))
	if err != nil {
		t.Fatal(err)
	}
	if want := pduOf(t, "17 0c 00fe 0acd 0001 0003 000d 00ff"); !bytes.Equal(got.Data, want.Data) {
		t.Errorf("got % x", got.Data)
	}
	if len(calls) != 1 {
		t.Errorf("OnWrite calls %v", calls)
	}
}

func TestBankExceptions(t *testing.T) {
	b := NewBank(BankConfig{Coils: 10, DiscreteInputs: 10, HoldingRegisters: 10, InputRegisters: 10})
	wrote := false
	b.OnWrite(func(FunctionCode, uint16, uint16) { wrote = true })
	tests := []struct {
		name string
		req  PDU
		want ExceptionCode
	}{
		{"fc3 beyond table", ReadHoldingRegisters(9, 2), ExIllegalDataAddress},
		{"fc3 quantity 0", ReadHoldingRegisters(0, 0), ExIllegalDataValue},
		{"fc1 beyond table", ReadCoils(10, 1), ExIllegalDataAddress},
		{"fc2 beyond table", ReadDiscreteInputs(5, 6), ExIllegalDataAddress},
		{"fc4 beyond table", ReadInputRegisters(100, 1), ExIllegalDataAddress},
		{"fc5 beyond table", WriteSingleCoil(10, true), ExIllegalDataAddress},
		{"fc5 bad value", pduOf(t, "05 0000 1234"), ExIllegalDataValue},
		{"fc6 beyond table", WriteSingleRegister(10, 1), ExIllegalDataAddress},
		{"fc15 beyond table", WriteMultipleCoils(8, make([]bool, 3)), ExIllegalDataAddress},
		{"fc16 beyond table", WriteMultipleRegisters(8, make([]uint16, 3)), ExIllegalDataAddress},
		{"fc16 bad byte count", pduOf(t, "10 0000 0002 02 0000"), ExIllegalDataValue},
		{"fc22 beyond table", MaskWriteRegister(10, 0, 0), ExIllegalDataAddress},
		{"fc23 write beyond table", ReadWriteMultipleRegisters(0, 1, 9, make([]uint16, 2)), ExIllegalDataAddress},
		{"fc23 read beyond table", ReadWriteMultipleRegisters(9, 2, 0, make([]uint16, 1)), ExIllegalDataAddress},
		{"fc7 not served by a bank", ReadExceptionStatus(), ExIllegalFunction},
		{"fc8 not served by a bank, even malformed", pduOf(t, "08 00"), ExIllegalFunction},
		{"unknown function", PDU{Function: 0x41}, ExIllegalFunction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.ServeModbus(context.Background(), 1, tt.req)
			var ee *ExceptionError
			if !errors.As(err, &ee) || ee.Code != tt.want || ee.Function != tt.req.Function {
				t.Fatalf("err = %v, want %v for %v", err, tt.want, tt.req.Function)
			}
		})
	}
	if wrote {
		t.Error("OnWrite called for a refused write")
	}
	for i := range 10 {
		if b.Holding(uint16(i)) != 0 || b.Coil(uint16(i)) {
			t.Fatalf("a refused write changed address %d", i)
		}
	}
}

func TestBankOutOfTableAccessors(t *testing.T) {
	b := NewBank(BankConfig{HoldingRegisters: 1, Coils: -5})
	b.SetHolding(5, 9)
	b.SetCoil(0, true)
	if b.Holding(5) != 0 || b.Coil(0) || b.Input(0) != 0 || b.Discrete(0) {
		t.Error("accessors beyond the tables returned values")
	}
}
