package analyze

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/otrange/otrange/protocol/modbus"
)

// pendingReq is a Modbus request awaiting its response.
type pendingReq struct {
	tid               uint16
	unit              uint8
	fn                modbus.FunctionCode
	sub               uint16
	address, quantity uint16
	frame             uint64
	ts                time.Time
}

// modbusConn is the Modbus state of one connection: a Stream per direction
// (0 client to server, 1 server to client) and the pending requests.
type modbusConn struct {
	streams [2]*modbus.Stream
	tail    [2]bool      // the direction's buffered bytes are left over after an ADU
	pending []pendingReq // awaiting a response, in arrival order; at most cap(pending)
	adu     modbus.ADU
	req     modbus.Request
	resp    modbus.Response
}

func newModbusConn(cfg Config) *modbusConn {
	return &modbusConn{
		streams: [2]*modbus.Stream{modbus.NewStream(cfg.MaxStreamBytes), modbus.NewStream(cfg.MaxStreamBytes)},
		pending: make([]pendingReq, 0, cfg.MaxPending),
	}
}

func (m *modbusConn) gap(side int) {
	m.streams[side].Reset()
	m.tail[side] = false
}

// quickdrawMaxSegment is the largest Modbus TCP payload Quickdraw accepts.
const quickdrawMaxSegment = 300

// garbage collects what one Data call could not frame.
type garbage struct {
	class   Anomaly
	dropped int
	detail  string
}

// add classifies one decode error. afterADU says the bad bytes follow an
// ADU of the same segment (or are left over from one).
func (g *garbage) add(err error, dropped int, afterADU bool) {
	g.dropped += dropped
	var de *modbus.DecodeError
	c := AnomInvalidLength
	if errors.As(err, &de) {
		switch {
		case de.Field == "mbap.protocol_id":
			c = AnomNonProtocol
		case de.Field == "mbap.length" && len(de.Snippet) > 0 && (de.Snippet[0] != 0 || len(de.Snippet) > 1 && de.Snippet[1] > 254):
			c = AnomIllegalSize
		}
	}
	if afterADU && c != AnomIllegalSize {
		c = AnomIncorrectLength
	}
	// Priority: illegal size, incorrect length, non-protocol, invalid length.
	if g.detail == "" || rank(c) > rank(g.class) {
		g.class, g.detail = c, err.Error()
	}
}

func rank(a Anomaly) int {
	switch a {
	case AnomIllegalSize:
		return 4
	case AnomIncorrectLength:
		return 3
	case AnomNonProtocol:
		return 2
	}
	return 1
}

// data frames the bytes of one direction and emits a record per ADU, and one
// anomaly record for whatever could not be framed.
func (m *modbusConn) data(a *Analyzer, side int, src, dst netip.AddrPort, b []byte, ts time.Time, frame uint64) {
	s := m.streams[side]
	chunk := len(b)
	leftover := s.Buffered() > 0 && m.tail[side]
	framed := 0
	var g garbage
	for len(b) > 0 {
		n := min(len(b), s.Free())
		if err := s.Write(b[:n]); err != nil || n == 0 {
			// Cannot happen: Next always drains below the cap. Guard anyway.
			g.dropped += s.Buffered() + len(b)
			g.class, g.detail = AnomReassemblyOverflow, "modbus stream buffer overflow"
			s.Reset()
			break
		}
		b = b[n:]
		for {
			before := s.Dropped()
			ok, err := s.Next(&m.adu)
			if err != nil {
				g.add(err, int(s.Dropped()-before), framed > 0 || leftover)
				continue
			}
			if !ok {
				break
			}
			framed++
			leftover = false
			a.modbusADUs.Add(1)
			m.emitADU(a, side, src, dst, ts, frame)
		}
	}
	m.tail[side] = s.Buffered() > 0 && (framed > 0 || m.tail[side])
	if g.detail != "" {
		if chunk > quickdrawMaxSegment {
			// Quickdraw's rule: a Modbus segment over 300 bytes that
			// does not frame is an illegal packet size.
			g.class = AnomIllegalSize
		}
		dir := Request
		if side == 1 {
			dir = Response
		}
		r := a.begin(src, dst, TCP, ProtoModbus, dir, ts, frame)
		r.Anomalies, r.Dropped, r.Detail = g.class, g.dropped, g.detail
		a.garbage.Add(uint64(g.dropped))
		a.emit()
	}
}

