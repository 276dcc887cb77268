package analyze

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Protocol is the industrial protocol a record belongs to.
type Protocol uint8

// Protocols.
const (
	ProtoUnknown Protocol = iota
	ProtoModbus
	ProtoDNP3
)

// String returns "modbus", "dnp3" or "unknown".
func (p Protocol) String() string {
	switch p {
	case ProtoModbus:
		return "modbus"
	case ProtoDNP3:
		return "dnp3"
	}
	return "unknown"
}

// Transport is the transport protocol of a flow.
type Transport uint8

// Transports.
const (
	TCP Transport = iota
	UDP
)

// String returns "tcp" or "udp".
func (t Transport) String() string {
	if t == UDP {
		return "udp"
	}
	return "tcp"
}

// Direction says who sent a message: the client (Modbus client, DNP3
// master) sends requests, the server (Modbus server, DNP3 outstation) sends
// responses, including DNP3 unsolicited responses.
type Direction uint8

// Directions.
const (
	Request Direction = iota
	Response
)

// String returns "request" or "response".
func (d Direction) String() string {
	if d == Response {
		return "response"
	}
	return "request"
}

// Flow names the sender and receiver of one record.
type Flow struct {
	Src, Dst  netip.AddrPort
	Transport Transport
}

// ID returns the flow id used in alert evidence, e.g.
// "tcp:10.0.0.1:1234-10.0.0.2:502". It allocates; call it only when needed.
func (f Flow) ID() string {
	return f.Transport.String() + ":" + f.Src.String() + "-" + f.Dst.String()
}

// Anomaly is a set of protocol anomalies seen in one message (or in bytes
// that could not be framed into one).
type Anomaly uint16

// Anomalies.
const (
	// AnomBadCRC: a DNP3 link header or data block CRC is wrong.
	AnomBadCRC Anomaly = 1 << iota
	// AnomInvalidLength: a length, count or quantity field disagrees with
	// the data or the specification (Modbus PDU, DNP3 link length, DNP3
	// object data).
	AnomInvalidLength
	// AnomIncorrectLength: the Modbus MBAP length disagrees with the TCP
	// segment: bytes are left over after the ADU (Quickdraw "incorrect
	// packet length").
	AnomIncorrectLength
	// AnomIllegalSize: a Modbus MBAP length beyond the largest ADU
	// (Quickdraw "illegal packet size").
	AnomIllegalSize
	// AnomUnknownFunction: a function code the standard does not define.
	AnomUnknownFunction
	// AnomTooManyObjects: more DNP3 object headers than Config.MaxObjects,
	// or object data that could not be walked.
	AnomTooManyObjects
	// AnomReassemblyOverflow: a DNP3 fragment beyond the reassembly bound,
	// or a stream buffer that overflowed.
	AnomReassemblyOverflow
	// AnomTransport: a DNP3 transport segment out of sequence or without a
	// first segment.
	AnomTransport
	// AnomNonProtocol: bytes on a Modbus or DNP3 port that are not that
	// protocol (Quickdraw "non-Modbus communication on TCP port 502",
	// "non-DNP3 communication on a DNP3 port").
	AnomNonProtocol
	// AnomUnmatched: a response with no pending request.
	AnomUnmatched
	// AnomMismatch: a response that does not answer its request (function,
	// echo or byte count differ).
	AnomMismatch
	// AnomRefused: a TCP connection attempt (a SYN) that the server
	// refused with a RST or never answered. The sensor reports it as a
	// record of its own, for the scan rules only.
	AnomRefused
)

var anomalyNames = [...]string{
	"bad_crc", "invalid_length", "incorrect_length", "illegal_size", "unknown_function",
	"too_many_objects", "reassembly_overflow", "transport", "non_protocol", "unmatched", "mismatch", "refused",
}

// Has reports whether a includes all of b.
func (a Anomaly) Has(b Anomaly) bool { return a&b == b && b != 0 }

// String lists the anomalies, e.g. "bad_crc|unknown_function".
func (a Anomaly) String() string {
	var parts []string
	for i, n := range anomalyNames {
		if a&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, "|")
}

// Bounds of the fixed-size lists in a Record.
const (
	MaxValues        = 32 // Modbus register or coil values kept per record
	MaxDeviceObjects = 16 // FC 43/14 device identification objects
	MaxObjects       = 16 // DNP3 object headers kept per record
	MaxIndexes       = 8  // DNP3 point indexes kept per object header
)

// Record is one decoded message, or an anomaly in bytes that could not be
// decoded into one. It is reused between callbacks: copy what you keep.
type Record struct {
	Time     time.Time
	Frame    uint64 // capture frame number of the packet that completed the message (1-based)
	Flow     Flow
	Protocol Protocol
	Dir      Direction
	// Valid is false for anomaly-only records (garbage, bad CRC, transport
	// errors): then only Time, Frame, Flow, Protocol, Dir, Anomalies, Detail
	// and Dropped are meaningful.
	Valid     bool
	Anomalies Anomaly
	// Detail says what was wrong, for anomalies (the decoder's error text).
	Detail string
	// Dropped counts the bytes discarded for an anomaly-only record.
	Dropped int
	// Len is the message length on the wire: the ADU, or the DNP3 fragment.
	Len int

	// Matched is set on a response paired with its request; ReqFrame is the
	// request's frame number and Latency the time between them.
	Matched  bool
	ReqFrame uint64
	Latency  time.Duration

	Modbus ModbusFields
	DNP3   DNP3Fields
}

