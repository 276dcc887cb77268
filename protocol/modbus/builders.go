package modbus

import "encoding/binary"

// The request builders return a PDU with freshly allocated data. They do not
// validate their arguments, so attacks can build out-of-spec requests; run
// ParseRequest on the result to check it.

// ReadCoils returns a FC 1 request for qty coils from addr.
func ReadCoils(addr, qty uint16) PDU { return words(FuncReadCoils, addr, qty) }

// ReadDiscreteInputs returns a FC 2 request for qty inputs from addr.
func ReadDiscreteInputs(addr, qty uint16) PDU { return words(FuncReadDiscreteInputs, addr, qty) }

// ReadHoldingRegisters returns a FC 3 request for qty registers from addr.
func ReadHoldingRegisters(addr, qty uint16) PDU { return words(FuncReadHoldingRegisters, addr, qty) }

// ReadInputRegisters returns a FC 4 request for qty registers from addr.
func ReadInputRegisters(addr, qty uint16) PDU { return words(FuncReadInputRegisters, addr, qty) }

// WriteSingleCoil returns a FC 5 request setting the coil at addr.
func WriteSingleCoil(addr uint16, on bool) PDU {
	v := uint16(coilOff)
	if on {
		v = coilOn
	}
	return words(FuncWriteSingleCoil, addr, v)
}

// WriteSingleRegister returns a FC 6 request writing v at addr.
func WriteSingleRegister(addr, v uint16) PDU { return words(FuncWriteSingleRegister, addr, v) }

// ReadExceptionStatus returns a FC 7 request.
func ReadExceptionStatus() PDU { return PDU{Function: FuncReadExceptionStatus} }

// Diagnostic returns a FC 8 request for sub-function sub with one data word.
func Diagnostic(sub uint16, data uint16) PDU { return words(FuncDiagnostics, sub, data) }

// GetCommEventCounter returns a FC 11 request.
func GetCommEventCounter() PDU { return PDU{Function: FuncGetCommEventCounter} }

// GetCommEventLog returns a FC 12 request.
func GetCommEventLog() PDU { return PDU{Function: FuncGetCommEventLog} }

// WriteMultipleCoils returns a FC 15 request writing vals from addr.
func WriteMultipleCoils(addr uint16, vals []bool) PDU {
	d := words(FuncWriteMultipleCoils, addr, uint16(len(vals))).Data
	d = append(d, byte((len(vals)+7)/8))
	d = appendBits(d, vals)
	return PDU{Function: FuncWriteMultipleCoils, Data: d}
}

// WriteMultipleRegisters returns a FC 16 request writing vals from addr.
func WriteMultipleRegisters(addr uint16, vals []uint16) PDU {
	d := words(FuncWriteMultipleRegisters, addr, uint16(len(vals))).Data
	d = append(d, byte(2*len(vals)))
	d = appendRegisters(d, vals)
	return PDU{Function: FuncWriteMultipleRegisters, Data: d}
}

// ReportServerID returns a FC 17 request.
func ReportServerID() PDU { return PDU{Function: FuncReportServerID} }

// MaskWriteRegister returns a FC 22 request: the register at addr becomes
// (current AND and) OR (or AND NOT and).
func MaskWriteRegister(addr, and, or uint16) PDU {
	d := words(FuncMaskWriteRegister, addr, and).Data
	return PDU{Function: FuncMaskWriteRegister, Data: binary.BigEndian.AppendUint16(d, or)}
}

// ReadWriteMultipleRegisters returns a FC 23 request that writes vals at
// waddr, then reads rqty registers from raddr.
func ReadWriteMultipleRegisters(raddr, rqty, waddr uint16, vals []uint16) PDU {
	d := words(FuncReadWriteMultipleRegisters, raddr, rqty).Data
	d = binary.BigEndian.AppendUint16(d, waddr)
	d = binary.BigEndian.AppendUint16(d, uint16(len(vals)))
	d = append(d, byte(2*len(vals)))
	return PDU{Function: FuncReadWriteMultipleRegisters, Data: appendRegisters(d, vals)}
}

// ReadFIFOQueue returns a FC 24 request for the FIFO at pointer address addr.
func ReadFIFOQueue(addr uint16) PDU {
	return PDU{Function: FuncReadFIFOQueue, Data: binary.BigEndian.AppendUint16(nil, addr)}
}

// ReadDeviceIdentification returns a FC 43 / MEI 14 request with read device
// id code (DevIDBasic..DevIDSpecific) and the first object id.
func ReadDeviceIdentification(code, objectID uint8) PDU {
	return PDU{Function: FuncEncapsulatedInterface, Data: []byte{meiReadDeviceID, code, objectID}}
}

// words returns a PDU whose data is the two big-endian words a and b.
func words(f FunctionCode, a, b uint16) PDU {
	d := make([]byte, 4, 8)
	binary.BigEndian.PutUint16(d, a)
	binary.BigEndian.PutUint16(d[2:], b)
	return PDU{Function: f, Data: d}
}

// appendBits appends vals packed LSB first, eight to a byte.
func appendBits(d []byte, vals []bool) []byte {
	for i := 0; i < len(vals); i += 8 {
		var b byte
		for j := 0; j < 8 && i+j < len(vals); j++ {
			if vals[i+j] {
				b |= 1 << j
			}
		}
		d = append(d, b)
	}
	return d
}

// appendRegisters appends vals as big-endian words.
func appendRegisters(d []byte, vals []uint16) []byte {
	for _, v := range vals {
		d = binary.BigEndian.AppendUint16(d, v)
	}
	return d
}
