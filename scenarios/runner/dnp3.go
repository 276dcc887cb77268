package runner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/dnp3/master"
	scenario "github.com/otrange/otrange/scenarios"
	"github.com/otrange/otrange/simulator/plantdef"
)

// outstationAddr is the link address the step talks to: the parameter, the
// device's from the plant definition, or 10.
func outstationAddr(dev *plantdef.Device, param *uint16) uint16 {
	switch {
	case param != nil:
		return *param
	case dev != nil && dev.DNP3 != nil:
		return uint16(dev.DNP3.Address)
	}
	return 10
}

// dialDNP3 resolves and checks the target, then connects a master from the
// step's source with link address src.
func (x *execution) dialDNP3(ctx context.Context, src uint16, outstation *uint16) (*master.Master, *plantdef.Device, error) {
	ap, dev, err := x.target(protoDNP3)
	if err != nil {
		return nil, dev, err
	}
	if src == 0 {
		src = 1
	}
	m, err := master.New(master.Config{
		Address: src, Outstation: outstationAddr(dev, outstation),
		Addr: ap.String(), Dial: x.dialer(protoDNP3), Timeout: x.r.cfg.Timeout,
	})
	if err != nil {
		return nil, dev, err
	}
	if err := m.Connect(ctx); err != nil {
		return nil, dev, err
	}
	return m, dev, nil
}

// answer accounts for one DNP3 request's result: an IIN failure is a
// refusal; other errors end the step.
func (x *execution) answer(what string, err error) error {
	var iin *master.IINError
	switch {
	case err == nil:
		x.ok()
	case errors.As(err, &iin):
		x.refused(fmt.Errorf("%s refused: %w", what, err))
	default:
		return err
	}
	return nil
}

// status accounts for a control's echoed status.
func (x *execution) status(what string, st dnp3.CommandStatus, err error) error {
	if err == nil && st != dnp3.StatusSuccess {
		x.refused(fmt.Errorf("%s refused: status %s", what, st))
		return nil
	}
	return x.answer(what, err)
}

func classMask(classes []int) master.Class {
	var c master.Class
	for _, cl := range classes {
		switch cl {
		case 1:
			c |= master.Class1
		case 2:
			c |= master.Class2
		case 3:
			c |= master.Class3
		}
	}
	return c
}

func (x *execution) dnp3Read(ctx context.Context, p *scenario.DNP3Read) error {
	m, _, err := x.dialDNP3(ctx, p.Master, p.Outstation)
	if err != nil {
		return err
	}
	defer m.Close()
	for i := range p.Repeat {
		if i > 0 {
			if err := sleep(ctx, x.r.cfg.Clock, p.Interval.D()); err != nil {
				return err
			}
		}
		if p.Kind == "class" {
			_, err = m.EventPoll(ctx, classMask(p.Classes))
		} else {
			_, err = m.IntegrityPoll(ctx)
		}
		if err := x.answer("read", err); err != nil {
			return err
		}
	}
	return nil
}

// crob builds the control of operation op.
func crob(op string, onTime time.Duration) dnp3.CROB {
	ms := uint32(onTime / time.Millisecond)
	switch op {
	case "latch_on":
		return dnp3.CROB{Code: dnp3.NewControlCode(dnp3.OpLatchOn, dnp3.TCCNul, false), Count: 1}
	case "latch_off":
		return dnp3.CROB{Code: dnp3.NewControlCode(dnp3.OpLatchOff, dnp3.TCCNul, false), Count: 1}
	case "pulse_on":
		return dnp3.CROB{Code: dnp3.NewControlCode(dnp3.OpPulseOn, dnp3.TCCNul, false), Count: 1, OnTime: ms}
	case "pulse_off":
		return dnp3.CROB{Code: dnp3.NewControlCode(dnp3.OpPulseOff, dnp3.TCCNul, false), Count: 1, OnTime: ms}
	case "trip":
		return dnp3.CROB{Code: dnp3.NewControlCode(dnp3.OpPulseOn, dnp3.TCCTrip, false), Count: 1, OnTime: ms}
	case "close":
		return dnp3.CROB{Code: dnp3.NewControlCode(dnp3.OpPulseOn, dnp3.TCCClose, false), Count: 1, OnTime: ms}
	}
	return dnp3.CROB{}
}

