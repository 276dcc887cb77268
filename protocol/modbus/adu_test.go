package modbus

import (
	"bytes"
	"errors"
	"testing"
)

func TestDecodeADU(t *testing.T) {
	tests := []struct {
		name     string
		hex      string
		wantN    int
		wantTID  uint16
		wantUnit uint8
		wantFunc FunctionCode
		wantData string
	}{
		{"fc3 request (TCP guide example)", "0001 0000 0006 ff 03 006b 0003", 12, 1, 0xff, FuncReadHoldingRegisters, "006b0003"},
		{"response", "1234 0000 0009 11 03 06 022b 0000 0064", 15, 0x1234, 0x11, FuncReadHoldingRegisters, "06022b00000064"},
		{"exception", "0005 0000 0003 01 83 02", 9, 5, 1, 0x83, "02"},
		{"minimal length 2", "0007 0000 0002 00 07", 8, 7, 0, FuncReadExceptionStatus, ""},
		{"trailing bytes are not consumed", "0001 0000 0002 01 07 ffff", 8, 1, 1, FuncReadExceptionStatus, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := hx(t, tt.hex)
			var a ADU
			n, err := DecodeADU(b, &a)
			if err != nil {
				t.Fatalf("DecodeADU: %v", err)
			}
			if n != tt.wantN || a.TransactionID != tt.wantTID || a.UnitID != tt.wantUnit || a.PDU.Function != tt.wantFunc {
				t.Errorf("got n=%d tid=%d unit=%d fc=%v, want %d %d %d %v", n, a.TransactionID, a.UnitID, a.PDU.Function, tt.wantN, tt.wantTID, tt.wantUnit, tt.wantFunc)
			}
			if !bytes.Equal(a.PDU.Data, hx(t, tt.wantData)) {
				t.Errorf("data % x, want %s", a.PDU.Data, tt.wantData)
			}
			if cap(a.PDU.Data) != len(a.PDU.Data) {
				t.Errorf("data capacity %d not clipped to %d", cap(a.PDU.Data), len(a.PDU.Data))
			}
			if got := AppendADU(nil, &a); !bytes.Equal(got, b[:n]) {
				t.Errorf("AppendADU = % x, want % x", got, b[:n])
			}
		})
	}
}

func TestDecodeADUErrors(t *testing.T) {
	tests := []struct {
		name      string
		hex       string
		wantField string
		wantOff   int
	}{
		{"protocol id 1", "0001 0001 0006 01 03 0000 0001", "mbap.protocol_id", 2},
		{"protocol id in a 4-byte prefix", "0001 ff00", "mbap.protocol_id", 2},
		{"length 0", "0001 0000 0000 01", "mbap.length", 4},
		{"length 1", "0001 0000 0001 01", "mbap.length", 4},
		{"length 255 (ADU of 261 bytes)", "0001 0000 00ff 01", "mbap.length", 4},
		{"protocol id in a 3-byte prefix", "0001 01", "mbap.protocol_id", 2},
		{"length 256 in a 5-byte prefix", "0001 0000 01", "mbap.length", 4},
		{"length 0xffff", "0001 0000 ffff", "mbap.length", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a ADU
			n, err := DecodeADU(hx(t, tt.hex), &a)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("DecodeADU = %d, %v; want a *DecodeError", n, err)
			}
			if de.Field != tt.wantField || de.Offset != tt.wantOff || len(de.Snippet) == 0 {
				t.Errorf("error %+v, want field %s at %d with a snippet", de, tt.wantField, tt.wantOff)
			}
			if de.Error() == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestDecodeADUIncomplete(t *testing.T) {
	full := hx(t, "0001 0000 0006 01 03 006b 0003")
	for i := range len(full) {
		var a ADU
		if n, err := DecodeADU(full[:i], &a); !errors.Is(err, ErrIncomplete) {
			t.Errorf("prefix of %d bytes: n=%d err=%v, want ErrIncomplete", i, n, err)
		}
	}
}

func TestDecodeADUMaxLength(t *testing.T) {
	a := ADU{TransactionID: 9, UnitID: 1, PDU: PDU{Function: FuncReadHoldingRegisters, Data: make([]byte, MaxPDULen-1)}}
	b := AppendADU(nil, &a)
	if len(b) != MaxADULen {
		t.Fatalf("encoded %d bytes, want %d", len(b), MaxADULen)
	}
	var got ADU
	if n, err := DecodeADU(b, &got); err != nil || n != MaxADULen {
		t.Fatalf("DecodeADU of a 260-byte ADU = %d, %v", n, err)
	}
}

func TestPDUException(t *testing.T) {
	p := PDU{Function: 0x83, Data: []byte{2}}
	if !p.IsException() || p.Exception() != ExIllegalDataAddress {
		t.Fatalf("IsException=%v Exception=%v", p.IsException(), p.Exception())
	}
	var ee *ExceptionError
	if !errors.As(p.Err(), &ee) || ee.Function != FuncReadHoldingRegisters {
		t.Fatalf("Err() = %v", p.Err())
	}
	if !errors.Is(p.Err(), &ExceptionError{Code: ExIllegalDataAddress}) {
		t.Error("errors.Is by code failed")
	}
	if errors.Is(p.Err(), &ExceptionError{Code: ExIllegalFunction}) {
		t.Error("errors.Is matched a different code")
	}
	if n := (PDU{Function: FuncReadCoils, Data: []byte{2}}); n.IsException() || n.Exception() != 0 || n.Err() != nil {
		t.Error("a normal PDU reports an exception")
	}
}

func TestStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{FuncReadHoldingRegisters.String(), "ReadHoldingRegisters"},
		{FunctionCode(0x83).String(), "ReadHoldingRegisters+Exception"},
		{FunctionCode(0x41).String(), "Func(0x41)"},
		{FuncEncapsulatedInterface.String(), "EncapsulatedInterface"},
		{ExGatewayTargetFailed.String(), "GatewayTargetFailed"},
		{ExceptionCode(7).String(), "Exception(0x7)"},
		{Exception(FuncReadCoils, ExIllegalDataValue).Error(), "modbus: exception IllegalDataValue (3) for ReadCoils"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