// emitADU decodes the framed ADU and emits its record.
func (m *modbusConn) emitADU(a *Analyzer, side int, src, dst netip.AddrPort, ts time.Time, frame uint64) {
	adu := &m.adu
	dir := Request
	if side == 1 {
		dir = Response
	}
	r := a.begin(src, dst, TCP, ProtoModbus, dir, ts, frame)
	r.Valid = true
	r.Len = modbus.MBAPLen + adu.PDU.Len()
	f := &r.Modbus
	f.TransactionID, f.UnitID, f.Function = adu.TransactionID, adu.UnitID, uint8(adu.PDU.Function)
	if dir == Request {
		m.request(a, r)
	} else {
		m.response(a, r)
	}
	a.emit()
}

// anomalyOf maps a parse error to an anomaly.
func anomalyOf(fn modbus.FunctionCode) Anomaly {
	if !fn.Known() {
		return AnomUnknownFunction
	}
	return AnomInvalidLength
}

func (m *modbusConn) request(a *Analyzer, r *Record) {
	q := &m.req
	fn := m.adu.PDU.Function
	f := &r.Modbus
	if err := modbus.ParseRequest(m.adu.PDU, q); err != nil {
		r.Anomalies |= anomalyOf(fn)
		r.Detail = err.Error()
	}
	f.Address, f.Quantity = q.Address, q.Quantity
	switch fn {
	case modbus.FuncWriteSingleCoil:
		f.setValues(bitValue(q.Value == 0xFF00))
	case modbus.FuncWriteSingleRegister:
		f.setValues(q.Value)
	case modbus.FuncWriteMultipleCoils:
		f.setBits(q.Values, int(q.Quantity))
	case modbus.FuncWriteMultipleRegisters:
		f.setRegisters(q.Values)
	case modbus.FuncReadWriteMultipleRegisters:
		f.WriteAddress, f.WriteQuantity = q.WriteAddress, q.WriteQuantity
		f.setRegisters(q.Values)
	case modbus.FuncMaskWriteRegister:
		f.setValues(q.AndMask, q.OrMask)
	case modbus.FuncDiagnostics:
		if d := m.adu.PDU.Data; len(d) >= 2 {
			f.SubFunction, f.HasSubFunction = binary.BigEndian.Uint16(d), true
		}
	case modbus.FuncEncapsulatedInterface:
		if d := m.adu.PDU.Data; len(d) >= 1 {
			f.MEIType = d[0]
			if len(d) >= 3 {
				f.ReadDeviceIDCode, f.ObjectID = d[1], d[2]
			}
		}
	}
	m.addPending(a, r)
}

// addPending records the request for matching: it replaces a pending
// request with the same transaction and unit ids; when the table is full,
// the oldest request is evicted and counted.
func (m *modbusConn) addPending(a *Analyzer, r *Record) {
	f := &r.Modbus
	p := pendingReq{
		tid: f.TransactionID, unit: f.UnitID, fn: modbus.FunctionCode(f.Function), sub: f.SubFunction,
		address: f.Address, quantity: f.Quantity, frame: r.Frame, ts: r.Time,
	}
	for i := range m.pending {
		if q := &m.pending[i]; q.tid == p.tid && q.unit == p.unit {
			*q = p // a reused transaction id replaces the old request
			return
		}
	}
	if len(m.pending) == cap(m.pending) {
		oldest := 0
		for i := range m.pending {
			if m.pending[i].frame < m.pending[oldest].frame {
				oldest = i
			}
		}
		m.pending = slices.Delete(m.pending, oldest, oldest+1)
		a.evicted.Add(1)
	}
	m.pending = append(m.pending, p)
}

// takePending removes and returns the request a response answers.
func (m *modbusConn) takePending(tid uint16, unit uint8) (pendingReq, bool) {
	for i := range m.pending {
		if p := m.pending[i]; p.tid == tid && p.unit == unit {
			m.pending = slices.Delete(m.pending, i, i+1)
			return p, true
		}
	}
	return pendingReq{}, false
}

