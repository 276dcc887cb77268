package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	scenario "github.com/otrange/otrange/scenarios"
	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/simulator/control"
	"github.com/otrange/otrange/simulator/plantdef"
)

// MaxFlows bounds the flows one step records; further flows are counted in
// the log only.
const MaxFlows = 1024

// execution is one step being carried out.
type execution struct {
	r   *Runner
	st  *scenario.Step
	rec *exercise.StepRecord
	src netip.Addr

	mu           sync.Mutex
	flows        []string
	flowsDropped int
	frames       int
	// accepted counts requests the target accepted (or, for scans and
	// probes, answered); refusal is the first refusal.
	accepted int
	refusal  error
}

func (x *execution) sent(n int) {
	x.mu.Lock()
	x.frames += n
	x.mu.Unlock()
}

func (x *execution) ok() {
	x.mu.Lock()
	x.accepted++
	x.mu.Unlock()
}

func (x *execution) refused(err error) {
	x.mu.Lock()
	if x.refusal == nil {
		x.refusal = err
	}
	x.mu.Unlock()
}

func (x *execution) flow(c net.Conn) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.flows) >= MaxFlows {
		x.flowsDropped++
		return
	}
	x.flows = append(x.flows, c.LocalAddr().String()+">"+c.RemoteAddr().String())
}

func (x *execution) flowList() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.flowsDropped > 0 {
		x.r.log.Info("step flows beyond the bound were not recorded", "step", x.st.ID, "dropped", x.flowsDropped)
	}
	return append([]string(nil), x.flows...)
}

// dialer returns the guarded dialer bound to the step's source, which
// records every connection it opens and, for proto, counts the application
// frames written on it: what really left, not what was meant to.
func (x *execution) dialer(proto string) func(ctx context.Context, network, address string) (net.Conn, error) {
	d := x.r.cfg.Guard.Dialer(x.src)
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := d(ctx, network, address)
		if err != nil {
			return nil, err
		}
		x.flow(c)
		if proto == "" {
			return c, nil
		}
		return &countingConn{Conn: c, x: x, proto: proto}, nil
	}
}

// countingConn counts the application frames written: every write of the
// Modbus client is one ADU; every write of the DNP3 master is one
// application fragment (its link frames), of which confirmations (function
// 0) and link-layer services are not counted.
type countingConn struct {
	net.Conn
	x     *execution
	proto string
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if n > 0 && (c.proto == protoModbus || dnp3Request(b)) {
		c.x.sent(1)
	}
	return n, err
}

// dnp3Request reports whether b starts with a link frame carrying the
// first segment of an application fragment other than a confirmation:
// 0x05 0x64, length, control, destination, source, CRC (10 octets), then
// the transport header, the application control and the function code.
func dnp3Request(b []byte) bool {
	return len(b) >= 13 && b[0] == 0x05 && b[1] == 0x64 && b[2] > 5 && b[12] != 0
}

// run carries out the step's action.
func (x *execution) run(ctx context.Context) error {
	st := x.st
	switch st.Action {
	case "inject":
		return nil
	case "wait":
		p, _ := st.Params.(*scenario.Wait)
		if p == nil {
			return fmt.Errorf("wait: no parameters")
		}
		return sleep(ctx, x.r.cfg.Clock, p.Duration.D())
	case "plant.fault":
		p, _ := st.Params.(*scenario.PlantFault)
		if p == nil {
			return fmt.Errorf("plant.fault: no parameters")
		}
		reason := "scenario " + x.r.cfg.Scenario.ID + " step " + st.ID
		return x.control(ctx, control.Action{Kind: control.InjectFault, Fault: plantFault(p), Target: p.Equipment, Reason: reason})
	case "host.down":
		p, _ := st.Params.(*scenario.HostDown)
		if p == nil {
			return fmt.Errorf("host.down: no parameters")
		}
		dev := x.r.device(st.Target)
		if dev == nil {
			return fmt.Errorf("host.down: %q is not a device of the plant", st.Target)
		}
		x.rec.Destination = dev.Address.String()
		d := p.Duration.D()
		if d <= 0 || d > time.Hour {
			d = time.Hour // "until restored": the longest the control allows
		}
		return x.control(ctx, control.Action{Kind: control.RestartDevice, Device: dev.Name, For: d, Reason: p.Reason})
	}
	src, err := x.source()
	if err != nil {
		return err
	}
	x.src = src
	x.rec.Source = src.String()
	switch p := st.Params.(type) {
	case *scenario.NetDiscover:
		return x.discover(ctx, p)
	case *scenario.ModbusRead:
		return x.modbusRead(ctx, p)
	case *scenario.ModbusWrite:
		return x.modbusWrite(ctx, p)
	case *scenario.ModbusScanUnits:
		return x.modbusScanUnits(ctx, p)
	case *scenario.ModbusScanFunctions:
		return x.modbusScanFunctions(ctx, p)
	case *scenario.ModbusScanAddresses:
		return x.modbusScanAddresses(ctx, p)
	case *scenario.ModbusDiagnostic:
		return x.modbusDiagnostic(ctx, p)
	case *scenario.ModbusIdentify:
		return x.modbusIdentify(ctx, p)
	case *scenario.ModbusFlood:
		return x.modbusFlood(ctx, p)
	case *scenario.DNP3Read:
		return x.dnp3Read(ctx, p)
	case *scenario.DNP3Operate:
		return x.dnp3Operate(ctx, p)
	case *scenario.DNP3Restart:
		return x.dnp3Restart(ctx, p)
	case *scenario.DNP3StopApplication:
		return x.dnp3StopApplication(ctx, p)
	case *scenario.DNP3Unsolicited:
		return x.dnp3Unsolicited(ctx, p)
	case *scenario.DNP3Broadcast:
		return x.dnp3Broadcast(ctx, p)
	case *scenario.DNP3SpoofResponse:
		return x.dnp3Spoof(ctx, p)
	case *scenario.PlantMode:
		return x.plantMode(ctx, p)
	case *scenario.PlantProgram:
		return x.plantProgram(ctx, p)
	}
	return fmt.Errorf("%s: parameters of type %T are not supported", st.Action, st.Params)
}

