package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// Identity holds the objects of Read Device Identification (FC 43 / MEI 14).
type Identity struct {
	// Basic objects 0x00-0x02, mandatory (sent even when empty).
	VendorName, ProductCode, MajorMinorRevision string
	// Regular objects 0x03-0x06, optional (sent when not empty).
	VendorURL, ProductName, ModelName, UserApplicationName string
	// Extended holds private objects 0x80-0xFF.
	Extended map[uint8]string
}

// DeviceConfig configures a Device.
type DeviceConfig struct {
	// Data serves the data access functions 1-6, 15, 16 and 20-24,
	// typically a *Bank; nil answers them with ExIllegalFunction.
	Data Handler
	// Identity is reported by FC 43 / MEI 14.
	Identity Identity
	// ServerID is the device-specific data of Report Server ID (FC 17),
	// at most 250 bytes; the run indicator (0xFF) follows it.
	ServerID []byte
	// ExceptionStatus returns the eight exception status outputs of FC 7;
	// nil reports 0.
	ExceptionStatus func() uint8
}

// DiagCounters are the diagnostic counters of FC 8 sub-functions 0x0B-0x12.
// On TCP there are no CRC errors or character overruns: BusCommErrors and
// BusCharOverruns stay 0.
type DiagCounters struct {
	BusMessages, BusCommErrors, BusExceptions, ServerMessages  uint16
	ServerNoResponses, ServerNAKs, ServerBusy, BusCharOverruns uint16
}

// Communication event log bytes (FC 12).
const (
	eventReceive          = 0x80
	eventReceiveListen    = 0x20
	eventReceiveBroadcast = 0x40
	eventSend             = 0x40
	eventSendReadEx       = 0x01 // exception codes 1-3
	eventSendAbortEx      = 0x02 // exception code 4
	eventSendBusyEx       = 0x04 // exception codes 5-6
	eventSendListen       = 0x20
	eventEnterListenOnly  = 0x04
	eventCommRestart      = 0x00
	maxServerIDLen        = MaxPDULen - 3 // function, byte count, run indicator
	maxDevIDObjectsLen    = MaxPDULen - 7 // function, MEI header
	conformityIndividual  = 0x80
	restartClearLog       = 0xFF00
	firstExtendedObjectID = 0x80
	firstRegularObjectID  = 0x03
	lastRegularObjectID   = 0x06
)

// Device is a Modbus device: it answers the device-wide functions itself
// (7, 8 with its counters and listen-only mode, 11, 12, 17, 43/14) and hands
// the data access functions to its data Handler. In listen-only mode (FC 8
// sub-function 4) it answers nothing and executes nothing until Restart
// Communications (FC 8 sub-function 1).
type Device struct {
	data       Handler
	objects    [256][]byte // nil: object absent
	conformity uint8
	serverID   []byte
	excStatus  func() uint8

	mu           sync.Mutex
	listenOnly   bool
	diagRegister uint16
	asciiDelim   byte
	counters     DiagCounters
	eventCount   uint16
	events       []byte // most recent first, at most maxEventLogBytes
	restart      restartKind
}

// restartKind is a Restart Communications waiting for its response to go.
type restartKind uint8

const (
	noRestart restartKind = iota
	restartKeepLog
	restartClearEventLog
)

var _ Handler = (*Device)(nil)

// NewDevice validates cfg and returns a Device.
func NewDevice(cfg DeviceConfig) (*Device, error) {
	if len(cfg.ServerID) > maxServerIDLen {
		return nil, fmt.Errorf("modbus: ServerID of %d bytes, at most %d", len(cfg.ServerID), maxServerIDLen)
	}
	d := &Device{data: cfg.Data, serverID: cfg.ServerID, excStatus: cfg.ExceptionStatus, asciiDelim: '\n'}
	if err := d.setIdentity(cfg.Identity); err != nil {
		return nil, err
	}
	return d, nil
}

// setIdentity fills the object table and the conformity level.
func (d *Device) setIdentity(id Identity) error {
	d.conformity = conformityIndividual | DevIDBasic
	for i, v := range []string{id.VendorName, id.ProductCode, id.MajorMinorRevision} {
		d.objects[i] = []byte(v)
	}
	for i, v := range []string{id.VendorURL, id.ProductName, id.ModelName, id.UserApplicationName} {
		if v != "" {
			d.objects[firstRegularObjectID+i] = []byte(v)
			d.conformity = conformityIndividual | DevIDRegular
		}
	}
	for oid, v := range id.Extended {
		if oid < firstExtendedObjectID {
			return fmt.Errorf("modbus: extended identification object 0x%02x below 0x80", oid)
		}
		d.objects[oid] = []byte(v)
		d.conformity = conformityIndividual | DevIDExtended
	}
	for i, v := range d.objects {
		if len(v) > maxDevIDObjectsLen-2 {
			return fmt.Errorf("modbus: identification object 0x%02x of %d bytes, at most %d", i, len(v), maxDevIDObjectsLen-2)
		}
	}
	return nil
}

// ListenOnly reports whether the device is in listen-only mode.
func (d *Device) ListenOnly() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.listenOnly
}

// Counters returns the diagnostic counters.
func (d *Device) Counters() DiagCounters {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.counters
}

// SetDiagnosticRegister sets the register returned by FC 8 sub-function 2.
func (d *Device) SetDiagnosticRegister(v uint16) {
	d.mu.Lock()
	d.diagRegister = v
	d.mu.Unlock()
}

