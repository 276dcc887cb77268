package dnp3

import (
	"fmt"
	"strings"
)

// FunctionCode is the application function code.
type FunctionCode uint8

// Application function codes (IEEE 1815-2012 table 4-1).
const (
	FuncConfirm            FunctionCode = 0
	FuncRead               FunctionCode = 1
	FuncWrite              FunctionCode = 2
	FuncSelect             FunctionCode = 3
	FuncOperate            FunctionCode = 4
	FuncDirectOperate      FunctionCode = 5
	FuncDirectOperateNR    FunctionCode = 6
	FuncImmedFreeze        FunctionCode = 7
	FuncImmedFreezeNR      FunctionCode = 8
	FuncFreezeClear        FunctionCode = 9
	FuncFreezeClearNR      FunctionCode = 10
	FuncFreezeAtTime       FunctionCode = 11
	FuncFreezeAtTimeNR     FunctionCode = 12
	FuncColdRestart        FunctionCode = 13
	FuncWarmRestart        FunctionCode = 14
	FuncInitializeData     FunctionCode = 15
	FuncInitializeAppl     FunctionCode = 16
	FuncStartAppl          FunctionCode = 17
	FuncStopAppl           FunctionCode = 18
	FuncSaveConfig         FunctionCode = 19
	FuncEnableUnsolicited  FunctionCode = 20
	FuncDisableUnsolicited FunctionCode = 21
	FuncAssignClass        FunctionCode = 22
	FuncDelayMeasure       FunctionCode = 23
	FuncRecordCurrentTime  FunctionCode = 24
	FuncOpenFile           FunctionCode = 25
	FuncCloseFile          FunctionCode = 26
	FuncDeleteFile         FunctionCode = 27
	FuncGetFileInfo        FunctionCode = 28
	FuncAuthenticateFile   FunctionCode = 29
	FuncAbortFile          FunctionCode = 30
	FuncActivateConfig     FunctionCode = 31
	FuncAuthRequest        FunctionCode = 32
	FuncAuthRequestNoAck   FunctionCode = 33
	FuncResponse           FunctionCode = 129
	FuncUnsolicited        FunctionCode = 130
	FuncAuthResponse       FunctionCode = 131
)

var funcNames = map[FunctionCode]string{
	0: "CONFIRM", 1: "READ", 2: "WRITE", 3: "SELECT", 4: "OPERATE", 5: "DIRECT_OPERATE",
	6: "DIRECT_OPERATE_NR", 7: "IMMED_FREEZE", 8: "IMMED_FREEZE_NR", 9: "FREEZE_CLEAR",
	10: "FREEZE_CLEAR_NR", 11: "FREEZE_AT_TIME", 12: "FREEZE_AT_TIME_NR", 13: "COLD_RESTART",
	14: "WARM_RESTART", 15: "INITIALIZE_DATA", 16: "INITIALIZE_APPL", 17: "START_APPL",
	18: "STOP_APPL", 19: "SAVE_CONFIG", 20: "ENABLE_UNSOLICITED", 21: "DISABLE_UNSOLICITED",
	22: "ASSIGN_CLASS", 23: "DELAY_MEASURE", 24: "RECORD_CURRENT_TIME", 25: "OPEN_FILE",
	26: "CLOSE_FILE", 27: "DELETE_FILE", 28: "GET_FILE_INFO", 29: "AUTHENTICATE_FILE",
	30: "ABORT_FILE", 31: "ACTIVATE_CONFIG", 32: "AUTHENTICATE_REQ", 33: "AUTH_REQ_NO_ACK",
	129: "RESPONSE", 130: "UNSOLICITED_RESPONSE", 131: "AUTHENTICATE_RESP",
}

// String returns the function's name, or UNKNOWN(n) for an undefined code.
func (f FunctionCode) String() string {
	if s, ok := funcNames[f]; ok {
		return s
	}
	return fmt.Sprintf("UNKNOWN(%d)", uint8(f))
}

// Known reports whether the code is defined by the standard.
func (f FunctionCode) Known() bool { _, ok := funcNames[f]; return ok }

// IsResponse reports whether the code is a response (its header carries IIN).
func (f FunctionCode) IsResponse() bool { return f >= FuncResponse && f <= FuncAuthResponse }

// HeadersOnly reports whether object headers in a request with this code
// are followed by no object data (READ, freezes, class assignments, enabling
// unsolicited responses).
func (f FunctionCode) HeadersOnly() bool {
	switch f {
	case FuncRead, FuncImmedFreeze, FuncImmedFreezeNR, FuncFreezeClear, FuncFreezeClearNR,
		FuncEnableUnsolicited, FuncDisableUnsolicited, FuncAssignClass:
		return true
	}
	return false
}

// AppControl is the application control octet: FIR, FIN, CON, UNS, SEQ.
type AppControl uint8

// Application control bits.
const (
	AppFIR AppControl = 0x80
	AppFIN AppControl = 0x40
	AppCON AppControl = 0x20
	AppUNS AppControl = 0x10
)

// NewAppControl builds an application control octet.
func NewAppControl(fir, fin, con, uns bool, seq uint8) AppControl {
	c := AppControl(seq & 0x0F)
	for _, b := range []struct {
		on  bool
		bit AppControl
	}{{fir, AppFIR}, {fin, AppFIN}, {con, AppCON}, {uns, AppUNS}} {
		if b.on {
			c |= b.bit
		}
	}
	return c
}

