package outstation

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
)

// result is what handling one request produced.
type result struct {
	apdu    []byte   // the response fragment
	respond bool     // send apdu
	events  []uint64 // events in the response: it asks for confirmation
	restart bool     // restart after responding
	cold    bool
	// unsupported: answered NO_FUNC_CODE_SUPPORT
	unsupported bool
}

// reply builds a response: header first, objects appended, IIN patched.
type reply struct {
	o    *Outstation
	s    *session
	b    []byte
	iin  dnp3.IIN // request-specific bits
	ids  []uint64
	seq  uint8
	stop bool // no room left
}

// handle answers one request fragment. It never panics on any input; the
// response is appended to buf.
func (o *Outstation) handle(s *session, f dnp3.Fragment, buf []byte, bcast bool) result {
	o.mu.Lock()
	sel := o.sel
	o.sel = nil // any request other than its operate cancels a select
	o.mu.Unlock()
	r := &reply{o: o, s: s, seq: f.Control.Seq()}
	r.b = dnp3.AppendResponseHeader(buf, 0, dnp3.FuncResponse, 0)
	res := result{respond: true}
	switch f.Function {
	case dnp3.FuncRead:
		r.read(f)
	case dnp3.FuncWrite:
		r.write(f)
	case dnp3.FuncSelect:
		r.controls(f, OpSelect, nil)
	case dnp3.FuncOperate:
		r.controls(f, OpOperate, sel)
	case dnp3.FuncDirectOperate:
		r.controls(f, OpDirectOperate, nil)
	case dnp3.FuncDirectOperateNR:
		r.controls(f, OpDirectOperateNR, nil)
		res.respond = false
	case dnp3.FuncImmedFreeze, dnp3.FuncFreezeClear:
		r.freeze(f, f.Function == dnp3.FuncFreezeClear)
	case dnp3.FuncImmedFreezeNR, dnp3.FuncFreezeClearNR:
		r.freeze(f, f.Function == dnp3.FuncFreezeClearNR)
		res.respond = false
	case dnp3.FuncColdRestart, dnp3.FuncWarmRestart:
		res.restart, res.cold = true, f.Function == dnp3.FuncColdRestart
		r.restart(res.cold)
	case dnp3.FuncEnableUnsolicited, dnp3.FuncDisableUnsolicited:
		r.unsolicited(f)
	case dnp3.FuncAssignClass:
		r.assignClass(f)
	case dnp3.FuncDelayMeasure:
		r.b = dnp3.AppendObjectHeader(r.b, dnp3.ObjectHeader{Group: 52, Variation: 2, Qualifier: dnp3.QualCount8, Count: 1})
		r.b = dnp3.AppendDelay(r.b, 2, 0)
	case dnp3.FuncRecordCurrentTime:
		o.mu.Lock()
		o.recordedAt = o.cfg.Now()
		o.mu.Unlock()
	case dnp3.FuncStopAppl, dnp3.FuncStartAppl:
		r.application(f.Function == dnp3.FuncStopAppl)
	default:
		r.iin |= dnp3.IINNoFuncCodeSupport
	}
	if bcast {
		res.respond = false
	}
	if !res.respond {
		o.db.unclaim(r.ids)
		r.ids = nil
	}
	iin := o.deviceIIN() | r.iin
	con := len(r.ids) > 0
	r.b[len(buf)] = byte(dnp3.NewAppControl(true, true, con, false, r.seq))
	r.b[len(buf)+2], r.b[len(buf)+3] = iin.IIN1(), iin.IIN2()
	res.apdu, res.events = r.b, r.ids
	res.unsupported = r.iin&dnp3.IINNoFuncCodeSupport != 0
	return res
}

// objects runs fn for each header; a decode error sets PARAMETER_ERROR.
func (r *reply) objects(f dnp3.Fragment, fn func(h *dnp3.ObjectHeader) bool) {
	it := f.Iter()
	for it.Next() {
		if !fn(it.Header()) {
			return
		}
	}
	if it.Err() != nil {
		r.iin |= dnp3.IINParameterError
	}
}

