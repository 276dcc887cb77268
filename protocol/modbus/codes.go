package modbus

import (
	"errors"
	"strconv"
)

// FunctionCode is the first byte of a PDU. On an exception response it carries
// the 0x80 bit; FunctionCode.Base strips it.
type FunctionCode uint8

// Public function codes of the Modbus application protocol.
const (
	FuncReadCoils                  FunctionCode = 1
	FuncReadDiscreteInputs         FunctionCode = 2
	FuncReadHoldingRegisters       FunctionCode = 3
	FuncReadInputRegisters         FunctionCode = 4
	FuncWriteSingleCoil            FunctionCode = 5
	FuncWriteSingleRegister        FunctionCode = 6
	FuncReadExceptionStatus        FunctionCode = 7
	FuncDiagnostics                FunctionCode = 8
	FuncGetCommEventCounter        FunctionCode = 11
	FuncGetCommEventLog            FunctionCode = 12
	FuncWriteMultipleCoils         FunctionCode = 15
	FuncWriteMultipleRegisters     FunctionCode = 16
	FuncReportServerID             FunctionCode = 17
	FuncReadFileRecord             FunctionCode = 20
	FuncWriteFileRecord            FunctionCode = 21
	FuncMaskWriteRegister          FunctionCode = 22
	FuncReadWriteMultipleRegisters FunctionCode = 23
	FuncReadFIFOQueue              FunctionCode = 24
	FuncEncapsulatedInterface      FunctionCode = 43
)

// exceptionBit marks an exception response in the function code.
const exceptionBit = 0x80

var funcNames = [...]string{
	FuncReadCoils:                  "ReadCoils",
	FuncReadDiscreteInputs:         "ReadDiscreteInputs",
	FuncReadHoldingRegisters:       "ReadHoldingRegisters",
	FuncReadInputRegisters:         "ReadInputRegisters",
	FuncWriteSingleCoil:            "WriteSingleCoil",
	FuncWriteSingleRegister:        "WriteSingleRegister",
	FuncReadExceptionStatus:        "ReadExceptionStatus",
	FuncDiagnostics:                "Diagnostics",
	FuncGetCommEventCounter:        "GetCommEventCounter",
	FuncGetCommEventLog:            "GetCommEventLog",
	FuncWriteMultipleCoils:         "WriteMultipleCoils",
	FuncWriteMultipleRegisters:     "WriteMultipleRegisters",
	FuncReportServerID:             "ReportServerID",
	FuncReadFileRecord:             "ReadFileRecord",
	FuncWriteFileRecord:            "WriteFileRecord",
	FuncMaskWriteRegister:          "MaskWriteRegister",
	FuncReadWriteMultipleRegisters: "ReadWriteMultipleRegisters",
	FuncReadFIFOQueue:              "ReadFIFOQueue",
	FuncEncapsulatedInterface:      "EncapsulatedInterface",
}

// Base returns the function code without the exception bit.
func (f FunctionCode) Base() FunctionCode { return f &^ exceptionBit }

// IsException reports whether f carries the exception bit.
func (f FunctionCode) IsException() bool { return f&exceptionBit != 0 }

// Known reports whether f (without the exception bit) is a public function
// code that this package decodes.
func (f FunctionCode) Known() bool {
	b := f.Base()
	return int(b) < len(funcNames) && funcNames[b] != ""
}

// String names the function code, e.g. "ReadHoldingRegisters" or
// "ReadHoldingRegisters+Exception"; unknown codes print as "Func(0x41)".
func (f FunctionCode) String() string {
	name := "Func(0x" + strconv.FormatUint(uint64(f.Base()), 16) + ")"
	if f.Known() {
		name = funcNames[f.Base()]
	}
	if f.IsException() {
		return name + "+Exception"
	}
	return name
}

// ExceptionCode is the single data byte of an exception response.
type ExceptionCode uint8

// Exception codes of the Modbus application protocol.
const (
	ExIllegalFunction        ExceptionCode = 1
	ExIllegalDataAddress     ExceptionCode = 2
	ExIllegalDataValue       ExceptionCode = 3
	ExServerDeviceFailure    ExceptionCode = 4
	ExAcknowledge            ExceptionCode = 5
	ExServerDeviceBusy       ExceptionCode = 6
	ExMemoryParityError      ExceptionCode = 8
	ExGatewayPathUnavailable ExceptionCode = 10
	ExGatewayTargetFailed    ExceptionCode = 11
)

var exceptionNames = [...]string{
	ExIllegalFunction:        "IllegalFunction",
	ExIllegalDataAddress:     "IllegalDataAddress",
	ExIllegalDataValue:       "IllegalDataValue",
	ExServerDeviceFailure:    "ServerDeviceFailure",
	ExAcknowledge:            "Acknowledge",
	ExServerDeviceBusy:       "ServerDeviceBusy",
	ExMemoryParityError:      "MemoryParityError",
	ExGatewayPathUnavailable: "GatewayPathUnavailable",
	ExGatewayTargetFailed:    "GatewayTargetFailed",
}

// String names the exception code; unknown codes print as "Exception(0x0c)".
func (e ExceptionCode) String() string {
	if int(e) < len(exceptionNames) && exceptionNames[e] != "" {
		return exceptionNames[e]
	}
	return "Exception(0x" + strconv.FormatUint(uint64(e), 16) + ")"
}

// ExceptionError is an exception response as a Go error. A Handler returns it
// to make the server answer with an exception; Client.Do returns it when the
// device answered with one.
type ExceptionError struct {
	Function FunctionCode // the request's function code, without the 0x80 bit
	Code     ExceptionCode
}

// Error implements error.
func (e *ExceptionError) Error() string {
	return "modbus: exception " + e.Code.String() + " (" + strconv.Itoa(int(e.Code)) +
		") for " + e.Function.Base().String()
}

// Is lets errors.Is match an ExceptionError by code (and by function when the
// target sets one).
func (e *ExceptionError) Is(target error) bool {
	t, ok := target.(*ExceptionError)
	if !ok {
		return false
	}
	return t.Code == e.Code && (t.Function == 0 || t.Function.Base() == e.Function.Base())
}

// PDU returns the exception response PDU for e.
func (e *ExceptionError) PDU() PDU {
	return PDU{Function: e.Function.Base() | exceptionBit, Data: []byte{byte(e.Code)}}
}

// Exception returns an *ExceptionError for function f and code c.
func Exception(f FunctionCode, c ExceptionCode) *ExceptionError {
	return &ExceptionError{Function: f.Base(), Code: c}
}

// AsException returns the exception code carried by err: an *ExceptionError
// anywhere in its chain, or a *DecodeError from ParseRequest with a non-zero
// Exception. ok is false otherwise.
func AsException(err error) (c ExceptionCode, ok bool) {
	var ee *ExceptionError
	if errors.As(err, &ee) {
		return ee.Code, true
	}
	var de *DecodeError
	if errors.As(err, &de) && de.Exception != 0 {
		return de.Exception, true
	}
	return 0, false
}
