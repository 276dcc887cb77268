package master

import (
	"context"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
)

// Class is a set of event classes.
type Class uint8

// Classes for polls and unsolicited responses.
const (
	Class0 Class = 1 << iota
	Class1
	Class2
	Class3
)

// classHeaders appends g60 headers (qualifier 0x06), events first.
func classHeaders(b []byte, c Class) []byte {
	for i, cl := range []Class{Class1, Class2, Class3, Class0} {
		if c&cl != 0 {
			v := uint8(i + 2)
			if cl == Class0 {
				v = 1
			}
			b = dnp3.AppendObjectHeader(b, dnp3.ObjectHeader{Group: 60, Variation: v, Qualifier: dnp3.QualAll})
		}
	}
	return b
}

// do sends fc with objects and checks the IIN.
func (m *Master) do(ctx context.Context, fc dnp3.FunctionCode, objects []byte) (*Response, error) {
	resp, err := m.Do(ctx, m.NewRequest(fc, objects))
	if err != nil {
		return resp, err
	}
	return resp, resp.Check()
}

// IntegrityPoll reads classes 1, 2, 3 and 0: all events, then all static data.
func (m *Master) IntegrityPoll(ctx context.Context) (*Response, error) {
	return m.do(ctx, dnp3.FuncRead, classHeaders(nil, Class0|Class1|Class2|Class3))
}

// EventPoll reads the events of the given classes (Class0 adds static data).
func (m *Master) EventPoll(ctx context.Context, c Class) (*Response, error) {
	return m.do(ctx, dnp3.FuncRead, classHeaders(nil, c))
}

// Read reads the given object headers (ranges, all, counts; no data).
func (m *Master) Read(ctx context.Context, headers ...dnp3.ObjectHeader) (*Response, error) {
	var b []byte
	for _, h := range headers {
		b = dnp3.AppendObjectHeader(b, h)
	}
	return m.do(ctx, dnp3.FuncRead, b)
}

// EnableUnsolicited enables unsolicited responses for classes 1-3 in c.
func (m *Master) EnableUnsolicited(ctx context.Context, c Class) (*Response, error) {
	return m.do(ctx, dnp3.FuncEnableUnsolicited, classHeaders(nil, c&^Class0))
}

// DisableUnsolicited disables unsolicited responses for classes 1-3 in c.
func (m *Master) DisableUnsolicited(ctx context.Context, c Class) (*Response, error) {
	return m.do(ctx, dnp3.FuncDisableUnsolicited, classHeaders(nil, c&^Class0))
}

// CROBObjects returns the objects of a one-CROB control (g12v1, qualifier 0x28).
func CROBObjects(index uint16, c dnp3.CROB) []byte {
	b := dnp3.AppendObjectHeader(nil, dnp3.ObjectHeader{Group: 12, Variation: 1, Qualifier: dnp3.QualIndex16Count16, Count: 1})
	b = dnp3.AppendIndex(b, dnp3.QualIndex16Count16, uint32(index))
	return dnp3.AppendCROB(b, c)
}

// AnalogObjects returns the objects of a one-setpoint control (g41 variation
// v, qualifier 0x28).
func AnalogObjects(index uint16, v uint8, a dnp3.AnalogOutput) []byte {
	b := dnp3.AppendObjectHeader(nil, dnp3.ObjectHeader{Group: 41, Variation: v, Qualifier: dnp3.QualIndex16Count16, Count: 1})
	b = dnp3.AppendIndex(b, dnp3.QualIndex16Count16, uint32(index))
	b, _ = dnp3.AppendAnalogOutput(b, v, a)
	return b
}

// control sends a control request and returns the echoed status.
func (m *Master) control(ctx context.Context, fc dnp3.FunctionCode, objects []byte, group uint8) (dnp3.CommandStatus, error) {
	resp, err := m.do(ctx, fc, objects)
	if err != nil {
		return 0, err
	}
	pts := resp.Find(group)
	if len(pts) == 0 {
		return 0, ErrNoObjects
	}
	if group == 12 {
		return pts[0].CROB.Status, nil
	}
	return pts[0].Output.Status, nil
}

