package app

import (
	"math"
	"net/netip"
	"testing"

	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/rules"
	"github.com/otrange/otrange/simulator"
	"github.com/otrange/otrange/simulator/plantdef"
)

// TestPolicyFromPlant: the policy derived from the default plant lets the
// HMI write any writable register (setpoints within their limits), and the
// engineering workstation only its routine: reads, identification and
// setpoints written back, never a controller's mode (TRITON and PIPEDREAM
// change it from the workstation).
func TestPolicyFromPlant(t *testing.T) {
	plant, err := simulator.New(simulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	def := plant.Def()
	addr := func(kind plantdef.Kind, name string) netip.Addr {
		for _, d := range def.Devices {
			if d.Kind == kind || d.Name == name {
				return d.Address
			}
		}
		t.Fatalf("no %s %s in the default plant", kind, name)
		return netip.Addr{}
	}
	hmi, ews, sis := addr(plantdef.KindHMI, ""), addr(plantdef.KindEWS, ""), addr("", "sis")
	treatment := addr("", "plc-treatment")
	var mode, setpoint *plantdef.Register
	for _, d := range def.Devices {
		for i := range d.Registers {
			r := &d.Registers[i]
			switch {
			case d.Name == "sis" && r.Var == "mode" && r.Table == plantdef.Holding:
				mode = r
			case d.Name == "plc-treatment" && setpoint == nil && len(r.Limits) == 2 && r.Table == plantdef.Holding && r.Var != "mode":
				setpoint = r
			}
		}
	}
	if mode == nil || setpoint == nil {
		t.Fatal("the default plant has no SIS mode register or no treatment setpoint with limits")
	}
	scale := setpoint.Scale
	if scale == 0 {
		scale = 1
	}
	inLimits := uint16(math.Round((setpoint.Limits[0] + setpoint.Limits[1]) / 2 * scale))

	var got []alert.Alert
	eng, err := rules.New(rules.Config{Policy: Policy(plant), Sink: alert.SinkFunc(func(a alert.Alert) { got = append(got, a) })})
	if err != nil {
		t.Fatal(err)
	}
	write := func(src, dst netip.Addr, reg int, v uint16) []string {
		got = nil
		r := analyze.Record{Flow: analyze.Flow{Src: netip.AddrPortFrom(src, 40000), Dst: netip.AddrPortFrom(dst, 502)},
			Protocol: analyze.ProtoModbus, Dir: analyze.Request, Valid: true}
		r.Modbus.Function, r.Modbus.UnitID, r.Modbus.Address, r.Modbus.Quantity = 6, 1, uint16(reg), 1
		r.Modbus.Values[0], r.Modbus.NValues = v, 1
		eng.Evaluate(&r)
		var ids []string
		for _, a := range got {
			ids = append(ids, a.RuleID)
		}
		return ids
	}
	if ids := write(hmi, sis, mode.Address, 1); len(ids) != 0 {
		t.Errorf("the HMI changing the SIS mode raised %v", ids)
	}
	if ids := write(ews, treatment, setpoint.Address, inLimits); len(ids) != 0 {
		t.Errorf("the workstation writing a setpoint back within its limits raised %v", ids)
	}
	if ids := write(ews, sis, mode.Address, 1); len(ids) != 1 || ids[0] != rules.PolicyWriteRange {
		t.Errorf("the workstation changing the SIS mode raised %v, want %s", ids, rules.PolicyWriteRange)
	}
}
