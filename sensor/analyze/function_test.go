package analyze

import "testing"

func TestProtocolFunctions(t *testing.T) {
	tests := []struct {
		name  string
		p     Protocol
		fc    uint8
		write bool
		named string
	}{
		{"modbus read holding registers", ProtoModbus, 3, false, "ReadHoldingRegisters"},
		{"modbus write single coil", ProtoModbus, 5, true, "WriteSingleCoil"},
		{"modbus mask write register", ProtoModbus, 22, true, "MaskWriteRegister"},
		{"modbus diagnostics", ProtoModbus, 8, false, "Diagnostics"},
		{"dnp3 read", ProtoDNP3, 1, false, "READ"},
		{"dnp3 write", ProtoDNP3, 2, true, "WRITE"},
		{"dnp3 direct operate no ack", ProtoDNP3, 6, true, "DIRECT_OPERATE_NR"},
		{"dnp3 cold restart", ProtoDNP3, 13, false, "COLD_RESTART"},
		{"unknown reads as modbus", ProtoUnknown, 6, true, "WriteSingleRegister"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.IsWrite(tc.fc); got != tc.write {
				t.Errorf("IsWrite(%d) = %v, want %v", tc.fc, got, tc.write)
			}
			if got := tc.p.FunctionName(tc.fc); got != tc.named {
				t.Errorf("FunctionName(%d) = %q, want %q", tc.fc, got, tc.named)
			}
		})
	}
}
