package dnp3

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Flags is the quality octet of binaries, counters and analogs.
type Flags uint8

// Quality flags. Bit 5 and 6 mean different things per point type.
const (
	FlagOnline        Flags = 0x01
	FlagRestart       Flags = 0x02
	FlagCommLost      Flags = 0x04
	FlagRemoteForced  Flags = 0x08
	FlagLocalForced   Flags = 0x10
	FlagChatterFilter Flags = 0x20 // binaries
	FlagRollover      Flags = 0x20 // counters
	FlagOverRange     Flags = 0x20 // analogs
	FlagDiscontinuity Flags = 0x40 // counters
	FlagReferenceErr  Flags = 0x40 // analogs
	FlagState         Flags = 0x80 // binaries: the state itself
)

// Time is a DNP3 absolute time: milliseconds since 1970-01-01 UTC, 48 bits
// on the wire. Relative times (g2v3, g4v3) use it for the 16-bit offset.
type Time uint64

// TimeOf converts a time.Time.
func TimeOf(t time.Time) Time { return Time(t.UnixMilli()) & (1<<48 - 1) }

// Std converts to a time.Time in UTC.
func (t Time) Std() time.Time { return time.UnixMilli(int64(t)).UTC() }

func getTime48(b []byte) Time {
	return Time(binary.LittleEndian.Uint32(b)) | Time(binary.LittleEndian.Uint16(b[4:]))<<32
}

func appendTime48(dst []byte, t Time) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(t))
	return binary.LittleEndian.AppendUint16(dst, uint16(t>>32))
}

// Measurement is the value of a binary, double-bit, counter, analog or
// analog output status object. Binaries hold 0 or 1 in Value (and their
// state in FlagState); counters and analogs hold their number.
type Measurement struct {
	Value   float64
	Flags   Flags
	Time    Time
	HasTime bool
}

// Bool returns a binary's state.
func (m Measurement) Bool() bool { return m.Value != 0 }

// DecodeMeasurement decodes one object of a measurement group (1-4, 10, 11,
// 20-23, 30-33, 40, 42): raw is PointIter.Value and bits PointIter.Bits.
func DecodeMeasurement(g, v uint8, raw []byte, bits uint8) (Measurement, error) {
	size, nbits, ok := ObjectSize(g, v)
	if !ok || v == 0 || len(raw) < size || (nbits > 0 && size != 0) {
		return Measurement{}, decodeErr("object", fmt.Sprintf("g%dv%d", g, v), raw, 0, ErrBadObject)
	}
	if nbits > 0 {
		return Measurement{Value: float64(bits), Flags: FlagOnline | Flags(bits&1)<<7}, nil
	}
	switch g {
	case 1, 2, 3, 4, 10, 11:
		return decodeBinary(g, v, raw)
	case 20, 21, 22, 23:
		return decodeCounter(g, v, raw)
	case 30, 31, 32, 33, 40, 42:
		return decodeAnalog(g, v, raw)
	}
	return Measurement{}, decodeErr("object", fmt.Sprintf("g%dv%d", g, v), raw, 0, ErrBadObject)
}

func decodeBinary(g, v uint8, raw []byte) (Measurement, error) {
	f := Flags(raw[0])
	m := Measurement{Flags: f}
	if g == 3 || g == 4 { // double bit: state in bits 6-7
		m.Value = float64(raw[0] >> 6)
	} else if f&FlagState != 0 {
		m.Value = 1
	}
	switch len(raw) {
	case 7:
		m.Time, m.HasTime = getTime48(raw[1:]), true
	case 3:
		m.Time, m.HasTime = Time(binary.LittleEndian.Uint16(raw[1:])), true
	}
	return m, nil
}

// counterLayout describes a counter variation: width, flags, time.
func counterLayout(g, v uint8) (width int, flags, withTime bool) {
	switch v {
	case 1, 3:
		return 4, true, false
	case 2, 4:
		return 2, true, false
	case 5, 7:
		if g == 20 {
			return 4, false, false
		}
		return 4, true, true
	case 6, 8:
		if g == 20 {
			return 2, false, false
		}
		return 2, true, true
	case 9, 11:
		return 4, false, false
	}
	return 2, false, false // 10, 12
}

