package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Size limits of Modbus/TCP (Messaging on TCP/IP Implementation Guide, 3.1.3).
const (
	MBAPLen       = 7   // transaction id, protocol id, length, unit id
	MaxPDULen     = 253 // function code plus at most 252 data bytes
	MaxADULen     = 260 // MBAPLen + MaxPDULen
	minMBAPLength = 2   // the MBAP length field counts the unit id and the function code at least
	maxMBAPLength = MaxPDULen + 1
	snippetLen    = 16 // bytes of hex shown by a DecodeError
)

// ErrIncomplete reports that a buffer does not yet hold a whole ADU: read more
// bytes and decode again.
var ErrIncomplete = errors.New("modbus: incomplete ADU")

// PDU is a protocol data unit: a function code and its data. On exception
// responses Function carries the 0x80 bit and Data holds the exception code.
type PDU struct {
	Function FunctionCode
	Data     []byte
}

// IsException reports whether p is an exception response.
func (p PDU) IsException() bool { return p.Function.IsException() }

// Exception returns the exception code of an exception response, or 0 when p
// is not one (or is truncated).
func (p PDU) Exception() ExceptionCode {
	if !p.IsException() || len(p.Data) < 1 {
		return 0
	}
	return ExceptionCode(p.Data[0])
}

// Err returns p's exception as an *ExceptionError, or nil when p is not an
// exception response.
func (p PDU) Err() error {
	if !p.IsException() {
		return nil
	}
	return &ExceptionError{Function: p.Function.Base(), Code: p.Exception()}
}

// Len returns the encoded length of p in bytes.
func (p PDU) Len() int { return 1 + len(p.Data) }

// ADU is a Modbus/TCP application data unit: the MBAP header and a PDU.
type ADU struct {
	TransactionID uint16
	ProtocolID    uint16
	UnitID        uint8
	PDU           PDU
}

// DecodeError is a malformed frame or PDU. Offset counts from the start of the
// ADU for DecodeADU and Stream, from the function code for ParseRequest and
// ParseResponse. Exception is the exception a server answers with when the
// error comes from a request, or 0.
type DecodeError struct {
	Field     string        // e.g. "mbap.length", "quantity", "byte_count"
	Offset    int           // offset of the field
	Reason    string        // what is wrong with it
	Snippet   []byte        // up to 16 bytes from Offset (a copy)
	Exception ExceptionCode // the exception to answer a request with, or 0
}

// Error implements error.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("modbus: bad %s at offset %d: %s [% x]", e.Field, e.Offset, e.Reason, e.Snippet)
}

// decodeErr builds a DecodeError with a copy of a short snippet of b at off.
func decodeErr(b []byte, field string, off int, ex ExceptionCode, format string, args ...any) *DecodeError {
	snip := []byte{}
	if off >= 0 && off < len(b) {
		end := min(off+snippetLen, len(b))
		snip = append(snip, b[off:end]...)
	}
	return &DecodeError{Field: field, Offset: off, Reason: fmt.Sprintf(format, args...), Snippet: snip, Exception: ex}
}

// DecodeADU decodes the ADU at the start of b into a and returns its length.
// It allocates nothing: a.PDU.Data aliases b (with its capacity clipped, so
// appending to it never writes into b). It returns ErrIncomplete when b holds
// a valid prefix of an ADU, and a *DecodeError when the protocol id is not 0
// or the length field is outside 2..254.
func DecodeADU(b []byte, a *ADU) (n int, err error) {
	if err := checkMBAPPrefix(b); err != nil {
		return 0, err
	}
	if len(b) < MBAPLen+1 {
		return 0, ErrIncomplete
	}
	n = 6 + int(binary.BigEndian.Uint16(b[4:]))
	if len(b) < n {
		return 0, ErrIncomplete
	}
	a.TransactionID = binary.BigEndian.Uint16(b[0:])
	a.ProtocolID = 0
	a.UnitID = b[6]
	a.PDU.Function = FunctionCode(b[7])
	a.PDU.Data = b[8:n:n]
	return n, nil
}

// checkMBAPPrefix validates the protocol id and length bytes that b already
// holds, so garbage is reported as soon as its first bytes arrive.
func checkMBAPPrefix(b []byte) error {
	switch bad := badMBAPByte(b); bad {
	case -1:
		return nil
	case 2, 3:
		return decodeErr(b, "mbap.protocol_id", 2, 0, "protocol id bytes % x, want 00 00", b[2:bad+1])
	default:
		return decodeErr(b, "mbap.length", 4, 0, "length bytes % x, want %d..%d", b[4:bad+1], minMBAPLength, maxMBAPLength)
	}
}

// badMBAPByte returns the offset of the first byte of b's MBAP header prefix
// that no valid header can have, or -1: the protocol id is 0 and the length
// is minMBAPLength..maxMBAPLength, so bytes 2, 3 and 4 are zero.
func badMBAPByte(b []byte) int {
	for i := 2; i < min(len(b), 5); i++ {
		if b[i] != 0 {
			return i
		}
	}
	if len(b) >= 6 && (b[5] < minMBAPLength || b[5] > maxMBAPLength) {
		return 5
	}
	return -1
}

// AppendADU appends the encoding of a to dst. It writes the fields as given,
// including a non-zero ProtocolID or an oversized PDU, so that malformed
// frames can be built on purpose; the length field is 2+len(a.PDU.Data),
// truncated to 16 bits.
func AppendADU(dst []byte, a *ADU) []byte {
	dst = binary.BigEndian.AppendUint16(dst, a.TransactionID)
	dst = binary.BigEndian.AppendUint16(dst, a.ProtocolID)
	dst = binary.BigEndian.AppendUint16(dst, uint16(2+len(a.PDU.Data)))
	dst = append(dst, a.UnitID, byte(a.PDU.Function))
	return append(dst, a.PDU.Data...)
}