// FIR reports the first-fragment bit.
func (c AppControl) FIR() bool { return c&AppFIR != 0 }

// FIN reports the final-fragment bit.
func (c AppControl) FIN() bool { return c&AppFIN != 0 }

// CON reports whether a confirmation is requested.
func (c AppControl) CON() bool { return c&AppCON != 0 }

// UNS reports the unsolicited bit.
func (c AppControl) UNS() bool { return c&AppUNS != 0 }

// Seq returns the 4-bit sequence number.
func (c AppControl) Seq() uint8 { return uint8(c & 0x0F) }

// String formats the octet like "FIR|FIN|CON seq=2".
func (c AppControl) String() string {
	var b strings.Builder
	for _, x := range []struct {
		bit  AppControl
		name string
	}{{AppFIR, "FIR|"}, {AppFIN, "FIN|"}, {AppCON, "CON|"}, {AppUNS, "UNS|"}} {
		if c&x.bit != 0 {
			b.WriteString(x.name)
		}
	}
	fmt.Fprintf(&b, "seq=%d", c.Seq())
	return b.String()
}

// IIN holds the internal indications: IIN1 in the high octet and IIN2 in
// the low one, the order Wireshark shows (dnp3.al.iin). On the wire IIN1
// comes first.
type IIN uint16

// IIN bits.
const (
	IINBroadcast           IIN = 0x0100 // IIN1.0 broadcast received
	IINClass1Events        IIN = 0x0200 // IIN1.1
	IINClass2Events        IIN = 0x0400 // IIN1.2
	IINClass3Events        IIN = 0x0800 // IIN1.3
	IINNeedTime            IIN = 0x1000 // IIN1.4 time synchronisation required
	IINLocalControl        IIN = 0x2000 // IIN1.5 some outputs in local mode
	IINDeviceTrouble       IIN = 0x4000 // IIN1.6
	IINDeviceRestart       IIN = 0x8000 // IIN1.7
	IINNoFuncCodeSupport   IIN = 0x0001 // IIN2.0 function code not implemented
	IINObjectUnknown       IIN = 0x0002 // IIN2.1
	IINParameterError      IIN = 0x0004 // IIN2.2
	IINEventBufferOverflow IIN = 0x0008 // IIN2.3
	IINAlreadyExecuting    IIN = 0x0010 // IIN2.4
	IINConfigCorrupt       IIN = 0x0020 // IIN2.5
	IINReserved2           IIN = 0x0040 // IIN2.6
	IINReserved1           IIN = 0x0080 // IIN2.7
)

var iinNames = [16]string{
	"NO_FUNC_CODE_SUPPORT", "OBJECT_UNKNOWN", "PARAMETER_ERROR", "EVENT_BUFFER_OVERFLOW",
	"ALREADY_EXECUTING", "CONFIG_CORRUPT", "RESERVED_2", "RESERVED_1",
	"BROADCAST", "CLASS_1_EVENTS", "CLASS_2_EVENTS", "CLASS_3_EVENTS",
	"NEED_TIME", "LOCAL_CONTROL", "DEVICE_TROUBLE", "DEVICE_RESTART",
}

// String lists the set bits, e.g. "DEVICE_RESTART|NEED_TIME".
func (i IIN) String() string {
	var parts []string
	for b := 15; b >= 0; b-- {
		if i&(1<<b) != 0 {
			parts = append(parts, iinNames[b])
		}
	}
	return strings.Join(parts, "|")
}

// IIN1 returns the first octet on the wire.
func (i IIN) IIN1() uint8 { return uint8(i >> 8) }

// IIN2 returns the second octet on the wire.
func (i IIN) IIN2() uint8 { return uint8(i) }

// Fragment is a decoded application fragment header; Objects aliases the
// input.
type Fragment struct {
	Control  AppControl
	Function FunctionCode
	IIN      IIN // valid when Function.IsResponse()
	Objects  []byte
	hdrLen   int
}

// ParseFragment decodes an application fragment's header. Unknown function
// codes are decoded, not refused: check Function.Known().
func ParseFragment(b []byte) (Fragment, error) {
	if len(b) < 2 {
		return Fragment{}, decodeErr("application", "header", b, 0, ErrTruncated)
	}
	f := Fragment{Control: AppControl(b[0]), Function: FunctionCode(b[1]), hdrLen: 2}
	if f.Function.IsResponse() {
		if len(b) < 4 {
			return Fragment{}, decodeErr("application", "IIN", b, 2, ErrTruncated)
		}
		f.IIN = IIN(b[2])<<8 | IIN(b[3])
		f.hdrLen = 4
	}
	f.Objects = b[f.hdrLen:]
	return f, nil
}

// Iter returns an iterator over the fragment's object headers.
func (f *Fragment) Iter() ObjectIter {
	return NewObjectIter(f.Objects, f.Function, f.hdrLen)
}

// AppendRequestHeader appends a request header (control, function).
func AppendRequestHeader(dst []byte, c AppControl, fc FunctionCode) []byte {
	return append(dst, byte(c), byte(fc))
}

// AppendResponseHeader appends a response header (control, function, IIN).
func AppendResponseHeader(dst []byte, c AppControl, fc FunctionCode, iin IIN) []byte {
	return append(dst, byte(c), byte(fc), iin.IIN1(), iin.IIN2())
}
