package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"

	"github.com/otrange/otrange/protocol/modbus"
	scenario "github.com/otrange/otrange/scenarios"
	"github.com/otrange/otrange/simulator/logic"
	"github.com/otrange/otrange/simulator/plantdef"
)

// dialModbus resolves and checks the target, then connects from the step's
// source.
func (x *execution) dialModbus(ctx context.Context) (*modbus.Client, *plantdef.Device, error) {
	ap, dev, err := x.target(protoModbus)
	if err != nil {
		return nil, dev, err
	}
	c, err := modbus.Dial(ctx, modbus.DialConfig{Address: ap.String(), Dial: x.dialer(protoModbus), Timeout: x.r.cfg.Timeout})
	if err != nil {
		return nil, dev, err
	}
	return c, dev, nil
}

// do sends one request. An exception answer is a refusal (recorded, and
// returned as the error with answered true); any other error is the
// connection's (refused, reset, closed, timed out).
func (x *execution) do(ctx context.Context, c *modbus.Client, unit uint8, req modbus.PDU) (resp modbus.PDU, answered bool, err error) {
	resp, err = c.Do(ctx, unit, req)
	var ex *modbus.ExceptionError
	switch {
	case errors.As(err, &ex):
		return resp, true, err
	case err != nil:
		return resp, false, err
	}
	return resp, true, nil
}

// strict sends a request whose exception is a refusal of the step.
func (x *execution) strict(ctx context.Context, c *modbus.Client, unit uint8, req modbus.PDU) (modbus.PDU, error) {
	resp, answered, err := x.do(ctx, c, unit, req)
	switch {
	case err == nil:
		x.ok()
	case answered:
		x.refused(fmt.Errorf("%v refused: %w", req.Function, err))
		return resp, nil
	}
	return resp, err
}

// probe sends a scan request: any answer, exceptions included, counts; a
// request without answer in time is skipped.
func (x *execution) probe(ctx context.Context, c *modbus.Client, unit uint8, req modbus.PDU) error {
	pctx, cancel := context.WithTimeout(ctx, x.r.cfg.ProbeTimeout)
	defer cancel()
	_, answered, err := x.do(pctx, c, unit, req)
	switch {
	case answered:
		x.ok()
		return nil
	case timeout(err) && ctx.Err() == nil:
		return nil
	}
	return err
}

func readPDU(table string, addr uint16, n int) modbus.PDU {
	switch table {
	case "coil":
		return modbus.ReadCoils(addr, uint16(n))
	case "discrete":
		return modbus.ReadDiscreteInputs(addr, uint16(n))
	case "input":
		return modbus.ReadInputRegisters(addr, uint16(n))
	}
	return modbus.ReadHoldingRegisters(addr, uint16(n))
}

