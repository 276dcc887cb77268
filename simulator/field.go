package simulator

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/dnp3/outstation"
	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/simulator/logic"
	"github.com/otrange/otrange/simulator/plantdef"
	"github.com/otrange/otrange/simulator/station"
	"github.com/otrange/otrange/simulator/water"
)

// source is what a register or point shows: a process tag or a program
// variable.
type source struct {
	isTag bool
	tag   water.TagID
	v     logic.VarID
	name  string
}

// binding is one register (or 32-bit pair) or one DNP3 point.
type binding struct {
	src      source
	scale    float64
	signed   bool
	words    int
	writable bool // a master may write it (a writable variable, not read-only)
	// Modbus
	table plantdef.Table
	addr  uint16
	// DNP3
	ptype outstation.PointType
	index int
}

// field is a PLC, RTU or SIS: its program, its register or point map, its
// protocol server and its station on the wire.
type field struct {
	p        *Plant
	def      *plantdef.Device
	prog     *logic.Program
	station  *station.Station
	down     atomic.Bool // restarting: the program does not scan
	knownSum uint32      // checksum of the known-good program

	// Modbus
	bank   *modbus.Bank
	srv    *modbus.Server
	regs   []binding
	byAddr map[regKey]int // (table, address) → index in regs, both words of a pair

	// DNP3
	out  *outstation.Outstation
	pts  []binding
	byPt map[ptKey]int
}

type regKey struct {
	t plantdef.Table
	a uint16
}

type ptKey struct {
	t outstation.PointType
	i int
}

func (f *field) resolve(tag, v string) (source, error) {
	if tag != "" {
		id, ok := f.p.water.Lookup(tag)
		if !ok {
			return source{}, fmt.Errorf("%s: no process tag %q", f.def.Name, tag)
		}
		return source{isTag: true, tag: id, name: tag}, nil
	}
	id, ok := f.prog.Lookup(v)
	if !ok {
		return source{}, fmt.Errorf("%s: program %s has no variable %q", f.def.Name, f.prog.Kind(), v)
	}
	return source{v: id, name: v}, nil
}

func (f *field) varInfo(id logic.VarID) logic.VarInfo { return f.prog.Vars()[id] }

// buildModbus makes the register map, the bank and the server.
func (f *field) buildModbus() error {
	f.byAddr = map[regKey]int{}
	size := map[plantdef.Table]int{}
	for _, r := range f.def.Registers {
		src, err := f.resolve(r.Tag, r.Var)
		if err != nil {
			return err
		}
		words := max(r.Words, 1)
		b := binding{src: src, scale: r.Scale, signed: r.Signed, words: words, table: r.Table, addr: uint16(r.Address)}
		if b.scale == 0 {
			b.scale = 1
		}
		b.writable = r.Table.Writable() && !r.ReadOnly && !src.isTag && f.varInfo(src.v).Access != logic.ReadOnly
		for w := range words {
			f.byAddr[regKey{r.Table, uint16(r.Address + w)}] = len(f.regs)
		}
		f.regs = append(f.regs, b)
		size[r.Table] = max(size[r.Table], r.Address+words)
	}
	f.bank = modbus.NewBank(modbus.BankConfig{
		Coils: size[plantdef.Coil], DiscreteInputs: size[plantdef.Discrete],
		HoldingRegisters: size[plantdef.Holding], InputRegisters: size[plantdef.Input],
	})
	var id modbus.Identity
	if d := f.def.Identity; d != nil {
		id = modbus.Identity{VendorName: d.Vendor, ProductCode: d.Product, MajorMinorRevision: d.Revision, ModelName: d.Model,
			ProductName: d.Product, UserApplicationName: f.prog.Kind()}
	}
	dev, err := modbus.NewDevice(modbus.DeviceConfig{Data: modbusData{f}, Identity: id, ServerID: []byte(f.def.Name)})
	if err != nil {
		return fmt.Errorf("%s: %w", f.def.Name, err)
	}
	var h modbus.Handler = dev
	unit := uint8(f.def.Modbus.Unit)
	h = modbus.HandlerFunc(func(ctx context.Context, u uint8, req modbus.PDU) (modbus.PDU, error) {
		if u != unit && u != 0 && u != 0xFF {
			return modbus.PDU{}, modbus.ErrNoResponse // not addressed to this device: silence, as on a bus
		}
		return dev.ServeModbus(ctx, u, req)
	})
	f.srv, err = modbus.NewServer(modbus.ServerConfig{Handler: h, Allow: f.p.fw.Allow(f.def.Name),
		Logger: f.p.log.With("device", f.def.Name)})
	if err != nil {
		return err
	}
	f.p.fw.OnChange(func() { f.srv.Recheck() })
	return nil
}

// value reads what a binding shows. Called with the plant locked.
func (f *field) value(s source) float64 {
	if s.isTag {
		return f.p.water.Get(s.tag)
	}
	return f.prog.Get(s.v)
}

