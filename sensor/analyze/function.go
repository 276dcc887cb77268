package analyze

import (
	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/modbus"
)

// FunctionName names function code fc of the protocol, as the protocol
// package does (a code of any protocol but DNP3 is named as Modbus).
func (p Protocol) FunctionName(fc uint8) string {
	if p == ProtoDNP3 {
		return dnp3.FunctionCode(fc).String()
	}
	return modbus.FunctionCode(fc).String()
}

// IsWrite reports the function codes that change outputs or registers:
// DNP3 WRITE, SELECT, OPERATE, DIRECT_OPERATE and DIRECT_OPERATE_NR (2–6);
// Modbus 5, 6, 15, 16, 22 and 23 (any protocol but DNP3 is read as Modbus).
func (p Protocol) IsWrite(fc uint8) bool {
	if p == ProtoDNP3 {
		return fc >= 2 && fc <= 6
	}
	switch fc {
	case 5, 6, 15, 16, 22, 23:
		return true
	}
	return false
}