// Select selects a CROB and returns the status the outstation echoes.
func (m *Master) Select(ctx context.Context, index uint16, c dnp3.CROB) (dnp3.CommandStatus, error) {
	return m.control(ctx, dnp3.FuncSelect, CROBObjects(index, c), 12)
}

// Operate operates a CROB (after Select, or alone to test the outstation).
func (m *Master) Operate(ctx context.Context, index uint16, c dnp3.CROB) (dnp3.CommandStatus, error) {
	return m.control(ctx, dnp3.FuncOperate, CROBObjects(index, c), 12)
}

// SelectOperate selects then operates a CROB; a failed select stops it.
func (m *Master) SelectOperate(ctx context.Context, index uint16, c dnp3.CROB) (dnp3.CommandStatus, error) {
	st, err := m.Select(ctx, index, c)
	if err != nil || st != dnp3.StatusSuccess {
		return st, err
	}
	return m.Operate(ctx, index, c)
}

// DirectOperate operates a CROB without select.
func (m *Master) DirectOperate(ctx context.Context, index uint16, c dnp3.CROB) (dnp3.CommandStatus, error) {
	return m.control(ctx, dnp3.FuncDirectOperate, CROBObjects(index, c), 12)
}

// DirectOperateNR operates a CROB without select and without response.
func (m *Master) DirectOperateNR(ctx context.Context, index uint16, c dnp3.CROB) error {
	_, err := m.Do(ctx, m.NewRequest(dnp3.FuncDirectOperateNR, CROBObjects(index, c)))
	return err
}

// SelectOperateAnalog selects then operates a setpoint (g41 variation v).
func (m *Master) SelectOperateAnalog(ctx context.Context, index uint16, v uint8, a dnp3.AnalogOutput) (dnp3.CommandStatus, error) {
	obj := AnalogObjects(index, v, a)
	st, err := m.control(ctx, dnp3.FuncSelect, obj, 41)
	if err != nil || st != dnp3.StatusSuccess {
		return st, err
	}
	return m.control(ctx, dnp3.FuncOperate, obj, 41)
}

// DirectOperateAnalog operates a setpoint (g41 variation v) without select.
func (m *Master) DirectOperateAnalog(ctx context.Context, index uint16, v uint8, a dnp3.AnalogOutput) (dnp3.CommandStatus, error) {
	return m.control(ctx, dnp3.FuncDirectOperate, AnalogObjects(index, v, a), 41)
}

// restart sends a restart and returns the announced delay.
func (m *Master) restart(ctx context.Context, fc dnp3.FunctionCode) (time.Duration, error) {
	resp, err := m.do(ctx, fc, nil)
	if err != nil {
		return 0, err
	}
	pts := resp.Find(52)
	if len(pts) == 0 {
		return 0, ErrNoObjects
	}
	return pts[0].Delay, nil
}

// ColdRestart asks for a cold restart and returns how long the outstation
// says it will be away.
func (m *Master) ColdRestart(ctx context.Context) (time.Duration, error) {
	return m.restart(ctx, dnp3.FuncColdRestart)
}

// WarmRestart asks for a warm restart and returns the announced delay.
func (m *Master) WarmRestart(ctx context.Context) (time.Duration, error) {
	return m.restart(ctx, dnp3.FuncWarmRestart)
}

// ReadTime reads the outstation's clock (g50v1).
func (m *Master) ReadTime(ctx context.Context) (time.Time, error) {
	resp, err := m.Read(ctx, dnp3.ObjectHeader{Group: 50, Variation: 1, Qualifier: dnp3.QualCount8, Count: 1})
	if err != nil {
		return time.Time{}, err
	}
	pts := resp.Find(50)
	if len(pts) == 0 {
		return time.Time{}, ErrNoObjects
	}
	return pts[0].Time.Std(), nil
}