// analogVariation picks g41v1 (int32) for whole values, g41v3 (float32)
// otherwise.
func analogVariation(v float64) uint8 {
	if v == math.Trunc(v) && v >= math.MinInt32 && v <= math.MaxInt32 {
		return 1
	}
	return 3
}

func (x *execution) dnp3Operate(ctx context.Context, p *scenario.DNP3Operate) error {
	m, _, err := x.dialDNP3(ctx, p.Master, p.Outstation)
	if err != nil {
		return err
	}
	defer m.Close()
	n := 0
	for c := range p.Count {
		for _, idx := range p.Indexes() {
			if n > 0 {
				if err := sleep(ctx, x.r.cfg.Clock, p.Interval.D()); err != nil {
					return err
				}
			}
			n++
			what := fmt.Sprintf("%s %s index %d", p.Mode, p.Point, idx)
			if p.Point == "analog" {
				a := dnp3.AnalogOutput{Value: *p.Value}
				v := analogVariation(a.Value)
				var st dnp3.CommandStatus
				switch p.Mode {
				case "select_operate":
					st, err = m.SelectOperateAnalog(ctx, idx, v, a)
				case "direct":
					st, err = m.DirectOperateAnalog(ctx, idx, v, a)
				default:
					_, err = m.Do(ctx, m.NewRequest(dnp3.FuncDirectOperateNR, master.AnalogObjects(idx, v, a)))
				}
				if err := x.status(what, st, err); err != nil {
					return err
				}
				continue
			}
			op := p.Op
			if op == "toggle" {
				op = []string{"latch_on", "latch_off"}[c%2]
			}
			cr := crob(op, p.OnTime.D())
			var st dnp3.CommandStatus
			switch p.Mode {
			case "select_operate":
				st, err = m.Select(ctx, idx, cr)
				if err == nil && st == dnp3.StatusSuccess {
					st, err = m.Operate(ctx, idx, cr)
				}
			case "direct":
				st, err = m.DirectOperate(ctx, idx, cr)
			default:
				err = m.DirectOperateNR(ctx, idx, cr)
			}
			if err := x.status(what, st, err); err != nil {
				return err
			}
		}
	}
	return nil
}

func (x *execution) dnp3Restart(ctx context.Context, p *scenario.DNP3Restart) error {
	m, _, err := x.dialDNP3(ctx, p.Master, p.Outstation)
	if err != nil {
		return err
	}
	defer m.Close()
	var d time.Duration
	if p.Kind == "warm" {
		d, err = m.WarmRestart(ctx)
	} else {
		d, err = m.ColdRestart(ctx)
	}
	if err == nil {
		x.r.log.Info("outstation restarting", "step", x.st.ID, "away", d)
	}
	return x.answer(p.Kind+" restart", err)
}

func (x *execution) dnp3StopApplication(ctx context.Context, p *scenario.DNP3StopApplication) error {
	m, _, err := x.dialDNP3(ctx, p.Master, p.Outstation)
	if err != nil {
		return err
	}
	defer m.Close()
	var objs []byte
	if p.Application == "" {
		objs = dnp3.AppendObjectHeader(nil, dnp3.ObjectHeader{Group: 90, Variation: 1, Qualifier: dnp3.QualAll})
	} else {
		objs = dnp3.AppendObjectHeader(nil, dnp3.ObjectHeader{Group: 90, Variation: 1, Qualifier: dnp3.QualFreeFormat16, Count: 1})
		objs = append(objs, byte(len(p.Application)), byte(len(p.Application)>>8))
		objs = append(objs, p.Application...)
	}
	resp, err := m.Do(ctx, m.NewRequest(dnp3.FuncStopAppl, objs))
	if err == nil {
		err = resp.Check()
	}
	return x.answer("stop application", err)
}

func (x *execution) dnp3Unsolicited(ctx context.Context, p *scenario.DNP3Unsolicited) error {
	m, _, err := x.dialDNP3(ctx, p.Master, p.Outstation)
	if err != nil {
		return err
	}
	defer m.Close()
	if p.Mode == "enable" {
		_, err = m.EnableUnsolicited(ctx, classMask(p.Classes))
	} else {
		_, err = m.DisableUnsolicited(ctx, classMask(p.Classes))
	}
	return x.answer(p.Mode+" unsolicited", err)
}