func decodeCounter(g, v uint8, raw []byte) (Measurement, error) {
	w, fl, tm := counterLayout(g, v)
	var m Measurement
	if fl {
		m.Flags, raw = Flags(raw[0]), raw[1:]
	} else {
		m.Flags = FlagOnline
	}
	m.Value = float64(readUint(raw, w))
	if tm {
		m.Time, m.HasTime = getTime48(raw[w:]), true
	}
	return m, nil
}

// analogLayout describes an analog variation: 'i' int32, 's' int16,
// 'f' float32, 'd' float64; flags; time.
func analogLayout(g, v uint8) (kind byte, flags, withTime bool) {
	switch g {
	case 30:
		return "xisisfd"[v], v != 3 && v != 4, false
	case 31:
		return "xisisisfd"[v], v < 5 || v > 6, v == 3 || v == 4
	case 40:
		return "xisfd"[v], true, false
	}
	// 32, 33, 42 events
	return "xisisfdfd"[v], true, v == 3 || v == 4 || v == 7 || v == 8
}

func decodeAnalog(g, v uint8, raw []byte) (Measurement, error) {
	kind, fl, tm := analogLayout(g, v)
	var m Measurement
	if fl {
		m.Flags, raw = Flags(raw[0]), raw[1:]
	} else {
		m.Flags = FlagOnline
	}
	var n int
	m.Value, n = getNumber(raw, kind)
	if tm {
		m.Time, m.HasTime = getTime48(raw[n:]), true
	}
	return m, nil
}

// getNumber reads a number of the given kind and returns it and its width.
func getNumber(b []byte, kind byte) (float64, int) {
	switch kind {
	case 'i':
		return float64(int32(binary.LittleEndian.Uint32(b))), 4
	case 's':
		return float64(int16(binary.LittleEndian.Uint16(b))), 2
	case 'f':
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), 4
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b)), 8
}

// appendNumber writes v as kind, clamping integers; over reports clamping.
func appendNumber(dst []byte, kind byte, v float64) (out []byte, over bool) {
	switch kind {
	case 'i':
		c := math.Max(math.MinInt32, math.Min(math.MaxInt32, math.Round(v)))
		return binary.LittleEndian.AppendUint32(dst, uint32(int32(c))), c != math.Round(v)
	case 's':
		c := math.Max(math.MinInt16, math.Min(math.MaxInt16, math.Round(v)))
		return binary.LittleEndian.AppendUint16(dst, uint16(int16(c))), c != math.Round(v)
	case 'f':
		return binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(v))), false
	}
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v)), false
}

// AppendMeasurement appends one object of group g, variation v holding m.
// Packed variations (g1v1, g10v1) cannot be appended one by one: use
// AppendPacked. Integers that do not fit are clamped and flagged over-range.
func AppendMeasurement(dst []byte, g, v uint8, m Measurement) ([]byte, error) {
	size, bits, ok := ObjectSize(g, v)
	if !ok || v == 0 || bits > 0 {
		return dst, fmt.Errorf("dnp3: cannot encode g%dv%d as a measurement: %w", g, v, ErrBadObject)
	}
	switch g {
	case 1, 2, 3, 4, 10, 11:
		f := m.Flags &^ FlagState
		if m.Value != 0 {
			f |= FlagState
		}
		if g == 3 || g == 4 {
			f = m.Flags&0x3F | Flags(uint8(m.Value)&3)<<6
		}
		dst = append(dst, byte(f))
		switch size {
		case 7:
			dst = appendTime48(dst, m.Time)
		case 3:
			dst = binary.LittleEndian.AppendUint16(dst, uint16(m.Time))
		}
		return dst, nil
	case 20, 21, 22, 23:
		w, fl, tm := counterLayout(g, v)
		if fl {
			dst = append(dst, byte(m.Flags))
		}
		u := uint32(max(0, math.Min(m.Value, math.MaxUint32)))
		if w == 2 {
			dst = binary.LittleEndian.AppendUint16(dst, uint16(u))
		} else {
			dst = binary.LittleEndian.AppendUint32(dst, u)
		}
		if tm {
			dst = appendTime48(dst, m.Time)
		}
		return dst, nil
	case 30, 31, 32, 33, 40, 42:
		kind, fl, tm := analogLayout(g, v)
		at := len(dst)
		if fl {
			dst = append(dst, byte(m.Flags))
		}
		dst, over := appendNumber(dst, kind, m.Value)
		if over && fl {
			dst[at] |= byte(FlagOverRange)
		}
		if tm {
			dst = appendTime48(dst, m.Time)
		}
		return dst, nil
	}
	return dst, fmt.Errorf("dnp3: cannot encode g%dv%d as a measurement: %w", g, v, ErrBadObject)
}