// ServeModbus implements Handler. A broadcast (see BroadcastRequest) is
// executed and returns ErrNoResponse; the counters and event log record
// it as the serial line rules say (a broadcast receive event, no send
// event, one more server no-response).
func (d *Device) ServeModbus(ctx context.Context, unit uint8, req PDU) (PDU, error) {
	bcast := BroadcastRequest(ctx)
	if !d.receive(req, bcast) {
		return PDU{}, ErrNoResponse
	}
	resp, err := d.dispatch(ctx, unit, req)
	if bcast {
		resp, err = PDU{}, ErrNoResponse
	}
	d.account(req, err)
	return resp, err
}

// receive counts a request and logs its receive event; it returns false when
// listen-only mode swallows it.
func (d *Device) receive(req PDU, bcast bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.counters.BusMessages++
	d.counters.ServerMessages++
	ev := byte(eventReceive)
	if d.listenOnly {
		ev |= eventReceiveListen
	}
	if bcast {
		ev |= eventReceiveBroadcast
	}
	d.logEvent(ev)
	if d.listenOnly && !isRestart(req) {
		d.counters.ServerNoResponses++
		return false
	}
	return true
}

// isRestart reports whether req is Restart Communications (FC 8 / 1).
func isRestart(req PDU) bool {
	return req.Function == FuncDiagnostics && be16(req.Data, 0) == DiagRestartCommunications
}

// logEvent prepends one event to the communication event log.
func (d *Device) logEvent(ev byte) {
	if len(d.events) < maxEventLogBytes {
		d.events = append(d.events, 0)
	}
	copy(d.events[1:], d.events)
	d.events[0] = ev
}

// account updates the counters and event log after a request was handled.
func (d *Device) account(req PDU, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ev := byte(eventSend)
	if d.listenOnly {
		ev |= eventSendListen
	}
	var ee *ExceptionError
	switch {
	case errors.Is(err, ErrNoResponse):
		d.counters.ServerNoResponses++
		d.finishRestart()
		return
	case errors.As(err, &ee):
		d.counters.BusExceptions++
		ev |= exceptionEventBits(ee.Code)
		if ee.Code == ExServerDeviceBusy {
			d.counters.ServerBusy++
		}
	case err == nil && req.Function != FuncGetCommEventCounter && req.Function != FuncGetCommEventLog:
		d.eventCount++
	}
	d.logEvent(ev)
	d.finishRestart()
}

// finishRestart executes a pending Restart Communications: the counters are
// cleared (and the event log on request) and listen-only mode ends. The lock
// is held.
func (d *Device) finishRestart() {
	if d.restart == noRestart {
		return
	}
	if d.restart == restartClearEventLog {
		d.events = d.events[:0]
	}
	d.restart = noRestart
	d.listenOnly = false
	d.counters = DiagCounters{}
	d.eventCount = 0
	d.logEvent(eventCommRestart)
}

// exceptionEventBits maps an exception code to the bits of a send event.
func exceptionEventBits(c ExceptionCode) byte {
	switch {
	case c <= ExIllegalDataValue:
		return eventSendReadEx
	case c == ExServerDeviceFailure:
		return eventSendAbortEx
	case c == ExAcknowledge || c == ExServerDeviceBusy:
		return eventSendBusyEx
	}
	return 0
}

// dispatch answers req: the device-wide functions here, the rest by the data
// handler.
func (d *Device) dispatch(ctx context.Context, unit uint8, req PDU) (PDU, error) {
	switch req.Function {
	case FuncReadExceptionStatus, FuncDiagnostics, FuncGetCommEventCounter, FuncGetCommEventLog,
		FuncReportServerID, FuncEncapsulatedInterface:
	default:
		if d.data == nil || !req.Function.Known() {
			return PDU{}, Exception(req.Function, ExIllegalFunction)
		}
		return d.data.ServeModbus(ctx, unit, req)
	}
	var r Request
	if err := ParseRequest(req, &r); err != nil {
		return PDU{}, requestException(req.Function, err)
	}
	switch r.Function {
	case FuncReadExceptionStatus:
		return PDU{Function: r.Function, Data: []byte{d.exceptionStatus()}}, nil
	case FuncDiagnostics:
		return d.diagnostics(&r)
	case FuncGetCommEventCounter:
		return d.eventCounter(), nil
	case FuncGetCommEventLog:
		return d.eventLog(), nil
	case FuncReportServerID:
		return d.reportServerID(), nil
	}
	return d.encapsulated(&r)
}

// exceptionStatus returns the FC 7 status byte.
func (d *Device) exceptionStatus() uint8 {
	if d.excStatus == nil {
		return 0
	}
	return d.excStatus()
}

// eventCounter answers FC 11: status (never busy) and the event counter.
func (d *Device) eventCounter() PDU {
	d.mu.Lock()
	defer d.mu.Unlock()
	return words(FuncGetCommEventCounter, 0, d.eventCount)
}

// eventLog answers FC 12: status, event count, message count and events.
func (d *Device) eventLog() PDU {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := make([]byte, 0, 7+len(d.events))
	b = append(b, byte(6+len(d.events)), 0, 0)
	b = binary.BigEndian.AppendUint16(b, d.eventCount)
	b = binary.BigEndian.AppendUint16(b, d.counters.BusMessages)
	return PDU{Function: FuncGetCommEventLog, Data: append(b, d.events...)}
}

// reportServerID answers FC 17: byte count, server id, run indicator on.
func (d *Device) reportServerID() PDU {
	b := make([]byte, 0, 2+len(d.serverID))
	b = append(b, byte(len(d.serverID)+1))
	b = append(b, d.serverID...)
	return PDU{Function: FuncReportServerID, Data: append(b, runIndicatorOn)}
}
