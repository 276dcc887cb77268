package modbus

import (
	"encoding/binary"
)

// Spec limits on quantities (Application Protocol Specification V1.1b3, 6.x).
const (
	MaxReadBits           = 2000 // FC 1, 2
	MaxReadRegisters      = 125  // FC 3, 4, read part of FC 23
	MaxWriteCoils         = 1968 // FC 15
	MaxWriteRegisters     = 123  // FC 16
	MaxRWWriteRegisters   = 121  // write part of FC 23
	MaxFIFOCount          = 31   // FC 24
	MaxFileRecordNumber   = 0x270F
	fileRefType           = 6
	fileSubReqLen         = 7 // reference type, file number, record number, record length
	coilOn, coilOff       = 0xFF00, 0x0000
	meiReadDeviceID       = 14
	meiCANopen            = 13
	minReadFileByteCount  = 0x07
	maxReadFileByteCount  = 0xF5
	minWriteFileByteCount = 0x09
	maxWriteFileByteCount = 0xFB
)

// MEI types of function 43 (Encapsulated Interface Transport).
const (
	MEICANopenGeneralReference = meiCANopen
	MEIReadDeviceID            = meiReadDeviceID
)

// Request is the parsed view of a request PDU. Only the fields of the parsed
// function are set; byte slices alias the PDU.
type Request struct {
	Function FunctionCode
	// Address is the starting address (FC 1-6, 15, 16), the reference address
	// (FC 22), the read starting address (FC 23) or the FIFO pointer
	// address (FC 24).
	Address uint16
	// Quantity is the number of coils or registers (FC 1-4, 15, 16) or the
	// read quantity (FC 23).
	Quantity uint16
	// Value is the register value (FC 6), the raw coil value 0xFF00/0x0000
	// (FC 5) or the sub-function data word (FC 8, when two bytes).
	Value uint16
	// Values holds the raw data: the value bytes of FC 5 and 6, the packed
	// coils of FC 15, the registers of FC 16 and 23, the data of FC 8, the
	// sub-requests of FC 20 and 21, the bytes after the MEI type of FC 43.
	Values []byte
	// WriteAddress and WriteQuantity are the write part of FC 23.
	WriteAddress, WriteQuantity uint16
	// AndMask and OrMask are the masks of FC 22.
	AndMask, OrMask uint16
	// SubFunction is the diagnostics sub-function of FC 8.
	SubFunction uint16
	// MEIType is the MEI type of FC 43; ReadDeviceIDCode (1-4) and ObjectID
	// are set when it is MEIReadDeviceID.
	MEIType          uint8
	ReadDeviceIDCode uint8
	ObjectID         uint8
}

// Coil returns the i-th coil of a FC 15 request (or whether a FC 5 request
// turns the coil on, for i == 0).
func (r *Request) Coil(i int) bool {
	if r.Function == FuncWriteSingleCoil {
		return i == 0 && r.Value == coilOn
	}
	return bit(r.Values, i)
}

// Register returns the i-th register value of a FC 16 or FC 23 request.
func (r *Request) Register(i int) uint16 { return binary.BigEndian.Uint16(r.Values[2*i:]) }

// bit returns bit i of LSB-first packed bits b.
func bit(b []byte, i int) bool { return b[i/8]>>(i%8)&1 == 1 }

// pduErr builds a DecodeError for a PDU whose data is d; off is relative to
// the function code (data starts at offset 1).
func pduErr(d []byte, field string, off int, ex ExceptionCode, format string, args ...any) *DecodeError {
	e := decodeErr(d, field, off-1, ex, format, args...)
	e.Offset = off
	return e
}