func (m *modbusConn) response(a *Analyzer, r *Record) {
	f := &r.Modbus
	pdu := m.adu.PDU
	p, ok := m.takePending(f.TransactionID, f.UnitID)
	if ok {
		r.Matched, r.ReqFrame, r.Latency = true, p.frame, r.Time.Sub(p.ts)
		if p.fn.Base() != pdu.Function.Base() {
			r.Anomalies |= AnomMismatch
		}
	} else {
		r.Anomalies |= AnomUnmatched
		a.unmatched.Add(1)
	}
	if pdu.Function.IsException() {
		// Some devices pad the exception code with a byte: accept it.
		if len(pdu.Data) < 1 {
			r.Anomalies |= AnomInvalidLength
			r.Detail = "exception response without a code"
		} else {
			f.Exception = pdu.Data[0]
		}
		if !pdu.Function.Known() {
			r.Anomalies |= AnomUnknownFunction
		}
		if ok {
			f.Address, f.Quantity, f.SubFunction, f.HasSubFunction = p.address, p.quantity, p.sub, p.fn == modbus.FuncDiagnostics
		}
		return
	}
	s := &m.resp
	if err := modbus.ParseResponse(pdu, s); err != nil {
		r.Anomalies |= anomalyOf(pdu.Function)
		r.Detail = err.Error()
	}
	f.Address, f.Quantity = s.Address, s.Quantity
	if ok && (pdu.Function == modbus.FuncReadCoils || pdu.Function == modbus.FuncReadDiscreteInputs ||
		pdu.Function == modbus.FuncReadHoldingRegisters || pdu.Function == modbus.FuncReadInputRegisters ||
		pdu.Function == modbus.FuncReadWriteMultipleRegisters) {
		f.Address, f.Quantity = p.address, p.quantity
	}
	switch pdu.Function {
	case modbus.FuncReadCoils, modbus.FuncReadDiscreteInputs:
		n := 8 * len(s.Values)
		if ok {
			n = min(n, int(p.quantity))
		}
		f.setBits(s.Values, n)
	case modbus.FuncReadHoldingRegisters, modbus.FuncReadInputRegisters, modbus.FuncReadWriteMultipleRegisters:
		f.setRegisters(s.Values)
	case modbus.FuncWriteSingleCoil:
		f.setValues(bitValue(s.Value == 0xFF00))
	case modbus.FuncWriteSingleRegister:
		f.setValues(s.Value)
	case modbus.FuncDiagnostics:
		if len(pdu.Data) >= 2 {
			f.SubFunction, f.HasSubFunction = binary.BigEndian.Uint16(pdu.Data), true
		}
	case modbus.FuncEncapsulatedInterface:
		f.MEIType, f.ReadDeviceIDCode = s.MEIType, s.ReadDeviceIDCode
		if s.MEIType == modbus.MEIReadDeviceID && r.Anomalies&AnomInvalidLength == 0 {
			for id, v := range s.DeviceObjects {
				if f.NDeviceID == MaxDeviceObjects {
					f.DeviceIDTruncated = true
					break
				}
				f.DeviceID[f.NDeviceID] = DeviceObject{ID: id, Value: v}
				f.NDeviceID++
			}
		}
	}
}

func bitValue(on bool) uint16 {
	if on {
		return 1
	}
	return 0
}

// setValues keeps vs (at most MaxValues).
func (f *ModbusFields) setValues(vs ...uint16) {
	for _, v := range vs {
		if f.NValues == MaxValues {
			f.ValuesTruncated = true
			return
		}
		f.Values[f.NValues] = v
		f.NValues++
	}
}

// setRegisters keeps the big-endian registers of b.
func (f *ModbusFields) setRegisters(b []byte) {
	for i := 0; i+1 < len(b); i += 2 {
		if f.NValues == MaxValues {
			f.ValuesTruncated = true
			return
		}
		f.Values[f.NValues] = binary.BigEndian.Uint16(b[i:])
		f.NValues++
	}
}

// setBits keeps the first n LSB-first packed bits of b as 0/1 values.
func (f *ModbusFields) setBits(b []byte, n int) {
	n = min(n, 8*len(b))
	for i := range n {
		if f.NValues == MaxValues {
			f.ValuesTruncated = true
			return
		}
		f.Values[f.NValues] = uint16(b[i/8] >> (i % 8) & 1)
		f.NValues++
	}
}
