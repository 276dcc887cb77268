package water

import (
	"bytes"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestDecodeYAML: a plant definition's process section decodes strictly
// over the defaults.
func TestDecodeYAML(t *testing.T) {
	src := `
seed: 7
raw: {area: 55, height: 6, initial: 2, suction_min: 1}
intake_pumps:
  - {rated_flow: 300, variable_speed: true, run: true, speed: 90, dry_run_trip: 45s, wear_per_hour: 0.001}
filters: {count: 4, backwash_tau: 3m}
network: {pattern: [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}
`
	c := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.Seed != 7 || c.Raw.Area != 55 || len(c.IntakePumps) != 1 || c.IntakePumps[0].DryRunTrip != 45*time.Second ||
		c.Filters.Count != 4 || c.Filters.MaxFlow != 500 || c.Filters.BackwashTau != 3*time.Minute || c.Network.Pattern[23] != 1 {
		t.Fatalf("decoded %+v", c)
	}
	p := newPlant(t, c)
	if _, ok := p.Lookup("filter4.dp"); !ok {
		t.Fatal("four filters, no filter4.dp")
	}
	bad := DefaultConfig()
	dec = yaml.NewDecoder(bytes.NewReader([]byte("raw: {aera: 3}\n")))
	dec.KnownFields(true)
	if err := dec.Decode(&bad); err == nil {
		t.Fatal("unknown key accepted")
	}
}