// ModbusFields are the Modbus part of a record.
type ModbusFields struct {
	TransactionID uint16
	UnitID        uint8
	// Function is the function code as sent: with the 0x80 bit on an
	// exception response.
	Function uint8
	// Exception is the exception code of an exception response, else 0.
	Exception uint8
	// SubFunction is the FC 8 sub-function; HasSubFunction says it is set.
	SubFunction    uint16
	HasSubFunction bool
	// Address and Quantity: the start address and quantity of FC 1-4, 15,
	// 16, 23 (read part); the address of FC 5, 6, 22 (quantity 1); on a
	// matched response, copied from the request when the response itself
	// has none (reads).
	Address, Quantity uint16
	// WriteAddress and WriteQuantity are the write part of FC 23.
	WriteAddress, WriteQuantity uint16
	// Values are the registers written (FC 6, 16, 23) or read (responses
	// to FC 3, 4, 23), or coil states (FC 5, 15 and responses to FC 1, 2:
	// 0 or 1), at most MaxValues; ValuesTruncated says more were sent.
	Values          [MaxValues]uint16
	NValues         int
	ValuesTruncated bool
	// MEIType is the FC 43 MEI type; ReadDeviceIDCode and ObjectID its
	// Read Device Identification fields.
	MEIType, ReadDeviceIDCode, ObjectID uint8
	// DeviceID holds the objects of a FC 43/14 response (values alias the
	// analyzer's buffer: copy them).
	DeviceID          [MaxDeviceObjects]DeviceObject
	NDeviceID         int
	DeviceIDTruncated bool
}

// Func returns the function code without the exception bit.
func (m *ModbusFields) Func() uint8 { return m.Function &^ 0x80 }

// IsException reports an exception response.
func (m *ModbusFields) IsException() bool { return m.Function&0x80 != 0 }

// ValueList returns the kept values.
func (m *ModbusFields) ValueList() []uint16 { return m.Values[:m.NValues] }

// DeviceObject is one Read Device Identification object.
type DeviceObject struct {
	ID    uint8
	Value []byte
}

// DNP3Fields are the DNP3 part of a record.
type DNP3Fields struct {
	// LinkSrc and LinkDst are the link-layer addresses; LinkControl the
	// control octet of the (last) link frame (DIR, PRM, function).
	LinkSrc, LinkDst uint16
	LinkControl      uint8
	// HasApp is false for a link-only record (no user data).
	HasApp bool
	// AppControl is the application control octet (FIR, FIN, CON, UNS,
	// sequence); AppFunction the application function code.
	AppControl  uint8
	AppFunction uint8
	// IIN is set on responses (IIN1 high octet, IIN2 low, as Wireshark).
	IIN uint16
	// Objects are the object headers, at most MaxObjects; NObjectHeaders
	// counts all headers decoded, ObjectsTruncated says some were not kept.
	Objects          [MaxObjects]DNP3Object
	NObjects         int
	NObjectHeaders   int
	ObjectsTruncated bool
}

// LinkFunc returns the link function code.
func (d *DNP3Fields) LinkFunc() uint8 { return d.LinkControl & 0x0F }

// LinkDIR reports the DIR bit (frame from the master).
func (d *DNP3Fields) LinkDIR() bool { return d.LinkControl&0x80 != 0 }

// LinkPRM reports the PRM bit (frame from the primary station).
func (d *DNP3Fields) LinkPRM() bool { return d.LinkControl&0x40 != 0 }

// FIR reports the application FIR bit.
func (d *DNP3Fields) FIR() bool { return d.AppControl&0x80 != 0 }

// FIN reports the application FIN bit.
func (d *DNP3Fields) FIN() bool { return d.AppControl&0x40 != 0 }

// CON reports the application CON bit.
func (d *DNP3Fields) CON() bool { return d.AppControl&0x20 != 0 }

// UNS reports the application UNS bit.
func (d *DNP3Fields) UNS() bool { return d.AppControl&0x10 != 0 }

// Seq returns the application sequence number.
func (d *DNP3Fields) Seq() uint8 { return d.AppControl & 0x0F }

// ObjectList returns the kept object headers.
func (d *DNP3Fields) ObjectList() []DNP3Object { return d.Objects[:d.NObjects] }

// IsBroadcast reports a link destination of 0xFFFD-0xFFFF.
func (d *DNP3Fields) IsBroadcast() bool { return d.LinkDst >= 0xFFFD }

// DNP3Object is one object header: group, variation, qualifier, the range
// (Start/Stop for start-stop qualifiers) or Count, and the first point
// indexes when the objects carry index prefixes or a range.
type DNP3Object struct {
	Group, Variation, Qualifier uint8
	Start, Stop, Count          uint32
	// HasData says objects follow the header (not a READ range).
	HasData bool
	// Indexes: the index prefixes, or Start+i for ranges with data; for a
	// READ range without data, Start..Stop. None for count-only objects.
	Indexes          [MaxIndexes]uint32
	NIndexes         uint8
	IndexesTruncated bool
}

// IndexList returns the kept point indexes.
func (o *DNP3Object) IndexList() []uint32 { return o.Indexes[:o.NIndexes] }

// String formats the header like "g50v1 q=0x07 count=1".
func (o DNP3Object) String() string {
	s := "g" + strconv.Itoa(int(o.Group)) + "v" + strconv.Itoa(int(o.Variation)) +
		" q=0x" + strconv.FormatUint(uint64(o.Qualifier)|0x100, 16)[1:]
	rc := o.Qualifier & 0x0F
	switch {
	case rc == 6:
		return s + " all"
	case rc <= 5:
		return s + " [" + strconv.FormatUint(uint64(o.Start), 10) + ".." + strconv.FormatUint(uint64(o.Stop), 10) + "]"
	}
	return s + " count=" + strconv.FormatUint(uint64(o.Count), 10)
}
