package sensor

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/sensor/alert"
)

// rule inspects decoded traffic and may raise an alert.
type rule interface {
	modbus(ev *modbusEvent) (alert.Alert, bool)
}

// RuleUnauthorizedWrite is the id of the unauthorized Modbus write rule.
const RuleUnauthorizedWrite = "modbus.write.unauthorized"

// unauthorizedWrite flags Modbus writes from hosts that are not authorized
// masters (Quickdraw "Unauthorized Modbus Write").
type unauthorizedWrite struct {
	masters []netip.Addr
}

var _ rule = unauthorizedWrite{}

func isWrite(f modbus.FunctionCode) bool {
	switch f {
	case modbus.FuncWriteSingleCoil, modbus.FuncWriteSingleRegister, modbus.FuncWriteMultipleCoils,
		modbus.FuncWriteMultipleRegisters, modbus.FuncMaskWriteRegister, modbus.FuncReadWriteMultipleRegisters,
		modbus.FuncWriteFileRecord:
		return true
	}
	return false
}

func (r unauthorizedWrite) modbus(ev *modbusEvent) (alert.Alert, bool) {
	if !isWrite(ev.req.Function) || slices.Contains(r.masters, ev.src.Addr()) {
		return alert.Alert{}, false
	}
	a := alert.Alert{
		RuleID:     RuleUnauthorizedWrite,
		RuleName:   "Modbus write from unauthorized host",
		Severity:   alert.High,
		Techniques: []string{"T0836", "T0855"},
	}
	addr := int(ev.req.Address)
	a.Address = &addr
	if ev.req.Function == modbus.FuncWriteSingleRegister {
		v := int(ev.req.Value)
		a.Value = &v
		a.Message = fmt.Sprintf("%s wrote %d to holding register %d of unit %d at %s; it is not an authorized master",
			ev.src.Addr(), v, addr, ev.adu.UnitID, ev.dst)
	} else {
		a.Message = fmt.Sprintf("%s sent %s (address %d, quantity %d) to unit %d at %s; it is not an authorized master",
			ev.src.Addr(), ev.req.Function, addr, ev.req.Quantity, ev.adu.UnitID, ev.dst)
	}
	return a, true
}