// raw converts a value to the register's integer, clamped to its width.
func (b *binding) raw(v float64) int64 {
	x := math.Round(v * b.scale)
	lo, hi := 0.0, 65535.0
	switch {
	case b.words == 2 && b.signed:
		lo, hi = math.MinInt32, math.MaxInt32
	case b.words == 2:
		lo, hi = 0, math.MaxUint32
	case b.signed:
		lo, hi = -32768, 32767
	}
	if math.IsNaN(x) {
		x = 0
	}
	return int64(min(max(x, lo), hi))
}

// publish copies the program's and the process's values into the bank and
// the outstation's database. Called with the plant locked, after a scan.
func (f *field) publish() {
	for i := range f.regs {
		b := &f.regs[i]
		v := f.value(b.src)
		switch b.table {
		case plantdef.Coil:
			f.bank.SetCoil(b.addr, v != 0)
		case plantdef.Discrete:
			f.bank.SetDiscrete(b.addr, v != 0)
		case plantdef.Holding, plantdef.Input:
			r := b.raw(v)
			set := f.bank.SetHolding
			if b.table == plantdef.Input {
				set = f.bank.SetInput
			}
			if b.words == 2 {
				set(b.addr, uint16(uint32(r)>>16))
				set(b.addr+1, uint16(r))
			} else {
				set(b.addr, uint16(r))
			}
		}
	}
	if f.out != nil {
		db := f.out.Database()
		for i := range f.pts {
			b := &f.pts[i]
			v := f.value(b.src)
			switch b.ptype {
			case outstation.BinaryInput, outstation.BinaryOutput:
				db.SetBool(b.ptype, b.index, v != 0)
			default:
				db.SetValue(b.ptype, b.index, v*b.scale)
			}
		}
	}
}

// modbusData serves the data functions over the bank, with the program
// deciding what the network may write.
type modbusData struct{ f *field }

// written returns the table and range a write request changes.
func written(r *modbus.Request) (plantdef.Table, uint16, uint16, bool) {
	switch r.Function {
	case modbus.FuncWriteSingleCoil:
		return plantdef.Coil, r.Address, 1, true
	case modbus.FuncWriteMultipleCoils:
		return plantdef.Coil, r.Address, r.Quantity, true
	case modbus.FuncWriteSingleRegister, modbus.FuncMaskWriteRegister:
		return plantdef.Holding, r.Address, 1, true
	case modbus.FuncWriteMultipleRegisters:
		return plantdef.Holding, r.Address, r.Quantity, true
	case modbus.FuncReadWriteMultipleRegisters:
		return plantdef.Holding, r.WriteAddress, r.WriteQuantity, true
	}
	return "", 0, 0, false
}

func exception(fc modbus.FunctionCode, code modbus.ExceptionCode) error {
	return &modbus.ExceptionError{Function: fc, Code: code}
}

// ServeModbus implements modbus.Handler.
func (d modbusData) ServeModbus(ctx context.Context, unit uint8, req modbus.PDU) (modbus.PDU, error) {
	f := d.f
	var r modbus.Request
	if err := modbus.ParseRequest(req, &r); err != nil {
		return f.bank.ServeModbus(ctx, unit, req) // the bank answers the right exception
	}
	table, addr, qty, isWrite := written(&r)
	if !isWrite {
		if r.Function == modbus.FuncWriteFileRecord {
			return modbus.PDU{}, exception(r.Function, modbus.ExIllegalFunction)
		}
		return f.bank.ServeModbus(ctx, unit, req)
	}
	// Every address written must back a writable variable.
	touched := map[int]bool{}
	for a := uint32(addr); a < uint32(addr)+uint32(qty); a++ {
		i, ok := f.byAddr[regKey{table, uint16(a)}]
		if !ok || !f.regs[i].writable {
			return modbus.PDU{}, exception(r.Function, modbus.ExIllegalDataAddress)
		}
		touched[i] = true
	}
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	if f.down.Load() {
		return modbus.PDU{}, exception(r.Function, modbus.ExServerDeviceBusy)
	}
	// Apply to the bank, then let the program accept each value; undo all
	// of it if the program refuses one.
	old := make(map[int]float64, len(touched))
	for i := range touched {
		old[i] = f.prog.Get(f.regs[i].src.v)
	}
	resp, err := f.bank.ServeModbus(ctx, unit, req)
	if err != nil {
		return resp, err
	}
	var refused error
	var done []int
	for i := range touched {
		b := &f.regs[i]
		v := f.bankValue(b)
		if err := f.prog.NetWrite(b.src.v, v); err != nil {
			refused = err
			break
		}
		done = append(done, i)
	}
	if refused != nil {
		for _, i := range done {
			f.prog.Set(f.regs[i].src.v, old[i])
		}
		f.publish() // the bank shows the program's values again
		code := modbus.ExIllegalDataValue
		switch {
		case errors.Is(refused, logic.ErrMode):
			code = modbus.ExIllegalFunction
		case errors.Is(refused, logic.ErrReadOnly), errors.Is(refused, logic.ErrUnknownVar):
			code = modbus.ExIllegalDataAddress
		}
		return modbus.PDU{}, exception(r.Function, code)
	}
	f.publish()
	return resp, nil
}