func (x *execution) modbusRead(ctx context.Context, p *scenario.ModbusRead) error {
	c, _, err := x.dialModbus(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	for i := range p.Repeat {
		if i > 0 {
			if err := sleep(ctx, x.r.cfg.Clock, p.Interval.D()); err != nil {
				return err
			}
		}
		if _, err := x.strict(ctx, c, p.Unit, readPDU(p.Table, p.Address, p.Count)); err != nil {
			return err
		}
	}
	return nil
}

// writePDU builds the write of values from addr: FC 6/5 or FC 16/15.
func writePDU(table string, addr uint16, values []int, multiple bool) modbus.PDU {
	if table == "coil" {
		if !multiple {
			return modbus.WriteSingleCoil(addr, values[0] != 0)
		}
		bits := make([]bool, len(values))
		for i, v := range values {
			bits[i] = v != 0
		}
		return modbus.WriteMultipleCoils(addr, bits)
	}
	if !multiple {
		return modbus.WriteSingleRegister(addr, uint16(values[0]))
	}
	regs := make([]uint16, len(values))
	for i, v := range values {
		regs[i] = uint16(v)
	}
	return modbus.WriteMultipleRegisters(addr, regs)
}

func (x *execution) modbusWrite(ctx context.Context, p *scenario.ModbusWrite) error {
	c, _, err := x.dialModbus(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	req := writePDU(p.Table, p.Address, p.Values, p.Multiple())
	for i := range p.Repeat {
		if i > 0 {
			if err := sleep(ctx, x.r.cfg.Clock, p.Interval.D()); err != nil {
				return err
			}
		}
		if _, err := x.strict(ctx, c, p.Unit, req); err != nil {
			return err
		}
	}
	return nil
}

func (x *execution) modbusScanUnits(ctx context.Context, p *scenario.ModbusScanUnits) error {
	c, _, err := x.dialModbus(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	for u := int(p.From); u <= int(p.To); u++ {
		if u > int(p.From) {
			if err := sleep(ctx, x.r.cfg.Clock, p.Interval.D()); err != nil {
				return err
			}
		}
		req := modbus.PDU{Function: modbus.FunctionCode(p.Function), Data: []byte{byte(p.Address >> 8), byte(p.Address), 0, 1}}
		if err := x.probe(ctx, c, uint8(u), req); err != nil {
			return err
		}
	}
	return nil
}

// functionProbe is the request that probes function code fc: a harmless,
// well-formed request for the read and diagnostic functions, and for every
// other code a request without data, which a device that supports the code
// refuses with "illegal data value" and one that does not with "illegal
// function" (writes are never carried out).
func functionProbe(fc uint8) modbus.PDU {
	switch fc {
	case 1, 2, 3, 4:
		return readPDU([]string{"", "coil", "discrete", "holding", "input"}[fc], 0, 1)
	case 8:
		return modbus.Diagnostic(0, 0) // return query data
	case 43:
		return modbus.ReadDeviceIdentification(1, 0)
	}
	return modbus.PDU{Function: modbus.FunctionCode(fc)}
}

func (x *execution) modbusScanFunctions(ctx context.Context, p *scenario.ModbusScanFunctions) error {
	c, _, err := x.dialModbus(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	for i, fc := range p.FunctionCodes() {
		if i > 0 {
			if err := sleep(ctx, x.r.cfg.Clock, p.Interval.D()); err != nil {
				return err
			}
		}
		if err := x.probe(ctx, c, p.Unit, functionProbe(fc)); err != nil {
			return err
		}
	}
	return nil
}

func (x *execution) modbusScanAddresses(ctx context.Context, p *scenario.ModbusScanAddresses) error {
	c, _, err := x.dialModbus(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	for addr := int(p.From); addr <= int(p.To); addr += p.Block {
		if addr > int(p.From) {
			if err := sleep(ctx, x.r.cfg.Clock, p.Interval.D()); err != nil {
				return err
			}
		}
		n := min(p.Block, int(p.To)-addr+1)
		if err := x.probe(ctx, c, p.Unit, readPDU(p.Table, uint16(addr), n)); err != nil {
			return err
		}
	}
	return nil
}

func (x *execution) modbusDiagnostic(ctx context.Context, p *scenario.ModbusDiagnostic) error {
	c, _, err := x.dialModbus(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	req := modbus.Diagnostic(p.Code(), p.Data)
	if p.Sub == "force_listen_only" {
		// The device answers nothing once it listens only: send and go.
		b := modbus.AppendADU(nil, &modbus.ADU{TransactionID: 1, UnitID: p.Unit, PDU: req})
		if err := c.WriteRaw(b); err != nil {
			return err
		}
		x.ok()
		return nil
	}
	_, err = x.strict(ctx, c, p.Unit, req)
	return err
}

func (x *execution) modbusIdentify(ctx context.Context, p *scenario.ModbusIdentify) error {
	c, _, err := x.dialModbus(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := x.strict(ctx, c, p.Unit, modbus.ReadDeviceIdentification(p.Code(), p.Object))
	if err == nil && resp.Err() == nil {
		var r modbus.Response
		if modbus.ParseResponse(resp, &r) == nil {
			n := 0
			for range r.DeviceObjects {
				n++
			}
			x.r.log.Info("device identification", "step", x.st.ID, "objects", n)
		}
	}
	return err
}

// MaxFloodRequests bounds the requests of one modbus.flood step.
const MaxFloodRequests = 1_000_000

func (x *execution) modbusFlood(ctx context.Context, p *scenario.ModbusFlood) error {
	ap, _, err := x.target(protoModbus)
	if err != nil {
		return err
	}
	clk := x.r.cfg.Clock
	total := min(int(float64(p.Rate)*p.Duration.D().Seconds()), MaxFloodRequests)
	start := clk.Now()
	if p.Mode == "connections" {
		var open []*modbus.Client
		defer func() {
			for _, c := range open {
				c.Close()
			}
		}()
		for i := range total {
			if err := pace(ctx, clk, start, i, p.Rate); err != nil {
				return err
			}
			if len(open) >= p.Connections {
				open[0].Close()
				open = open[1:]
			}
			x.sent(1) // a connection, not a frame: counted as the flood's unit
			c, err := modbus.Dial(ctx, modbus.DialConfig{Address: ap.String(), Dial: x.dialer(""), Timeout: x.r.cfg.Timeout})
			if err != nil {
				if x.accepted == 0 {
					return err
				}
				x.refused(err)
				continue
			}
			x.ok()
			open = append(open, c)
		}
		return nil
	}
	conns := make([]*modbus.Client, 0, p.Connections)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range p.Connections {
		c, err := modbus.Dial(ctx, modbus.DialConfig{Address: ap.String(), Dial: x.dialer(protoModbus), Timeout: x.r.cfg.Timeout})
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	req := modbus.ReadHoldingRegisters(p.Address, uint16(p.Count))
	for i := range total {
		if err := pace(ctx, clk, start, i, p.Rate); err != nil {
			return err
		}
		_, answered, err := x.do(ctx, conns[i%len(conns)], p.Unit, req)
		switch {
		case answered:
			x.ok()
		case timeout(err) && ctx.Err() == nil:
			// the device is swamped: the flood goes on
		default:
			return err
		}
	}
	return nil
}

// register finds the holding register bound to program variable name.
func register(dev *plantdef.Device, name string) (plantdef.Register, bool) {
	for _, r := range dev.Registers {
		if r.Var == name && r.Table == plantdef.Holding {
			return r, true
		}
	}
	return plantdef.Register{}, false
}

// encode turns an engineering value into the register words of r.
func encode(r plantdef.Register, v float64) ([]uint16, error) {
	raw := math.Round(v * r.Scale)
	switch {
	case r.Words == 2:
		if r.Signed && (raw < math.MinInt32 || raw > math.MaxInt32) || !r.Signed && (raw < 0 || raw > math.MaxUint32) {
			return nil, fmt.Errorf("%s = %v does not fit its 32-bit register", r.Var, v)
		}
		u := uint32(int64(raw))
		return []uint16{uint16(u >> 16), uint16(u)}, nil
	case r.Signed:
		if raw < math.MinInt16 || raw > math.MaxInt16 {
			return nil, fmt.Errorf("%s = %v does not fit its register", r.Var, v)
		}
		return []uint16{uint16(int16(raw))}, nil
	}
	if raw < 0 || raw > math.MaxUint16 {
		return nil, fmt.Errorf("%s = %v does not fit its register", r.Var, v)
	}
	return []uint16{uint16(raw)}, nil
}

// modeValue is the value of a mode in the controllers' mode variable.
func modeValue(mode string) (float64, error) {
	m, err := logic.ParseMode(mode)
	return float64(m), err
}

// plantMode switches the target's mode the way an engineering tool does: a
// Modbus write of the mode register (holding register bound to "mode"), or
// for a DNP3 station a select/operate of the analog output bound to it.
func (x *execution) plantMode(ctx context.Context, p *scenario.PlantMode) error {
	v, err := modeValue(p.Mode)
	if err != nil {
		return err
	}
	dev := x.r.device(x.st.Target)
	if dev == nil {
		if ap, e := netip.ParseAddr(x.st.Target); e == nil {
			dev = x.r.deviceAt(ap)
		}
	}
	if dev == nil {
		return fmt.Errorf("plant.mode: %q is not a device of the plant", x.st.Target)
	}
	if dev.Modbus != nil {
		reg, ok := register(dev, "mode")
		if !ok {
			return fmt.Errorf("plant.mode: %s has no holding register for its mode", dev.Name)
		}
		words, err := encode(reg, v)
		if err != nil {
			return err
		}
		c, _, err := x.dialModbus(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = x.strict(ctx, c, uint8(dev.Modbus.Unit), writeWords(uint16(reg.Address), words))
		return err
	}
	return x.dnp3Parameters(ctx, dev, map[string]float64{"mode": v})
}

// writeWords is FC 6 for one word, FC 16 for more.
func writeWords(addr uint16, words []uint16) modbus.PDU {
	if len(words) == 1 {
		return modbus.WriteSingleRegister(addr, words[0])
	}
	return modbus.WriteMultipleRegisters(addr, words)
}

// plantProgram downloads the program's parameters as an engineering tool
// does over Modbus: the registers bound to the parameters, in address
// order, contiguous ones in one write multiple registers (FC 16); then,
// with Restart, the mode register set back to remote so the program runs
// again. A DNP3 station gets its analog outputs operated instead.
func (x *execution) plantProgram(ctx context.Context, p *scenario.PlantProgram) error {
	dev := x.r.device(x.st.Target)
	if dev == nil {
		if ap, e := netip.ParseAddr(x.st.Target); e == nil {
			dev = x.r.deviceAt(ap)
		}
	}
	if dev == nil {
		return fmt.Errorf("plant.program: %q is not a device of the plant", x.st.Target)
	}
	if dev.Modbus == nil {
		params := maps.Clone(p.Parameters)
		if err := x.dnp3Parameters(ctx, dev, params); err != nil || !p.Restart {
			return err
		}
		v, _ := modeValue("remote")
		return x.dnp3Parameters(ctx, dev, map[string]float64{"mode": v})
	}
	type write struct {
		addr  uint16
		words []uint16
	}
	var writes []write
	for name, v := range p.Parameters {
		reg, ok := register(dev, name)
		if !ok || reg.ReadOnly {
			return fmt.Errorf("plant.program: %s has no writable holding register for %q", dev.Name, name)
		}
		words, err := encode(reg, v)
		if err != nil {
			return fmt.Errorf("plant.program: %w", err)
		}
		writes = append(writes, write{uint16(reg.Address), words})
	}
	slices.SortFunc(writes, func(a, b write) int { return int(a.addr) - int(b.addr) })
	// Merge contiguous registers into blocks of at most 123.
	var blocks []write
	for _, w := range writes {
		if n := len(blocks); n > 0 {
			b := &blocks[n-1]
			if int(b.addr)+len(b.words) == int(w.addr) && len(b.words)+len(w.words) <= 123 {
				b.words = append(b.words, w.words...)
				continue
			}
		}
		blocks = append(blocks, write{w.addr, slices.Clone(w.words)})
	}
	c, _, err := x.dialModbus(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	unit := uint8(dev.Modbus.Unit)
	for _, b := range blocks {
		if _, err := x.strict(ctx, c, unit, modbus.WriteMultipleRegisters(b.addr, b.words)); err != nil {
			return err
		}
	}
	if x.refusal != nil {
		return x.refusal // the download was refused: no restart
	}
	if p.Restart {
		reg, ok := register(dev, "mode")
		if !ok {
			return fmt.Errorf("plant.program: %s has no holding register for its mode", dev.Name)
		}
		v, _ := modeValue("remote")
		words, err := encode(reg, v)
		if err != nil {
			return err
		}
		_, err = x.strict(ctx, c, unit, writeWords(uint16(reg.Address), words))
		return err
	}
	return nil
}
