package modbus

// Response limits of the specification.
const (
	maxEventLogBytes = 64 // FC 12 events
	devIDHeaderLen   = 6  // MEI type .. number of objects
	moreFollowsYes   = 0xFF
	runIndicatorOn   = 0xFF
	maxByteCount     = 250 // FC 1-4 byte count: 2000 bits or 125 registers
)

// Response is the parsed view of a response PDU. Only the fields of the
// parsed function are set; byte slices alias the PDU.
type Response struct {
	// Function carries the 0x80 bit on an exception response; Exception is
	// then its code.
	Function  FunctionCode
	Exception ExceptionCode
	// Address and Quantity echo the request of FC 5, 6, 15, 16 and 22
	// (Quantity is 1 for the single writes).
	Address, Quantity uint16
	// Value is the written value (FC 5 raw, FC 6), the data word of FC 8, or
	// the status word of FC 11 and 12.
	Value uint16
	// ByteCount is the byte count field where the function has one.
	ByteCount int
	// Values holds the data: coil or register bytes (FC 1-4, 23), FC 8
	// data, FC 12 events, FC 17 server id bytes, FC 20 sub-responses,
	// FC 21 echoed sub-requests, FC 24 registers, FC 43 objects.
	Values []byte
	// AndMask and OrMask echo FC 22.
	AndMask, OrMask uint16
	// SubFunction is the FC 8 sub-function.
	SubFunction uint16
	// Status is the FC 7 output byte.
	Status uint8
	// EventCount and MessageCount are the FC 11 and FC 12 counters; FIFO
	// count of FC 24 is in Quantity.
	EventCount, MessageCount uint16
	// RunIndicator is the last byte of FC 17: the run indicator status
	// (0xFF on, 0x00 off) when the device adds no data after it, which the
	// specification allows and real devices do (the server id's length is
	// device-specific, so the two cannot be told apart).
	RunIndicator uint8
	// The FC 43 fields: MEIType, and for Read Device Identification the
	// read device id code, conformity level, more follows, next object id
	// and number of objects.
	MEIType, ReadDeviceIDCode, Conformity uint8
	MoreFollows                           bool
	NextObjectID, NumObjects              uint8
}

// ParseResponse validates response PDU p on its own (lengths, byte counts,
// spec limits) and fills r. It allocates nothing on success. Use
// CheckResponse to check it against the request it answers.
func ParseResponse(p PDU, r *Response) error {
	*r = Response{Function: p.Function}
	d := p.Data
	if p.Function.IsException() {
		if err := wantLen(d, 1); err != nil {
			return err
		}
		r.Exception = ExceptionCode(d[0])
		return nil
	}
	if !p.Function.Known() {
		return pduErr(d, "function", 0, 0, "function code %d is not public", uint8(p.Function))
	}
	switch p.Function {
	case FuncReadCoils, FuncReadDiscreteInputs, FuncReadHoldingRegisters, FuncReadInputRegisters, FuncReadWriteMultipleRegisters:
		return parseReadResponse(d, r)
	case FuncWriteSingleCoil, FuncWriteSingleRegister:
		return parseWriteSingleEcho(d, r)
	case FuncWriteMultipleCoils, FuncWriteMultipleRegisters:
		return parseWriteEcho(d, r)
	case FuncReadExceptionStatus:
		return parseExceptionStatus(d, r)
	case FuncDiagnostics:
		return parseDiagResponse(d, r)
	case FuncGetCommEventCounter:
		return parseEventCounter(d, r)
	case FuncGetCommEventLog:
		return parseEventLog(d, r)
	case FuncReportServerID:
		return parseServerID(d, r)
	case FuncReadFileRecord:
		return parseReadFileResponse(d, r)
	case FuncWriteFileRecord:
		return parseWriteFileEcho(d, r)
	case FuncMaskWriteRegister:
		return parseMaskEcho(d, r)
	case FuncReadFIFOQueue:
		return parseFIFOResponse(d, r)
	}
	return parseEncapsulatedResponse(d, r)
}

// parseReadResponse parses FC 1-4 and 23: a byte count and the data.
func parseReadResponse(d []byte, r *Response) error {
	if err := wantMinLen(d, 1); err != nil {
		return err
	}
	bc := int(d[0])
	if bc < 1 || bc > maxByteCount || len(d) != 1+bc {
		return pduErr(d, "byte_count", 1, 0, "byte count %d with %d data bytes, want 1..%d", bc, len(d)-1, maxByteCount)
	}
	isRegs := r.Function != FuncReadCoils && r.Function != FuncReadDiscreteInputs
	if isRegs && bc%2 != 0 {
		return pduErr(d, "byte_count", 1, 0, "odd byte count %d for registers", bc)
	}
	r.ByteCount, r.Values = bc, d[1:]
	return nil
}

