package simulator

import (
	"fmt"
	"strings"

	"github.com/otrange/otrange/internal/rangenet"
	"github.com/otrange/otrange/simulator/plantdef"
	"github.com/otrange/otrange/simulator/water"
)

// ScaledDef is a large plant for load tests: plcs PLCs (intake, treatment
// and distribution programs in turn, over one scaled process) and rtus
// booster RTUs, with an HMI polling all of them, on 127.201.0.0/16. The
// process configuration to run it with is returned beside it.
func ScaledDef(plcs, rtus int) (*plantdef.Plant, water.Config, error) {
	if plcs < 1 || plcs > 250*4 || rtus < 0 || rtus > 250 {
		return nil, water.Config{}, fmt.Errorf("scaled plant: %d PLCs and %d RTUs out of bounds", plcs, rtus)
	}
	wcfg := water.ScaledConfig(max(plcs, rtus*10))
	var b strings.Builder
	b.WriteString("plant: {name: Scaled load-test plant, seed: 7, tick: 100ms}\ndevices:\n")
	programs := []string{"intake", "treatment", "distribution"}
	for i := range plcs {
		prog := programs[i%len(programs)]
		fmt.Fprintf(&b, `  - name: plc-%03d
    kind: plc
    address: 127.201.%d.%d
    modbus: {port: 502, unit: 1}
    program: %s
    registers:
      - {table: holding, address: 0, var: mode}
      - {table: holding, address: 1, var: alarms, readonly: true}
      - {table: holding, address: 2, var: checksum, words: 2, readonly: true}
`, i, 10+i/250, 1+i%250, prog)
		switch prog {
		case "intake":
			b.WriteString("      - {table: holding, address: 4, var: level.start, scale: 1000}\n      - {table: input, address: 0, var: level, scale: 1000}\n      - {table: coil, address: 0, var: auto}\n")
		case "treatment":
			b.WriteString("      - {table: holding, address: 4, var: naoh.dose}\n      - {table: input, address: 0, var: treated.ph, scale: 100}\n      - {table: coil, address: 0, var: auto}\n")
		default:
			b.WriteString("      - {table: holding, address: 4, var: pressure.sp, scale: 100}\n      - {table: input, address: 0, var: pressure, scale: 100}\n      - {table: coil, address: 0, var: auto}\n")
		}
	}
	for i := range rtus {
		fmt.Fprintf(&b, `  - name: rtu-%03d
    kind: rtu
    address: 127.201.20.%d
    dnp3: {port: 20000, address: %d, master: 1, unsolicited: true}
    program: booster
    points:
      - {type: analog_input, index: 0, var: level, class: 2, deadband: 0.02}
      - {type: analog_input, index: 1, var: flow, class: 2, deadband: 2}
      - {type: binary_input, index: 0, var: pump1.running}
      - {type: binary_output, index: 0, var: pump1.cmd}
      - {type: analog_output, index: 0, var: level.start}
`, i, 1+i, 10+i)
	}
	b.WriteString("  - {name: hmi, kind: hmi, address: 127.201.30.10, poll_interval: 1s, integrity_interval: 60s, event_interval: 5s}\n")
	cat, err := Catalog(wcfg)
	if err != nil {
		return nil, wcfg, err
	}
	def, err := plantdef.Parse("scaled.yaml", []byte(b.String()), cat, rangenet.New(nil).CheckAddr)
	return def, wcfg, err
}