// read answers READ: class polls, static ranges, event reads, time.
func (r *reply) read(f dnp3.Fragment) {
	r.objects(f, func(h *dnp3.ObjectHeader) bool {
		if r.stop {
			return false
		}
		switch {
		case h.Group == 60 && h.Variation == 1:
			for t := range numTypes {
				r.static(t, staticGV[t][1], 0, r.o.db.Len(t)-1)
			}
		case h.Group == 60 && h.Variation >= 2 && h.Variation <= 4:
			r.eventRead(uint8(1)<<(h.Variation-1), numTypes, 0, h)
		case h.Group == 50 && h.Variation == 1:
			r.b = dnp3.AppendObjectHeader(r.b, dnp3.ObjectHeader{Group: 50, Variation: 1, Qualifier: dnp3.QualCount8, Count: 1})
			r.b = dnp3.AppendTime(r.b, dnp3.TimeOf(r.o.now()))
		default:
			r.readPoints(h)
		}
		return true
	})
}

// readPoints answers a read of one point group.
func (r *reply) readPoints(h *dnp3.ObjectHeader) {
	t, isEvent, ok := typeOfGroup(h.Group)
	if !ok {
		r.iin |= dnp3.IINObjectUnknown
		return
	}
	if isEvent {
		if h.Variation != 0 {
			if _, _, known := dnp3.ObjectSize(h.Group, h.Variation); !known {
				r.iin |= dnp3.IINObjectUnknown
				return
			}
		}
		r.eventRead(0x0E, t, h.Variation, h)
		return
	}
	v := h.Variation
	if v == 0 {
		v = staticGV[t][1]
	}
	n := r.o.db.Len(t)
	start, stop := 0, n-1
	switch {
	case h.Qualifier.RangeCode() == 6:
	case h.Qualifier.IsStartStop() && h.Stop < uint32(n):
		start, stop = int(h.Start), int(h.Stop)
	default:
		r.iin |= dnp3.IINParameterError
		return
	}
	r.staticGroup(t, h.Group, v, start, stop)
}

// static appends points start..stop of type t in variation v of its group.
func (r *reply) static(t PointType, v uint8, start, stop int) {
	r.staticGroup(t, staticGV[t][0], v, start, stop)
}

func (r *reply) staticGroup(t PointType, g, v uint8, start, stop int) {
	if stop < start {
		return
	}
	size, bits, ok := dnp3.ObjectSize(g, v)
	if !ok || (size == 0 && bits == 0) || (bits > 0 && t != BinaryInput && t != BinaryOutput) {
		r.iin |= dnp3.IINObjectUnknown
		return
	}
	need := 13 + (stop-start+1)*size + ((stop-start+1)*bits+7)/8
	if len(r.b)+need > r.o.cfg.MaxFragment {
		r.iin |= dnp3.IINParameterError
		r.stop = true
		return
	}
	q := dnp3.QualStartStop16
	if stop <= 0xFF {
		q = dnp3.QualStartStop8
	}
	r.b = dnp3.AppendObjectHeader(r.b, dnp3.ObjectHeader{Group: g, Variation: v, Qualifier: q, Start: uint32(start), Stop: uint32(stop)})
	var packed []uint8
	r.o.db.static(t, start, stop, func(_ int, m dnp3.Measurement) {
		if bits > 0 {
			packed = append(packed, uint8(m.Value))
			return
		}
		var err error
		if r.b, err = dnp3.AppendMeasurement(r.b, g, v, m); err != nil {
			r.iin |= dnp3.IINObjectUnknown
		}
	})
	if bits > 0 {
		r.b = dnp3.AppendPacked(r.b, bits, packed)
	}
}