// plantFault names the scenario's fault in the plant's vocabulary
// (simulator/water fault kinds).
func plantFault(p *scenario.PlantFault) string {
	switch p.Fault {
	case "stuck_valve":
		return "stuck-actuator"
	case "failed_transmitter":
		if p.Value != nil && *p.Value == 0 {
			return "zero-transmitter"
		}
		return "frozen-transmitter"
	case "pump_trip":
		return "pump-trip"
	}
	return p.Fault
}

// control carries out a range control for the step.
func (x *execution) control(ctx context.Context, a control.Action) error {
	if x.r.cfg.Control == nil {
		return ErrNoControl
	}
	res, err := x.r.cfg.Control.Do(ctx, a)
	if err != nil {
		return fmt.Errorf("%s: %w", a, err)
	}
	x.r.log.Info("range control", "step", x.st.ID, "action", a.String(), "result", res.Message)
	x.ok()
	return nil
}

// device returns the plant's device of that name.
func (r *Runner) device(name string) *plantdef.Device {
	for i := range r.plant.Devices {
		if r.plant.Devices[i].Name == name {
			return &r.plant.Devices[i]
		}
	}
	return nil
}

// deviceAt returns the plant's device at address a.
func (r *Runner) deviceAt(a netip.Addr) *plantdef.Device {
	for i := range r.plant.Devices {
		if r.plant.Devices[i].Address == a {
			return &r.plant.Devices[i]
		}
	}
	return nil
}

// stationAddr returns the address of a device named name.
func (r *Runner) stationAddr(name string) (netip.Addr, bool) {
	if d := r.device(name); d != nil {
		return d.Address, true
	}
	return netip.Addr{}, false
}

// source returns the checked address the step acts from.
func (x *execution) source() (netip.Addr, error) {
	s := x.r.cfg.Scenario.StepSource(x.st)
	a, ok := x.r.stationAddr(s)
	if !ok {
		var err error
		if a, err = netip.ParseAddr(s); err != nil {
			return netip.Addr{}, fmt.Errorf("source %q is neither an address nor a station of the plant", s)
		}
	}
	if err := x.r.cfg.Guard.CheckAddr(a); err != nil {
		return netip.Addr{}, fmt.Errorf("source refused: %w", err)
	}
	return a.Unmap(), nil
}

// Protocols of a target.
const (
	protoModbus = "modbus"
	protoDNP3   = "dnp3"
)

// endpoint is where dev serves proto.
func (r *Runner) endpoint(dev *plantdef.Device, proto string) (netip.AddrPort, error) {
	var port int
	switch {
	case proto == protoModbus && dev.Modbus != nil:
		port = dev.Modbus.Port
	case proto == protoDNP3 && dev.DNP3 != nil:
		port = dev.DNP3.Port
	default:
		return netip.AddrPort{}, fmt.Errorf("device %s does not serve %s", dev.Name, proto)
	}
	if r.cfg.Addr != nil && (proto == protoModbus || dev.Modbus == nil) {
		if ap, ok := r.cfg.Addr(dev.Name); ok {
			return ap, nil
		}
	}
	return netip.AddrPortFrom(dev.Address, uint16(port)), nil
}

// defaultPort is a protocol's well-known port.
func defaultPort(proto string) uint16 {
	if proto == protoDNP3 {
		return 20000
	}
	return 502
}

// target resolves the step's target for proto and checks it with the
// guard: no packet leaves before this returns without error. Names that are
// not devices of the plant are refused (never resolved: a DNS query would
// leave the range).
func (x *execution) target(proto string) (netip.AddrPort, *plantdef.Device, error) {
	t := x.st.Target
	var ap netip.AddrPort
	dev := x.r.device(t)
	switch {
	case dev != nil:
		var err error
		if ap, err = x.r.endpoint(dev, proto); err != nil {
			return ap, dev, err
		}
	default:
		if a, err := netip.ParseAddrPort(t); err == nil {
			ap = a
			dev = x.r.deviceAt(a.Addr())
		} else if a, err := netip.ParseAddr(t); err == nil {
			ap = netip.AddrPortFrom(a, defaultPort(proto))
			if dev = x.r.deviceAt(a); dev != nil {
				if e, err := x.r.endpoint(dev, proto); err == nil {
					ap = e
				}
			}
		} else {
			return ap, nil, fmt.Errorf("target %q is neither a device of the plant nor an address", t)
		}
	}
	if err := x.r.cfg.Guard.CheckAddr(ap.Addr()); err != nil {
		return ap, dev, fmt.Errorf("target refused: %w", err)
	}
	x.rec.Destination = ap.String()
	return ap, dev, nil
}

// timeout reports whether err is a request timing out (as opposed to the
// connection being refused, reset or closed).
func timeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// pace waits until the i-th of a series at rate per exercise second, counted
// from start.
func pace(ctx context.Context, clk Clock, start time.Duration, i, rate int) error {
	return clk.WaitUntil(ctx, start+time.Duration(int64(i)*int64(time.Second)/int64(rate)))
}