// parseWriteSingleEcho parses FC 5 and 6: the echoed address and value.
func parseWriteSingleEcho(d []byte, r *Response) error {
	var q Request
	q.Function = r.Function
	if err := parseWriteSingle(d, &q); err != nil {
		return err
	}
	r.Address, r.Quantity, r.Value, r.Values = q.Address, 1, q.Value, q.Values
	return nil
}

// parseWriteEcho parses FC 15 and 16: the echoed address and quantity.
func parseWriteEcho(d []byte, r *Response) error {
	if err := wantLen(d, 4); err != nil {
		return err
	}
	limit := MaxWriteRegisters
	if r.Function == FuncWriteMultipleCoils {
		limit = MaxWriteCoils
	}
	r.Address, r.Quantity = be16(d, 0), be16(d, 2)
	return checkRange(d, "quantity", 3, r.Address, r.Quantity, limit)
}

// parseMaskEcho parses FC 22: the echoed request.
func parseMaskEcho(d []byte, r *Response) error {
	if err := wantLen(d, 6); err != nil {
		return err
	}
	r.Address, r.AndMask, r.OrMask, r.Quantity = be16(d, 0), be16(d, 2), be16(d, 4), 1
	return nil
}

// parseExceptionStatus parses FC 7: one byte of output status.
func parseExceptionStatus(d []byte, r *Response) error {
	if err := wantLen(d, 1); err != nil {
		return err
	}
	r.Status = d[0]
	return nil
}

// parseDiagResponse parses FC 8: the sub-function and its data.
func parseDiagResponse(d []byte, r *Response) error {
	if err := wantMinLen(d, 2); err != nil {
		return err
	}
	r.SubFunction, r.Values, r.Value = be16(d, 0), d[2:], be16(d, 2)
	if r.SubFunction != DiagReturnQueryData && len(d) != 4 {
		return pduErr(d, "length", 1, 0, "sub-function %d with %d data bytes, want 2", r.SubFunction, len(d)-2)
	}
	return nil
}

// parseEventCounter parses FC 11: status word and event count.
func parseEventCounter(d []byte, r *Response) error {
	if err := wantLen(d, 4); err != nil {
		return err
	}
	r.Value, r.EventCount = be16(d, 0), be16(d, 2)
	return nil
}

// parseEventLog parses FC 12: byte count, status, event count, message count
// and up to 64 event bytes.
func parseEventLog(d []byte, r *Response) error {
	if err := wantMinLen(d, 7); err != nil {
		return err
	}
	bc := int(d[0])
	if bc < 6 || bc > 6+maxEventLogBytes || len(d) != 1+bc {
		return pduErr(d, "byte_count", 1, 0, "byte count %d with %d bytes, want 6..%d", bc, len(d)-1, 6+maxEventLogBytes)
	}
	r.ByteCount, r.Value, r.EventCount, r.MessageCount, r.Values = bc, be16(d, 1), be16(d, 3), be16(d, 5), d[7:]
	return nil
}

// parseServerID parses FC 17: byte count, device-specific server id and the
// run indicator status.
func parseServerID(d []byte, r *Response) error {
	if err := wantMinLen(d, 2); err != nil {
		return err
	}
	bc := int(d[0])
	if bc < 1 || len(d) != 1+bc {
		return pduErr(d, "byte_count", 1, 0, "byte count %d with %d bytes", bc, len(d)-1)
	}
	r.ByteCount, r.Values, r.RunIndicator = bc, d[1:bc], d[bc]
	return nil
}

// parseReadFileResponse parses FC 20: a byte count and sub-responses, each a
// length byte, reference type 6 and the record data.
func parseReadFileResponse(d []byte, r *Response) error {
	if err := wantMinLen(d, 1); err != nil {
		return err
	}
	bc := int(d[0])
	if bc < 3 || bc > maxReadFileByteCount || len(d) != 1+bc {
		return pduErr(d, "byte_count", 1, 0, "byte count %d with %d bytes, want 3..%d", bc, len(d)-1, maxReadFileByteCount)
	}
	for off := 1; off < len(d); {
		n := int(d[off])
		switch {
		case n < 1 || n%2 != 1 || off+1+n > len(d):
			return pduErr(d, "file.response_length", off+1, 0, "sub-response length %d with %d bytes left", n, len(d)-off-1)
		case d[off+1] != fileRefType:
			return pduErr(d, "file.reference_type", off+2, 0, "reference type %d, want 6", d[off+1])
		}
		off += 1 + n
	}
	r.ByteCount, r.Values = bc, d[1:]
	return nil
}