// eventRead answers a class read (g60v2-4) or an event group read, with
// an optional count limit; v is the variation asked for (0: default).
func (r *reply) eventRead(classes uint8, t PointType, v uint8, h *dnp3.ObjectHeader) {
	limit := 1 << 30
	if h.Qualifier.IsCount() {
		limit = int(h.Count)
	}
	var ids []uint64
	ids, r.b = r.o.appendEvents(r.s, r.b, classes, t, v, r.o.cfg.MaxFragment, limit)
	r.ids = append(r.ids, ids...)
}

// appendEvents appends unclaimed events of the classes (and type t unless
// numTypes) to b, up to max octets and limit events, claiming them for s.
// Consecutive events of one type share a header (qualifier 0x28). v picks
// the variation (0: the type's default).
func (o *Outstation) appendEvents(s *session, b []byte, classes uint8, t PointType, v uint8, max, limit int) ([]uint64, []byte) {
	hdrAt, count, cur := -1, 0, PointType(numTypes)
	finish := func() {
		if hdrAt >= 0 {
			binary.LittleEndian.PutUint16(b[hdrAt+3:], uint16(count))
		}
	}
	ids := o.db.claim(s, classes, t, limit, func(e *event) bool {
		g, ev := eventGV[e.typ][0], eventGV[e.typ][1]
		if v != 0 {
			ev = v
		}
		size, _, _ := dnp3.ObjectSize(g, ev)
		need := 2 + size
		if e.typ != cur || count == 0xFFFF {
			need += 5
		}
		if len(b)+need > max {
			return false
		}
		if e.typ != cur || count == 0xFFFF {
			finish()
			hdrAt, count, cur = len(b), 0, e.typ
			b = dnp3.AppendObjectHeader(b, dnp3.ObjectHeader{Group: g, Variation: ev, Qualifier: dnp3.QualIndex16Count16})
		}
		b = dnp3.AppendIndex(b, dnp3.QualIndex16Count16, uint32(e.index))
		b, _ = dnp3.AppendMeasurement(b, g, ev, e.m)
		count++
		return true
	})
	finish()
	return ids, b
}

// write answers WRITE: clearing DEVICE_RESTART (g80v1 index 7) and time.
func (r *reply) write(f dnp3.Fragment) {
	o := r.o
	r.objects(f, func(h *dnp3.ObjectHeader) bool {
		switch {
		case h.Group == 80 && h.Variation == 1:
			for p := h.Points(); p.Next(); {
				if p.Index() != 7 || p.Bits() != 0 {
					r.iin |= dnp3.IINParameterError
					continue
				}
				o.mu.Lock()
				o.iin &^= dnp3.IINDeviceRestart
				o.mu.Unlock()
			}
		case h.Group == 50 && (h.Variation == 1 || h.Variation == 3) && h.Count == 1:
			p := h.Points()
			p.Next()
			t, err := dnp3.DecodeTime(p.Value())
			if err != nil {
				r.iin |= dnp3.IINParameterError
				return false
			}
			o.setTime(t.Std(), h.Variation == 3)
		default:
			r.iin |= dnp3.IINObjectUnknown
			return false
		}
		return true
	})
}

// setTime sets the outstation clock; with recorded, the time is that of the
// last RECORD_CURRENT_TIME (LAN procedure).
func (o *Outstation) setTime(t time.Time, recorded bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.cfg.Now()
	ref := now
	if recorded && !o.recordedAt.IsZero() {
		ref = o.recordedAt
	}
	o.timeOffset = t.Sub(ref)
	o.lastSync = now
	o.iin &^= dnp3.IINNeedTime
}