// WriteTime sets the outstation's clock (g50v1), which clears NEED_TIME.
func (m *Master) WriteTime(ctx context.Context, t time.Time) error {
	b := dnp3.AppendObjectHeader(nil, dnp3.ObjectHeader{Group: 50, Variation: 1, Qualifier: dnp3.QualCount8, Count: 1})
	_, err := m.do(ctx, dnp3.FuncWrite, dnp3.AppendTime(b, dnp3.TimeOf(t)))
	return err
}

// ClearRestart clears DEVICE_RESTART (writes 0 to g80v1 index 7).
func (m *Master) ClearRestart(ctx context.Context) error {
	b := dnp3.AppendObjectHeader(nil, dnp3.ObjectHeader{Group: 80, Variation: 1, Qualifier: dnp3.QualStartStop8, Start: 7, Stop: 7})
	_, err := m.do(ctx, dnp3.FuncWrite, append(b, 0))
	return err
}

// AllCounters names every counter (g20v0, qualifier 0x06), for freezes.
func AllCounters() dnp3.ObjectHeader {
	return dnp3.ObjectHeader{Group: 20, Variation: 0, Qualifier: dnp3.QualAll}
}

// CounterRange names counters start..stop (g20v0, start-stop qualifier),
// for freezes.
func CounterRange(start, stop uint16) dnp3.ObjectHeader {
	q := dnp3.QualStartStop16
	if stop <= 0xFF {
		q = dnp3.QualStartStop8
	}
	return dnp3.ObjectHeader{Group: 20, Variation: 0, Qualifier: q, Start: uint32(start), Stop: uint32(stop)}
}

// freeze sends a freeze function naming the counters in headers (all of
// them when none is given).
func (m *Master) freeze(ctx context.Context, fc dnp3.FunctionCode, headers []dnp3.ObjectHeader) error {
	if len(headers) == 0 {
		headers = []dnp3.ObjectHeader{AllCounters()}
	}
	var b []byte
	for _, h := range headers {
		b = dnp3.AppendObjectHeader(b, h)
	}
	if fc == dnp3.FuncImmedFreezeNR || fc == dnp3.FuncFreezeClearNR {
		_, err := m.Do(ctx, m.NewRequest(fc, b))
		return err
	}
	_, err := m.do(ctx, fc, b)
	return err
}

// ImmedFreeze copies counters to their frozen counters (IMMED_FREEZE); with
// no headers, all counters. Read the result with ReadFrozenCounters.
func (m *Master) ImmedFreeze(ctx context.Context, headers ...dnp3.ObjectHeader) error {
	return m.freeze(ctx, dnp3.FuncImmedFreeze, headers)
}

// ImmedFreezeNR is ImmedFreeze without a response (IMMED_FREEZE_NR).
func (m *Master) ImmedFreezeNR(ctx context.Context, headers ...dnp3.ObjectHeader) error {
	return m.freeze(ctx, dnp3.FuncImmedFreezeNR, headers)
}

// FreezeClear freezes counters and clears them to zero (FREEZE_CLEAR).
func (m *Master) FreezeClear(ctx context.Context, headers ...dnp3.ObjectHeader) error {
	return m.freeze(ctx, dnp3.FuncFreezeClear, headers)
}

// FreezeClearNR is FreezeClear without a response (FREEZE_CLEAR_NR).
func (m *Master) FreezeClearNR(ctx context.Context, headers ...dnp3.ObjectHeader) error {
	return m.freeze(ctx, dnp3.FuncFreezeClearNR, headers)
}

// ReadFrozenCounters reads every frozen counter (g21v0, qualifier 0x06).
func (m *Master) ReadFrozenCounters(ctx context.Context) ([]Point, error) {
	resp, err := m.Read(ctx, dnp3.ObjectHeader{Group: 21, Variation: 0, Qualifier: dnp3.QualAll})
	if err != nil {
		return nil, err
	}
	return resp.Find(21), nil
}
