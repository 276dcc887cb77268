package modbus

import (
	"bytes"
	"fmt"
)

// MismatchError says how a response disagrees with the request it answers.
type MismatchError struct {
	Field    string
	Request  uint32
	Response uint32
	Function FunctionCode
}

// Error implements error.
func (e *MismatchError) Error() string {
	return fmt.Sprintf("modbus: %v response %s %d does not match request %d", e.Function, e.Field, e.Response, e.Request)
}

// CheckResponse reports whether resp is a consistent answer to req: the same
// function (an exception answers any request), byte counts that fit the
// requested quantity, and the echoes that the specification requires. The
// sensor uses it to pair requests and responses.
func CheckResponse(req *Request, resp *Response) error {
	f := req.Function
	if resp.Function.Base() != f {
		return mismatch(f, "function", uint32(f), uint32(resp.Function))
	}
	if resp.Function.IsException() {
		return nil
	}
	switch f {
	case FuncReadCoils, FuncReadDiscreteInputs:
		return sameUint(f, "byte_count", (int(req.Quantity)+7)/8, resp.ByteCount)
	case FuncReadHoldingRegisters, FuncReadInputRegisters, FuncReadWriteMultipleRegisters:
		return sameUint(f, "byte_count", 2*int(req.Quantity), resp.ByteCount)
	case FuncWriteSingleCoil, FuncWriteSingleRegister:
		return firstErr(sameUint(f, "address", int(req.Address), int(resp.Address)), sameUint(f, "value", int(req.Value), int(resp.Value)))
	case FuncWriteMultipleCoils, FuncWriteMultipleRegisters:
		return firstErr(sameUint(f, "address", int(req.Address), int(resp.Address)), sameUint(f, "quantity", int(req.Quantity), int(resp.Quantity)))
	case FuncMaskWriteRegister:
		return firstErr(sameUint(f, "address", int(req.Address), int(resp.Address)),
			sameUint(f, "and_mask", int(req.AndMask), int(resp.AndMask)), sameUint(f, "or_mask", int(req.OrMask), int(resp.OrMask)))
	case FuncDiagnostics:
		return checkDiagEcho(req, resp)
	case FuncWriteFileRecord:
		if !bytes.Equal(req.Values, resp.Values) {
			return mismatch(f, "echo", uint32(len(req.Values)), uint32(len(resp.Values)))
		}
	case FuncEncapsulatedInterface:
		return firstErr(sameUint(f, "mei_type", int(req.MEIType), int(resp.MEIType)),
			sameUint(f, "read_device_id_code", int(req.ReadDeviceIDCode), int(resp.ReadDeviceIDCode)))
	}
	return nil
}

// checkDiagEcho checks a FC 8 response: the same sub-function, and for Return
// Query Data the same data.
func checkDiagEcho(req *Request, resp *Response) error {
	if err := sameUint(FuncDiagnostics, "sub_function", int(req.SubFunction), int(resp.SubFunction)); err != nil {
		return err
	}
	if req.SubFunction == DiagReturnQueryData && !bytes.Equal(req.Values, resp.Values) {
		return mismatch(FuncDiagnostics, "echo", uint32(len(req.Values)), uint32(len(resp.Values)))
	}
	return nil
}

// sameUint returns a MismatchError when want != got.
func sameUint(f FunctionCode, field string, want, got int) error {
	if want != got {
		return mismatch(f, field, uint32(want), uint32(got))
	}
	return nil
}

// mismatch builds a *MismatchError.
func mismatch(f FunctionCode, field string, want, got uint32) error {
	return &MismatchError{Field: field, Request: want, Response: got, Function: f}
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