// classObjects are the g60 headers of classes 1-3 (qualifier 0x06).
func classObjects() []byte {
	var b []byte
	for v := uint8(2); v <= 4; v++ {
		b = dnp3.AppendObjectHeader(b, dnp3.ObjectHeader{Group: 60, Variation: v, Qualifier: dnp3.QualAll})
	}
	return b
}

func (x *execution) dnp3Broadcast(ctx context.Context, p *scenario.DNP3Broadcast) error {
	m, _, err := x.dialDNP3(ctx, p.Master, nil)
	if err != nil {
		return err
	}
	defer m.Close()
	var req master.Request
	switch p.Request {
	case "cold_restart":
		req = m.NewRequest(dnp3.FuncColdRestart, nil)
	case "warm_restart":
		req = m.NewRequest(dnp3.FuncWarmRestart, nil)
	case "disable_unsolicited":
		req = m.NewRequest(dnp3.FuncDisableUnsolicited, classObjects())
	case "enable_unsolicited":
		req = m.NewRequest(dnp3.FuncEnableUnsolicited, classObjects())
	case "direct_operate_no_ack":
		req = m.NewRequest(dnp3.FuncDirectOperateNR, master.CROBObjects(p.Index, crob(p.Op, time.Second)))
	default:
		return fmt.Errorf("dnp3.broadcast: unknown request %q", p.Request)
	}
	req.To = p.Address
	req.NoResponse = true
	_, err = m.Do(ctx, req)
	if err != nil {
		return err
	}
	x.ok()
	return nil
}