// FileRecords yields the sub-responses of a parsed FC 20 response (Data and
// Length set, File and Record unknown) or the echoed sub-requests of FC 21;
// nothing for other functions.
func (r *Response) FileRecords(yield func(FileRecord) bool) {
	switch r.Function {
	case FuncWriteFileRecord:
		q := Request{Function: FuncWriteFileRecord, Values: r.Values}
		q.FileRecords(yield)
		return
	case FuncReadFileRecord:
	default:
		return
	}
	for b := r.Values; len(b) >= 2 && b[0] >= 1 && int(b[0]) < len(b); b = b[1+int(b[0]):] {
		data := b[2 : 1+int(b[0])]
		if !yield(FileRecord{Length: uint16(len(data) / 2), Data: data}) {
			return
		}
	}
}

// parseWriteFileEcho parses FC 21: the echoed request.
func parseWriteFileEcho(d []byte, r *Response) error {
	q := Request{Function: FuncWriteFileRecord}
	if err := parseFileRequest(d, &q, true); err != nil {
		return err
	}
	r.ByteCount, r.Values = len(d)-1, q.Values
	return nil
}

// parseFIFOResponse parses FC 24: byte count (2 bytes), FIFO count and at
// most 31 registers.
func parseFIFOResponse(d []byte, r *Response) error {
	if err := wantMinLen(d, 4); err != nil {
		return err
	}
	bc, n := int(be16(d, 0)), int(be16(d, 2))
	if n > MaxFIFOCount {
		return pduErr(d, "fifo_count", 3, 0, "FIFO count %d beyond %d", n, MaxFIFOCount)
	}
	if bc != 2+2*n || len(d) != 2+bc {
		return pduErr(d, "byte_count", 1, 0, "byte count %d with %d bytes for %d registers", bc, len(d)-2, n)
	}
	r.ByteCount, r.Quantity, r.Values = bc, uint16(n), d[4:]
	return nil
}

// parseEncapsulatedResponse parses FC 43; for Read Device Identification it
// checks that the objects fill the PDU exactly.
func parseEncapsulatedResponse(d []byte, r *Response) error {
	if err := wantMinLen(d, 1); err != nil {
		return err
	}
	r.MEIType, r.Values = d[0], d[1:]
	if r.MEIType != meiReadDeviceID {
		return nil
	}
	if err := wantMinLen(d, devIDHeaderLen); err != nil {
		return err
	}
	r.ReadDeviceIDCode, r.Conformity, r.NextObjectID, r.NumObjects = d[1], d[2], d[4], d[5]
	if r.ReadDeviceIDCode < DevIDBasic || r.ReadDeviceIDCode > DevIDSpecific {
		return pduErr(d, "read_device_id_code", 2, 0, "code %d outside 1..4", r.ReadDeviceIDCode)
	}
	if c := r.Conformity &^ 0x80; c < 1 || c > 3 {
		return pduErr(d, "conformity_level", 3, 0, "conformity level 0x%02x, want 0x01..0x03 or 0x81..0x83", r.Conformity)
	}
	if d[3] != 0 && d[3] != moreFollowsYes {
		return pduErr(d, "more_follows", 4, 0, "more follows 0x%02x, want 0x00 or 0xff", d[3])
	}
	r.MoreFollows, r.Values = d[3] == moreFollowsYes, d[devIDHeaderLen:]
	return checkDeviceObjects(d, int(r.NumObjects))
}

// checkDeviceObjects checks that n (id, length, value) objects fill the rest
// of a FC 43/14 response.
func checkDeviceObjects(d []byte, n int) error {
	off := devIDHeaderLen
	for i := range n {
		if off+2 > len(d) || off+2+int(d[off+1]) > len(d) {
			return pduErr(d, "object", off+1, 0, "object %d of %d overruns the PDU", i+1, n)
		}
		off += 2 + int(d[off+1])
	}
	if off != len(d) {
		return pduErr(d, "object", off+1, 0, "%d bytes after %d objects", len(d)-off, n)
	}
	return nil
}

// DeviceObjects yields the objects of a parsed FC 43/14 response.
func (r *Response) DeviceObjects(yield func(id uint8, value []byte) bool) {
	b := r.Values
	for range int(r.NumObjects) {
		if len(b) < 2 || 2+int(b[1]) > len(b) {
			return
		}
		if !yield(b[0], b[2:2+int(b[1])]) {
			return
		}
		b = b[2+int(b[1]):]
	}
}

// Bit returns the i-th coil or input of a FC 1 or 2 response.
func (r *Response) Bit(i int) bool { return i/8 < len(r.Values) && bit(r.Values, i) }

// Register returns the i-th register of a FC 3, 4, 23 or 24 response, or 0
// beyond the data.
func (r *Response) Register(i int) uint16 { return be16(r.Values, 2*i) }