// ParseRequest validates request PDU p against the limits of the specification
// and fills r. It allocates nothing on success. A failure is a *DecodeError
// whose Exception is what a server answers: ExIllegalFunction for an unknown
// function code, ExIllegalDataValue for a bad quantity, byte count or length,
// ExIllegalDataAddress for a range beyond 65535.
func ParseRequest(p PDU, r *Request) error {
	*r = Request{Function: p.Function}
	if p.Function.IsException() || !p.Function.Known() {
		return pduErr(p.Data, "function", 0, ExIllegalFunction, "function code %d is not a public request", uint8(p.Function))
	}
	d := p.Data
	switch p.Function {
	case FuncReadCoils, FuncReadDiscreteInputs:
		return parseRead(d, r, MaxReadBits)
	case FuncReadHoldingRegisters, FuncReadInputRegisters:
		return parseRead(d, r, MaxReadRegisters)
	case FuncWriteSingleCoil, FuncWriteSingleRegister:
		return parseWriteSingle(d, r)
	case FuncReadExceptionStatus, FuncGetCommEventCounter, FuncGetCommEventLog, FuncReportServerID:
		return wantLen(d, 0)
	case FuncDiagnostics:
		return parseDiagnostics(d, r)
	case FuncWriteMultipleCoils:
		return parseWriteMultiple(d, r, MaxWriteCoils, (int(be16(d, 2))+7)/8)
	case FuncWriteMultipleRegisters:
		return parseWriteMultiple(d, r, MaxWriteRegisters, 2*int(be16(d, 2)))
	case FuncReadFileRecord:
		return parseFileRequest(d, r, false)
	case FuncWriteFileRecord:
		return parseFileRequest(d, r, true)
	case FuncMaskWriteRegister:
		return parseMaskWrite(d, r)
	case FuncReadWriteMultipleRegisters:
		return parseReadWrite(d, r)
	case FuncReadFIFOQueue:
		if err := wantLen(d, 2); err != nil {
			return err
		}
		r.Address = be16(d, 0)
		return nil
	}
	return parseEncapsulated(d, r)
}

// be16 returns the big-endian word at d[i:], or 0 when d is too short.
func be16(d []byte, i int) uint16 {
	if i+2 > len(d) {
		return 0
	}
	return binary.BigEndian.Uint16(d[i:])
}

// wantLen checks that the PDU data is exactly n bytes.
func wantLen(d []byte, n int) error {
	if len(d) != n {
		return pduErr(d, "length", 1, ExIllegalDataValue, "%d data bytes, want %d", len(d), n)
	}
	return nil
}

// wantMinLen checks that the PDU data is at least n bytes.
func wantMinLen(d []byte, n int) error {
	if len(d) < n {
		return pduErr(d, "length", 1, ExIllegalDataValue, "%d data bytes, want at least %d", len(d), n)
	}
	return nil
}

// checkRange validates quantity qty (at PDU offset off) against 1..limit and
// the address range addr..addr+qty-1 against 65535.
func checkRange(d []byte, field string, off int, addr, qty uint16, limit int) error {
	if qty < 1 || int(qty) > limit {
		return pduErr(d, field, off, ExIllegalDataValue, "quantity %d outside 1..%d", qty, limit)
	}
	if int(addr)+int(qty) > 0x10000 {
		return pduErr(d, "address", off-2, ExIllegalDataAddress, "address %d + quantity %d beyond 65535", addr, qty)
	}
	return nil
}

// parseRead parses FC 1-4: address and quantity.
func parseRead(d []byte, r *Request, limit int) error {
	if err := wantLen(d, 4); err != nil {
		return err
	}
	r.Address, r.Quantity = be16(d, 0), be16(d, 2)
	return checkRange(d, "quantity", 3, r.Address, r.Quantity, limit)
}

// parseWriteSingle parses FC 5 and 6: address and value.
func parseWriteSingle(d []byte, r *Request) error {
	if err := wantLen(d, 4); err != nil {
		return err
	}
	r.Address, r.Value, r.Values, r.Quantity = be16(d, 0), be16(d, 2), d[2:4], 1
	if r.Function == FuncWriteSingleCoil && r.Value != coilOn && r.Value != coilOff {
		return pduErr(d, "value", 3, ExIllegalDataValue, "coil value 0x%04x, want 0xff00 or 0x0000", r.Value)
	}
	return nil
}