// spoofObjects encodes the false points: events (g2v1, g32v1, g22v1) in an
// unsolicited response, static values (g1v2, g30v1, g20v1) in a solicited
// one, each type in one header with 2-octet index prefixes.
func spoofObjects(points []scenario.SpoofPoint, unsolicited bool) ([]byte, error) {
	groups := map[string][2]uint8{
		"binary_input": {1, 2}, "analog_input": {30, 1}, "counter": {20, 1},
	}
	if unsolicited {
		groups = map[string][2]uint8{
			"binary_input": {2, 1}, "analog_input": {32, 1}, "counter": {22, 1},
		}
	}
	var b []byte
	for _, typ := range []string{"binary_input", "analog_input", "counter"} {
		var pts []scenario.SpoofPoint
		for _, p := range points {
			if p.Type == typ {
				pts = append(pts, p)
			}
		}
		if len(pts) == 0 {
			continue
		}
		gv := groups[typ]
		b = dnp3.AppendObjectHeader(b, dnp3.ObjectHeader{Group: gv[0], Variation: gv[1], Qualifier: dnp3.QualIndex16Count16, Count: uint32(len(pts))})
		for _, p := range pts {
			b = dnp3.AppendIndex(b, dnp3.QualIndex16Count16, uint32(p.Index))
			var err error
			b, err = dnp3.AppendMeasurement(b, gv[0], gv[1], dnp3.Measurement{Value: p.Value, Flags: dnp3.FlagOnline})
			if err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// masterStation is the HMI that polls dev: the station whose responses the
// attacker pretends to send.
func (r *Runner) masterStation(dev *plantdef.Device) *plantdef.Device {
	var first *plantdef.Device
	for i := range r.plant.Devices {
		d := &r.plant.Devices[i]
		if d.Kind != plantdef.KindHMI {
			continue
		}
		if first == nil {
			first = d
		}
		if dev != nil && slices.Contains(d.Polls, dev.Name) {
			return d
		}
	}
	return first
}

// dnp3Spoof sends responses as if from the outstation (its link address as
// the source, the master's as the destination) to the master station, over
// UDP to the DNP3 port: without a man in the middle the attacker cannot
// write into the HMI's own TCP connection, so this is what it can put on
// the wire. The datagrams leave from the step's source address.
func (x *execution) dnp3Spoof(ctx context.Context, p *scenario.DNP3SpoofResponse) error {
	dev := x.r.device(x.st.Target)
	if dev == nil {
		if a, err := netip.ParseAddr(x.st.Target); err == nil {
			dev = x.r.deviceAt(a)
		}
	}
	if err := x.r.cfg.Guard.CheckAddr(targetAddr(dev, x.st.Target)); err != nil {
		return fmt.Errorf("target refused: %w", err)
	}
	hmi := x.r.masterStation(dev)
	if hmi == nil {
		return fmt.Errorf("dnp3.spoof_response: the plant has no master station to deceive")
	}
	port := uint16(20000)
	masterAddr := p.Master
	if dev != nil && dev.DNP3 != nil {
		port = uint16(dev.DNP3.Port)
		if masterAddr == 1 && dev.DNP3.Master != 0 {
			masterAddr = uint16(dev.DNP3.Master)
		}
	}
	dst := netip.AddrPortFrom(hmi.Address, port)
	if err := x.r.cfg.Guard.CheckAddr(dst.Addr()); err != nil {
		return fmt.Errorf("target refused: %w", err)
	}
	x.rec.Destination = dst.String()
	objs, err := spoofObjects(p.Points, p.Unsolicited)
	if err != nil {
		return err
	}
	// An unconnected socket: a connected one would turn the master's ICMP
	// "port unreachable" into an error that swallows the next datagram.
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(x.src, 0)))
	if err != nil {
		return err
	}
	defer conn.Close()
	x.mu.Lock()
	x.flows = append(x.flows, conn.LocalAddr().String()+">"+dst.String())
	x.mu.Unlock()
	fc := dnp3.FuncResponse
	if p.Unsolicited {
		fc = dnp3.FuncUnsolicited
	}
	link := dnp3.NewControl(false, true, false, false, dnp3.LinkUnconfirmedUserData)
	var tseq uint8
	for i := range p.Count {
		if i > 0 {
			if err := sleep(ctx, x.r.cfg.Clock, p.Interval.D()); err != nil {
				return err
			}
		}
		ac := dnp3.NewAppControl(true, true, false, p.Unsolicited, uint8(i))
		apdu := append(dnp3.AppendResponseHeader(nil, ac, fc, 0), objs...)
		var frames []byte
		frames, tseq = dnp3.AppendAPDU(nil, link, masterAddr, outstationAddr(dev, p.Outstation), tseq, apdu)
		x.sent(1)
		if _, err := conn.WriteToUDPAddrPort(frames, dst); err != nil {
			return err
		}
		x.ok()
	}
	return nil
}

// targetAddr is the address of the step's target device or literal address.
func targetAddr(dev *plantdef.Device, target string) netip.Addr {
	if dev != nil {
		return dev.Address
	}
	if ap, err := netip.ParseAddrPort(target); err == nil {
		return ap.Addr()
	}
	a, _ := netip.ParseAddr(target)
	return a
}

// dnp3Parameters operates the analog outputs bound to the given variables
// (select, then operate), as an engineering tool does over DNP3.
func (x *execution) dnp3Parameters(ctx context.Context, dev *plantdef.Device, params map[string]float64) error {
	type op struct {
		index uint16
		value float64
	}
	var ops []op
	for name, v := range params {
		found := false
		for _, pt := range dev.Points {
			if pt.Var == name && pt.Type == plantdef.AnalogOutput && !pt.ReadOnly {
				scale := pt.Scale
				if scale == 0 {
					scale = 1
				}
				ops = append(ops, op{uint16(pt.Index), v * scale})
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("%s has no writable analog output for %q", dev.Name, name)
		}
	}
	slices.SortFunc(ops, func(a, b op) int { return int(a.index) - int(b.index) })
	m, _, err := x.dialDNP3(ctx, 1, nil)
	if err != nil {
		return err
	}
	defer m.Close()
	for _, o := range ops {
		a := dnp3.AnalogOutput{Value: o.value}
		st, err := m.SelectOperateAnalog(ctx, o.index, analogVariation(o.value), a)
		if err := x.status(fmt.Sprintf("analog output %d", o.index), st, err); err != nil {
			return err
		}
	}
	if x.refusal != nil {
		return x.refusal
	}
	return nil
}
