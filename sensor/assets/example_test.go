package assets_test

import (
	"fmt"
	"os"
	"time"

	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/assets"
)

// Example shows the wiring: records and MACs in, events out, the table the
// CLI prints.
func Example() {
	inv, err := assets.New(assets.Options{
		Sink: alert.SinkFunc(func(a alert.Alert) { fmt.Println("event:", a.RuleID, a.Message) }),
	})
	if err != nil {
		panic(err)
	}
	for i := range 12 {
		at := time.Duration(i) * time.Second
		for _, plc := range []string{"10.0.1.1:502", "10.0.1.2:502"} {
			req := mbReq(at, "10.0.2.1:40000", plc, 1, 3, 0, 10)
			inv.Observe(req, mac("02:00:00:00:02:01"), nil)
			inv.Observe(mbResp(req, 0), nil, mac("02:00:00:00:02:01"))
		}
	}
	if err := assets.WriteTable(os.Stdout, inv.Snapshot()); err != nil {
		panic(err)
	}
	// Output:
	// event: asset.new new asset 10.0.2.1 (Modbus client) first seen talking modbus
	// event: asset.new new asset 10.0.1.1 (Modbus server) first seen talking modbus
	// event: asset.new_relationship new relationship: 10.0.2.1 talks to 10.0.1.1 over modbus (first function ReadHoldingRegisters)
	// event: asset.new new asset 10.0.1.2 (Modbus server) first seen talking modbus
	// event: asset.new_relationship new relationship: 10.0.2.1 talks to 10.0.1.2 over modbus (first function ReadHoldingRegisters)
	// ADDRESS   MAC                ROLE  KINDS          UNITS     FUNCTIONS  IDENTITY  PEERS  LAST SEEN
	// 10.0.1.1  -                  PLC   modbus_server  modbus:1  mb<3       -         1      2026-05-01T08:00:11Z
	// 10.0.1.2  -                  PLC   modbus_server  modbus:1  mb<3       -         1      2026-05-01T08:00:11Z
	// 10.0.2.1  02:00:00:00:02:01  HMI   modbus_client  -         mb>3       -         2      2026-05-01T08:00:11Z
}