// controls answers SELECT, OPERATE and DIRECT_OPERATE(_NR) on CROBs (g12v1)
// and analog output blocks (g41v1-4), echoing the objects with a status.
func (r *reply) controls(f dnp3.Fragment, op Op, sel *selection) {
	o := r.o
	status := dnp3.StatusSuccess
	if op == OpOperate {
		now := o.cfg.Now()
		switch {
		case sel == nil || sel.s != r.s || sel.seq != (r.seq-1)&0x0F || !bytes.Equal(sel.objects, f.Objects):
			status = dnp3.StatusNoSelect
		case now.Sub(sel.at) > o.cfg.SelectTimeout:
			status = dnp3.StatusTimeout
		}
	}
	o.mu.Lock()
	if o.stopped && status == dnp3.StatusSuccess {
		status = dnp3.StatusAutomationInhibit
	}
	o.mu.Unlock()
	allOK := true
	r.objects(f, func(h *dnp3.ObjectHeader) bool {
		pc := h.Qualifier.PrefixCode()
		crob := h.Group == 12 && h.Variation == 1
		ao := h.Group == 41 && h.Variation >= 1 && h.Variation <= 4
		if (!crob && !ao) || pc < 1 || pc > 3 {
			r.iin |= dnp3.IINObjectUnknown
			allOK = false
			return false
		}
		r.b = dnp3.AppendObjectHeader(r.b, dnp3.ObjectHeader{Group: h.Group, Variation: h.Variation, Qualifier: h.Qualifier, Count: h.Count})
		for p := h.Points(); p.Next(); {
			st := status
			idx := p.Index()
			r.b = dnp3.AppendIndex(r.b, h.Qualifier, idx)
			if crob {
				c, _ := dnp3.DecodeCROB(p.Value())
				if st == dnp3.StatusSuccess {
					st = o.operateCROB(op, idx, c)
				}
				c.Status = st
				r.b = dnp3.AppendCROB(r.b, c)
			} else {
				a, _ := dnp3.DecodeAnalogOutput(h.Variation, p.Value())
				if st == dnp3.StatusSuccess {
					st = o.operateAnalog(op, idx, a)
				}
				a.Status = st
				r.b, _ = dnp3.AppendAnalogOutput(r.b, h.Variation, a)
			}
			allOK = allOK && st == dnp3.StatusSuccess
		}
		return true
	})
	if op == OpSelect && allOK && r.iin&dnp3.IINParameterError == 0 {
		o.mu.Lock()
		o.sel = &selection{s: r.s, seq: r.seq, objects: bytes.Clone(f.Objects), at: o.cfg.Now()}
		o.mu.Unlock()
	}
}

// operateCROB checks the index, asks the device model and, on success,
// mirrors a latch or trip/close in the binary output status.
func (o *Outstation) operateCROB(op Op, idx uint32, c dnp3.CROB) dnp3.CommandStatus {
	if idx >= uint32(o.db.Len(BinaryOutput)) {
		return dnp3.StatusNotSupported
	}
	if o.cfg.Controls == nil {
		return dnp3.StatusNotSupported
	}
	st := o.cfg.Controls.OperateCROB(op, uint16(idx), c)
	if st != dnp3.StatusSuccess || op == OpSelect {
		return st
	}
	switch {
	case c.Code.Op() == dnp3.OpLatchOn || c.Code.TCC() == dnp3.TCCClose:
		o.db.SetBool(BinaryOutput, int(idx), true)
	case c.Code.Op() == dnp3.OpLatchOff || c.Code.TCC() == dnp3.TCCTrip:
		o.db.SetBool(BinaryOutput, int(idx), false)
	}
	return st
}

// operateAnalog checks the index, asks the device model and, on success,
// mirrors the setpoint in the analog output status.
func (o *Outstation) operateAnalog(op Op, idx uint32, a dnp3.AnalogOutput) dnp3.CommandStatus {
	if idx >= uint32(o.db.Len(AnalogOutput)) || o.cfg.Controls == nil {
		return dnp3.StatusNotSupported
	}
	st := o.cfg.Controls.OperateAnalog(op, uint16(idx), a)
	if st == dnp3.StatusSuccess && op != OpSelect {
		o.db.SetValue(AnalogOutput, int(idx), a.Value)
	}
	return st
}