// bankValue reads a binding's value back from the bank (after a write).
func (f *field) bankValue(b *binding) float64 {
	switch b.table {
	case plantdef.Coil:
		if f.bank.Coil(b.addr) {
			return 1
		}
		return 0
	case plantdef.Holding:
		if b.words == 2 {
			u := uint32(f.bank.Holding(b.addr))<<16 | uint32(f.bank.Holding(b.addr+1))
			if b.signed {
				return float64(int32(u)) / b.scale
			}
			return float64(u) / b.scale
		}
		u := f.bank.Holding(b.addr)
		if b.signed {
			return float64(int16(u)) / b.scale
		}
		return float64(u) / b.scale
	}
	return 0
}

var pointTypes = map[plantdef.PointType]outstation.PointType{
	plantdef.BinaryInput: outstation.BinaryInput, plantdef.BinaryOutput: outstation.BinaryOutput,
	plantdef.Counter: outstation.Counter, plantdef.AnalogInput: outstation.AnalogInput,
	plantdef.AnalogOutput: outstation.AnalogOutput,
}

// buildDNP3 makes the point map and the outstation.
func (f *field) buildDNP3() error {
	f.byPt = map[ptKey]int{}
	var pts outstation.Points
	lists := map[outstation.PointType]*[]outstation.PointConfig{
		outstation.BinaryInput: &pts.BinaryInputs, outstation.BinaryOutput: &pts.BinaryOutputs,
		outstation.Counter: &pts.Counters, outstation.AnalogInput: &pts.AnalogInputs,
		outstation.AnalogOutput: &pts.AnalogOutputs,
	}
	for _, p := range f.def.Points {
		src, err := f.resolve(p.Tag, p.Var)
		if err != nil {
			return err
		}
		t := pointTypes[p.Type]
		b := binding{src: src, scale: p.Scale, ptype: t, index: p.Index}
		if b.scale == 0 {
			b.scale = 1
		}
		b.writable = p.Type.Output() && !p.ReadOnly && !src.isTag && f.varInfo(src.v).Access != logic.ReadOnly
		f.byPt[ptKey{t, p.Index}] = len(f.pts)
		f.pts = append(f.pts, b)
		l := lists[t]
		for len(*l) <= p.Index {
			*l = append(*l, outstation.PointConfig{})
		}
		(*l)[p.Index] = outstation.PointConfig{Class: uint8(p.Class), Deadband: p.Deadband * b.scale}
	}
	var err error
	f.out, err = outstation.New(outstation.Config{
		Address: uint16(f.def.DNP3.Address), MasterAddress: uint16(f.def.DNP3.Master), Points: pts,
		Unsolicited: f.def.DNP3.Unsolicited, Allow: f.p.fw.Allow(f.def.Name), Controls: dnp3Controls{f},
		ColdRestartDelay: f.def.RestartTime, WarmRestartDelay: f.def.RestartTime / 2,
		Logger: f.p.log.With("device", f.def.Name),
	})
	return err
}

// dnp3Controls carries out CROBs and analog outputs through the program.
type dnp3Controls struct{ f *field }

func (c dnp3Controls) operate(op outstation.Op, t outstation.PointType, index uint16, v float64) dnp3.CommandStatus {
	f := c.f
	i, ok := f.byPt[ptKey{t, int(index)}]
	if !ok || !f.pts[i].writable {
		return dnp3.StatusNotSupported
	}
	b := &f.pts[i]
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	if f.down.Load() {
		return dnp3.StatusHardwareError
	}
	old := f.prog.Get(b.src.v)
	err := f.prog.NetWrite(b.src.v, v)
	if err == nil && op == outstation.OpSelect {
		f.prog.Set(b.src.v, old) // a select only checks
	}
	switch {
	case err == nil:
		f.publish()
		return dnp3.StatusSuccess
	case errors.Is(err, logic.ErrMode):
		return dnp3.StatusLocal
	case errors.Is(err, logic.ErrRange):
		return dnp3.StatusOutOfRange
	}
	return dnp3.StatusNotSupported
}

func (c dnp3Controls) OperateCROB(op outstation.Op, index uint16, crob dnp3.CROB) dnp3.CommandStatus {
	var v float64
	switch {
	case crob.Code.TCC() == dnp3.TCCClose:
		v = 1
	case crob.Code.TCC() == dnp3.TCCTrip:
		v = 0
	case crob.Code.Op() == dnp3.OpLatchOn || crob.Code.Op() == dnp3.OpPulseOn:
		v = 1
	case crob.Code.Op() == dnp3.OpLatchOff || crob.Code.Op() == dnp3.OpPulseOff:
		v = 0
	default:
		return dnp3.StatusNotSupported
	}
	return c.operate(op, outstation.BinaryOutput, index, v)
}

func (c dnp3Controls) OperateAnalog(op outstation.Op, index uint16, a dnp3.AnalogOutput) dnp3.CommandStatus {
	i, ok := c.f.byPt[ptKey{outstation.AnalogOutput, int(index)}]
	if !ok {
		return dnp3.StatusNotSupported
	}
	return c.operate(op, outstation.AnalogOutput, index, a.Value/c.f.pts[i].scale)
}
