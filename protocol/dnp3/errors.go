package dnp3

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// Sentinel errors wrapped by [DecodeError]; test with errors.Is.
var (
	ErrTruncated      = errors.New("truncated")
	ErrBadStart       = errors.New("bad start octets")
	ErrBadLength      = errors.New("bad length")
	ErrBadCRC         = errors.New("bad CRC")
	ErrTooLarge       = errors.New("too large")
	ErrOutOfSequence  = errors.New("out of sequence")
	ErrNoFirst        = errors.New("segment without FIR while idle")
	ErrBadQualifier   = errors.New("unsupported qualifier")
	ErrBadRange       = errors.New("bad range")
	ErrUnknownObject  = errors.New("unknown object size")
	ErrBadObject      = errors.New("object not valid here")
	ErrBufferOverflow = errors.New("buffer overflow")
)

// snippetLen is how many octets of input an error shows.
const snippetLen = 12

// DecodeError says what could not be decoded: the layer ("link",
// "transport", "application", "object"), the field, the offset of the field
// in the input, and a few octets of the input starting at that offset.
type DecodeError struct {
	Layer   string
	Field   string
	Offset  int
	Snippet []byte
	Err     error
}

// Error formats the error as "dnp3 <layer>: <field> at offset N: <err> [hex]".
func (e *DecodeError) Error() string {
	return fmt.Sprintf("dnp3 %s: %s at offset %d: %v [% x]", e.Layer, e.Field, e.Offset, e.Err, e.Snippet)
}

// Unwrap returns the sentinel error.
func (e *DecodeError) Unwrap() error { return e.Err }

// HexSnippet returns the snippet as a compact hex string.
func (e *DecodeError) HexSnippet() string { return hex.EncodeToString(e.Snippet) }

// decodeErr builds a DecodeError, copying a short snippet of b at off.
func decodeErr(layer, field string, b []byte, off int, err error) error {
	var snip []byte
	if off >= 0 && off < len(b) {
		end := min(off+snippetLen, len(b))
		snip = append([]byte(nil), b[off:end]...)
	}
	return &DecodeError{Layer: layer, Field: field, Offset: off, Snippet: snip, Err: err}
}