// freeze answers IMMED_FREEZE and FREEZE_CLEAR (and their _NR forms): the
// counters named by g20v0 headers (all, or a start-stop range) are copied
// to their frozen counters (g21), and with clear the counters restart
// from zero. The response carries no objects.
func (r *reply) freeze(f dnp3.Fragment, clear bool) {
	n := r.o.db.Len(Counter)
	r.objects(f, func(h *dnp3.ObjectHeader) bool {
		if h.Group != 20 || h.Variation != 0 {
			r.iin |= dnp3.IINObjectUnknown
			return false
		}
		start, stop := 0, n-1
		switch {
		case h.Qualifier.RangeCode() == 6:
		case h.Qualifier.IsStartStop() && h.Stop < uint32(n):
			start, stop = int(h.Start), int(h.Stop)
		default:
			r.iin |= dnp3.IINParameterError
			return false
		}
		r.o.db.freeze(start, stop, clear)
		return true
	})
}

// restart answers COLD_RESTART/WARM_RESTART with the time the device will
// be away (g52v1 seconds for cold, g52v2 ms for warm).
func (r *reply) restart(cold bool) {
	v, d := uint8(2), r.o.cfg.WarmRestartDelay
	if cold {
		v, d = 1, r.o.cfg.ColdRestartDelay
	}
	r.b = dnp3.AppendObjectHeader(r.b, dnp3.ObjectHeader{Group: 52, Variation: v, Qualifier: dnp3.QualCount8, Count: 1})
	r.b = dnp3.AppendDelay(r.b, v, d)
}

// unsolicited answers ENABLE/DISABLE_UNSOLICITED for classes 1-3 (g60v2-4).
func (r *reply) unsolicited(f dnp3.Fragment) {
	if !r.o.cfg.Unsolicited {
		r.iin |= dnp3.IINNoFuncCodeSupport
		return
	}
	var mask uint8
	r.objects(f, func(h *dnp3.ObjectHeader) bool {
		if h.Group != 60 || h.Variation < 2 || h.Variation > 4 {
			r.iin |= dnp3.IINObjectUnknown
			return false
		}
		mask |= 1 << (h.Variation - 1)
		return true
	})
	if f.Function == dnp3.FuncEnableUnsolicited {
		r.s.unsolMask |= mask
	} else {
		r.s.unsolMask &^= mask
	}
}

// assignClass answers ASSIGN_CLASS: a g60 header names the class, the point
// headers after it (all or a start-stop range) get it.
func (r *reply) assignClass(f dnp3.Fragment) {
	class := -1
	r.objects(f, func(h *dnp3.ObjectHeader) bool {
		if h.Group == 60 && h.Variation >= 1 && h.Variation <= 4 {
			class = int(h.Variation) - 1
			return true
		}
		t, isEvent, ok := typeOfGroup(h.Group)
		if !ok || isEvent || class < 0 {
			r.iin |= dnp3.IINObjectUnknown
			return false
		}
		n := r.o.db.Len(t)
		start, stop := 0, n-1
		if h.Qualifier.IsStartStop() {
			if h.Stop >= uint32(n) {
				r.iin |= dnp3.IINParameterError
				return false
			}
			start, stop = int(h.Start), int(h.Stop)
		}
		r.o.db.setClass(t, start, stop, uint8(class))
		return true
	})
}

// application answers STOP_APPL and START_APPL: a stopped application
// refuses controls (AUTOMATION_INHIBIT) and reports DEVICE_TROUBLE.
func (r *reply) application(stop bool) {
	o := r.o
	o.mu.Lock()
	o.stopped = stop
	o.mu.Unlock()
	if lc, ok := o.cfg.Controls.(Lifecycle); ok {
		lc.ApplicationStopped(stop)
	}
}