// parseWriteMultiple parses FC 15 and 16: address, quantity, byte count and
// values; wantBC is the byte count the quantity implies.
func parseWriteMultiple(d []byte, r *Request, limit, wantBC int) error {
	if err := wantMinLen(d, 5); err != nil {
		return err
	}
	r.Address, r.Quantity = be16(d, 0), be16(d, 2)
	if err := checkRange(d, "quantity", 3, r.Address, r.Quantity, limit); err != nil {
		return err
	}
	if bc := int(d[4]); bc != wantBC || len(d) != 5+bc {
		return pduErr(d, "byte_count", 5, ExIllegalDataValue, "byte count %d with %d value bytes, want %d", bc, len(d)-5, wantBC)
	}
	r.Values = d[5:]
	return nil
}

// parseDiagnostics parses FC 8: sub-function and data. Return Query Data (0)
// echoes any data; the other sub-functions carry one data word.
func parseDiagnostics(d []byte, r *Request) error {
	if err := wantMinLen(d, 2); err != nil {
		return err
	}
	r.SubFunction, r.Values = be16(d, 0), d[2:]
	if r.SubFunction == DiagReturnQueryData {
		r.Value = be16(d, 2)
		return nil
	}
	if len(d) != 4 {
		return pduErr(d, "length", 1, ExIllegalDataValue, "sub-function %d with %d data bytes, want 2", r.SubFunction, len(d)-2)
	}
	r.Value = be16(d, 2)
	return nil
}

// parseMaskWrite parses FC 22: reference address, AND mask, OR mask.
func parseMaskWrite(d []byte, r *Request) error {
	if err := wantLen(d, 6); err != nil {
		return err
	}
	r.Address, r.AndMask, r.OrMask, r.Quantity = be16(d, 0), be16(d, 2), be16(d, 4), 1
	return nil
}

// parseReadWrite parses FC 23: the read range, then the write range and its
// values.
func parseReadWrite(d []byte, r *Request) error {
	if err := wantMinLen(d, 9); err != nil {
		return err
	}
	r.Address, r.Quantity = be16(d, 0), be16(d, 2)
	r.WriteAddress, r.WriteQuantity = be16(d, 4), be16(d, 6)
	if err := checkRange(d, "read_quantity", 3, r.Address, r.Quantity, MaxReadRegisters); err != nil {
		return err
	}
	if err := checkRange(d, "write_quantity", 7, r.WriteAddress, r.WriteQuantity, MaxRWWriteRegisters); err != nil {
		return err
	}
	if bc := int(d[8]); bc != 2*int(r.WriteQuantity) || len(d) != 9+bc {
		return pduErr(d, "byte_count", 9, ExIllegalDataValue, "byte count %d with %d value bytes, want %d", bc, len(d)-9, 2*r.WriteQuantity)
	}
	r.Values = d[9:]
	return nil
}

// parseEncapsulated parses FC 43: the MEI type and, for Read Device
// Identification, the read device id code and object id.
func parseEncapsulated(d []byte, r *Request) error {
	if err := wantMinLen(d, 1); err != nil {
		return err
	}
	r.MEIType, r.Values = d[0], d[1:]
	if r.MEIType != meiReadDeviceID {
		return nil
	}
	if err := wantLen(d, 3); err != nil {
		return err
	}
	r.ReadDeviceIDCode, r.ObjectID = d[1], d[2]
	if r.ReadDeviceIDCode < DevIDBasic || r.ReadDeviceIDCode > DevIDSpecific {
		return pduErr(d, "read_device_id_code", 2, ExIllegalDataValue, "code %d outside 1..4", r.ReadDeviceIDCode)
	}
	return nil
}
