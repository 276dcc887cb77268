package app

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/otrange/otrange/simulator"
	"github.com/otrange/otrange/simulator/plantdef"
)

// TestLiveBaselineQuiet runs the range with its sensor live on lo: after a
// short learning period the plant's own traffic (HMI polling, unsolicited
// responses, engineering maintenance) raises no alert at all, and the asset
// inventory knows the plant's hosts by role.
func TestLiveBaselineQuiet(t *testing.T) {
	cfg := testConfig(t, 79)
	def, err := simulator.LoadDef("")
	if err != nil {
		t.Fatal(err)
	}
	for i := range def.Devices {
		if def.Devices[i].Kind == plantdef.KindEWS {
			def.Devices[i].MaintenanceInterval = 2 * time.Second
		}
	}
	cfg.Plant.Def = def
	cfg.BaselineLearn = 10 * time.Second
	info := startRange(t, cfg)
	if !info.Sensor.Running {
		if os.Getenv("CI") != "" {
			t.Fatalf("sensor is off under CI: %s", info.Sensor.Reason)
		}
		t.Skipf("sensor cannot capture here: %s", info.Sensor.Reason)
	}
	time.Sleep(22 * time.Second) // learning, then as long again watching
	var alerts []map[string]any
	getJSON(t, info.URL+"api/alerts", &alerts)
	if len(alerts) != 0 {
		t.Errorf("%d alerts on the plant's own traffic; first: %v", len(alerts), alerts[0])
	}
	var inv []struct {
		Address string `json:"address"`
		Role    string `json:"role"`
	}
	getJSON(t, info.URL+"api/assets", &inv)
	roles := map[string]string{}
	for _, a := range inv {
		roles[a.Address] = a.Role
	}
	for addr, want := range map[string]string{"127.79.1.10": "plc", "127.79.1.30": "rtu", "127.79.2.10": "hmi", "127.79.2.20": "engineering_workstation"} {
		if roles[addr] != want {
			t.Errorf("asset %s: role %q, want %q (inventory: %v)", addr, roles[addr], want, roles)
		}
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
