package modbus

// Diagnostics (FC 8) sub-functions.
const (
	DiagReturnQueryData                uint16 = 0x00
	DiagRestartCommunications          uint16 = 0x01
	DiagReturnDiagnosticRegister       uint16 = 0x02
	DiagChangeASCIIInputDelimiter      uint16 = 0x03
	DiagForceListenOnlyMode            uint16 = 0x04
	DiagClearCounters                  uint16 = 0x0A
	DiagReturnBusMessageCount          uint16 = 0x0B
	DiagReturnBusCommErrorCount        uint16 = 0x0C
	DiagReturnBusExceptionErrorCount   uint16 = 0x0D
	DiagReturnServerMessageCount       uint16 = 0x0E
	DiagReturnServerNoResponseCount    uint16 = 0x0F
	DiagReturnServerNAKCount           uint16 = 0x10
	DiagReturnServerBusyCount          uint16 = 0x11
	DiagReturnBusCharacterOverrunCount uint16 = 0x12
	DiagClearOverrunCounterAndFlag     uint16 = 0x14
)

// Read device id codes of FC 43 / MEI 14.
const (
	DevIDBasic    uint8 = 1 // stream access to the basic objects 0x00-0x02
	DevIDRegular  uint8 = 2 // stream access to the regular objects 0x00-0x06
	DevIDExtended uint8 = 3 // stream access to all objects up to 0xFF
	DevIDSpecific uint8 = 4 // one object by id
)

// diagnostics answers FC 8. Restart Communications and Force Listen Only
// Mode change the device state; the counters are read under the lock.
func (d *Device) diagnostics(r *Request) (PDU, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sub, v := r.SubFunction, r.Value
	if sub != DiagReturnQueryData && sub != DiagRestartCommunications && sub != DiagChangeASCIIInputDelimiter && v != 0 {
		return PDU{}, Exception(FuncDiagnostics, ExIllegalDataValue)
	}
	switch sub {
	case DiagReturnQueryData:
		return PDU{Function: FuncDiagnostics, Data: append([]byte(nil), be16bytes(sub, r.Values)...)}, nil
	case DiagRestartCommunications:
		return d.restartCommunications(v)
	case DiagReturnDiagnosticRegister:
		return words(FuncDiagnostics, sub, d.diagRegister), nil
	case DiagChangeASCIIInputDelimiter:
		d.asciiDelim = byte(v >> 8)
	case DiagForceListenOnlyMode:
		d.listenOnly = true
		d.logEvent(eventEnterListenOnly)
		return PDU{}, ErrNoResponse
	case DiagClearCounters:
		d.counters, d.diagRegister = DiagCounters{}, 0
	case DiagClearOverrunCounterAndFlag:
		d.counters.BusCharOverruns = 0
	default:
		c, ok := d.counter(sub)
		if !ok {
			return PDU{}, Exception(FuncDiagnostics, ExIllegalFunction)
		}
		return words(FuncDiagnostics, sub, c), nil
	}
	return words(FuncDiagnostics, sub, v), nil
}

// be16bytes returns the sub-function word followed by data.
func be16bytes(sub uint16, data []byte) []byte {
	return append([]byte{byte(sub >> 8), byte(sub)}, data...)
}

// restartCommunications answers FC 8 / 1. The restart itself happens after
// the response (none in listen-only mode), see Device.finishRestart.
func (d *Device) restartCommunications(v uint16) (PDU, error) {
	if v != 0 && v != restartClearLog {
		return PDU{}, Exception(FuncDiagnostics, ExIllegalDataValue)
	}
	d.restart = restartKeepLog
	if v == restartClearLog {
		d.restart = restartClearEventLog
	}
	if d.listenOnly {
		return PDU{}, ErrNoResponse
	}
	return words(FuncDiagnostics, DiagRestartCommunications, v), nil
}

// counter returns the counter read by sub-functions 0x0B-0x12.
func (d *Device) counter(sub uint16) (uint16, bool) {
	c := &d.counters
	switch sub {
	case DiagReturnBusMessageCount:
		return c.BusMessages, true
	case DiagReturnBusCommErrorCount:
		return c.BusCommErrors, true
	case DiagReturnBusExceptionErrorCount:
		return c.BusExceptions, true
	case DiagReturnServerMessageCount:
		return c.ServerMessages, true
	case DiagReturnServerNoResponseCount:
		return c.ServerNoResponses, true
	case DiagReturnServerNAKCount:
		return c.ServerNAKs, true
	case DiagReturnServerBusyCount:
		return c.ServerBusy, true
	case DiagReturnBusCharacterOverrunCount:
		return c.BusCharOverruns, true
	}
	return 0, false
}