// AppendPacked appends bit values packed width bits each (1 for g1v1, g10v1,
// g80v1; 2 for g3v1), first value in the lowest bits.
func AppendPacked(dst []byte, width int, values []uint8) []byte {
	n := (len(values)*width + 7) / 8
	at := len(dst)
	for range n {
		dst = append(dst, 0)
	}
	for i, v := range values {
		bit := i * width
		dst[at+bit/8] |= (v & (1<<width - 1)) << (bit % 8)
	}
	return dst
}

// OpType is the operation in a CROB control code (bits 0-3).
type OpType uint8

// CROB operation types.
const (
	OpNul      OpType = 0
	OpPulseOn  OpType = 1
	OpPulseOff OpType = 2
	OpLatchOn  OpType = 3
	OpLatchOff OpType = 4
)

// TripClose is the trip-close code of a CROB (bits 6-7).
type TripClose uint8

// Trip-close codes.
const (
	TCCNul   TripClose = 0
	TCCClose TripClose = 1
	TCCTrip  TripClose = 2
)

// ControlCode is the CROB control code octet.
type ControlCode uint8

// NewControlCode builds a control code.
func NewControlCode(op OpType, tcc TripClose, clear bool) ControlCode {
	c := ControlCode(op&0x0F) | ControlCode(tcc&3)<<6
	if clear {
		c |= 0x20
	}
	return c
}

// Op returns the operation type.
func (c ControlCode) Op() OpType { return OpType(c & 0x0F) }

// TCC returns the trip-close code.
func (c ControlCode) TCC() TripClose { return TripClose(c >> 6) }

// Clear reports the clear bit.
func (c ControlCode) Clear() bool { return c&0x20 != 0 }

// Queue reports the (obsolete) queue bit.
func (c ControlCode) Queue() bool { return c&0x10 != 0 }

// CommandStatus is the status octet of controls (CROB, analog output block).
type CommandStatus uint8

// Command status codes (low 7 bits).
const (
	StatusSuccess           CommandStatus = 0
	StatusTimeout           CommandStatus = 1
	StatusNoSelect          CommandStatus = 2
	StatusFormatError       CommandStatus = 3
	StatusNotSupported      CommandStatus = 4
	StatusAlreadyActive     CommandStatus = 5
	StatusHardwareError     CommandStatus = 6
	StatusLocal             CommandStatus = 7
	StatusTooManyOps        CommandStatus = 8
	StatusNotAuthorized     CommandStatus = 9
	StatusAutomationInhibit CommandStatus = 10
	StatusProcessingLimited CommandStatus = 11
	StatusOutOfRange        CommandStatus = 12
	StatusNonParticipating  CommandStatus = 126
	StatusUndefined         CommandStatus = 127
)

var statusNames = map[CommandStatus]string{
	0: "SUCCESS", 1: "TIMEOUT", 2: "NO_SELECT", 3: "FORMAT_ERROR", 4: "NOT_SUPPORTED",
	5: "ALREADY_ACTIVE", 6: "HARDWARE_ERROR", 7: "LOCAL", 8: "TOO_MANY_OPS", 9: "NOT_AUTHORIZED",
	10: "AUTOMATION_INHIBIT", 11: "PROCESSING_LIMITED", 12: "OUT_OF_RANGE",
	126: "NON_PARTICIPATING", 127: "UNDEFINED",
}

// String names the status.
func (s CommandStatus) String() string {
	if n, ok := statusNames[s&0x7F]; ok {
		return n
	}
	return fmt.Sprintf("STATUS(%d)", uint8(s))
}

// CROB is a control relay output block (g12v1).
type CROB struct {
	Code    ControlCode
	Count   uint8
	OnTime  uint32 // milliseconds
	OffTime uint32 // milliseconds
	Status  CommandStatus
}

// CROBSize is the size of a g12v1 object.
const CROBSize = 11

// DecodeCROB decodes a g12v1 (or g12v2) object.
func DecodeCROB(raw []byte) (CROB, error) {
	if len(raw) < CROBSize {
		return CROB{}, decodeErr("object", "g12v1", raw, 0, ErrTruncated)
	}
	return CROB{
		Code:    ControlCode(raw[0]),
		Count:   raw[1],
		OnTime:  binary.LittleEndian.Uint32(raw[2:]),
		OffTime: binary.LittleEndian.Uint32(raw[6:]),
		Status:  CommandStatus(raw[10]),
	}, nil
}

// AppendCROB appends a g12v1 object.
func AppendCROB(dst []byte, c CROB) []byte {
	dst = append(dst, byte(c.Code), c.Count)
	dst = binary.LittleEndian.AppendUint32(dst, c.OnTime)
	dst = binary.LittleEndian.AppendUint32(dst, c.OffTime)
	return append(dst, byte(c.Status))
}

// AnalogOutput is an analog output block (g41): a setpoint and a status.
type AnalogOutput struct {
	Value  float64
	Status CommandStatus
}

// analogOutputKind maps g41 variations to number kinds.
const analogOutputKind = "xisfd"

// DecodeAnalogOutput decodes a g41 object of variation v.
func DecodeAnalogOutput(v uint8, raw []byte) (AnalogOutput, error) {
	size, _, ok := ObjectSize(41, v)
	if !ok || v == 0 || len(raw) < size {
		return AnalogOutput{}, decodeErr("object", fmt.Sprintf("g41v%d", v), raw, 0, ErrBadObject)
	}
	val, n := getNumber(raw, analogOutputKind[v])
	return AnalogOutput{Value: val, Status: CommandStatus(raw[n])}, nil
}

// AppendAnalogOutput appends a g41 object of variation v (1 int32, 2 int16,
// 3 float32, 4 float64).
func AppendAnalogOutput(dst []byte, v uint8, a AnalogOutput) ([]byte, error) {
	if v < 1 || v > 4 {
		return dst, fmt.Errorf("dnp3: g41v%d: %w", v, ErrBadObject)
	}
	dst, _ = appendNumber(dst, analogOutputKind[v], a.Value)
	return append(dst, byte(a.Status)), nil
}

// DecodeTime decodes the 48-bit time that starts g50v1, g50v3 and g51.
func DecodeTime(raw []byte) (Time, error) {
	if len(raw) < 6 {
		return 0, decodeErr("object", "time", raw, 0, ErrTruncated)
	}
	return getTime48(raw), nil
}

// AppendTime appends a 48-bit time (g50v1, g50v3, g51).
func AppendTime(dst []byte, t Time) []byte { return appendTime48(dst, t) }

// DecodeDelay decodes a g52 object: the delay in seconds (v1) or ms (v2).
func DecodeDelay(v uint8, raw []byte) (time.Duration, error) {
	if len(raw) < 2 || (v != 1 && v != 2) {
		return 0, decodeErr("object", fmt.Sprintf("g52v%d", v), raw, 0, ErrBadObject)
	}
	d := time.Duration(binary.LittleEndian.Uint16(raw))
	if v == 1 {
		return d * time.Second, nil
	}
	return d * time.Millisecond, nil
}

// AppendDelay appends a g52 object of variation v (1 seconds, 2 ms), the
// value clamped to 16 bits.
func AppendDelay(dst []byte, v uint8, d time.Duration) []byte {
	unit := time.Millisecond
	if v == 1 {
		unit = time.Second
	}
	n := min(int64((d+unit-1)/unit), math.MaxUint16)
	return binary.LittleEndian.AppendUint16(dst, uint16(max(n, 0)))
}
