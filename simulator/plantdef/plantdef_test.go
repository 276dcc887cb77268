package plantdef

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otrange/otrange/internal/rangenet"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden .err files")

// testCatalog has the tags and programs the default plant uses.
var testCatalog = MapCatalog{
	Tags: map[string]TagSpec{
		"raw.level": {Min: 0, Max: 5}, "intake.flow": {Min: 0, Max: 500},
		"intake.pump1.hours": {Min: 0, Max: 65535},
		"intake.pump1.run":   {Bool: true}, "intake.pump2.run": {Bool: true},
		"treated.ph": {Min: 0, Max: 14}, "treated.chlorine": {Min: 0, Max: 20},
		"treated.flow": {Min: 0, Max: 500}, "treated.unsafe": {Bool: true},
		"dosing.naoh.rate": {Min: 0, Max: 100}, "dosing.chlorine.rate": {Min: 0, Max: 50},
		"filter.dp": {Min: 0, Max: 5}, "filter.turbidity": {Min: 0, Max: 100}, "filter.backwash": {Bool: true},
		"clearwell.level":       {Min: 0, Max: 6},
		"distribution.pressure": {Min: 0, Max: 16}, "distribution.flow": {Min: 0, Max: 600},
		"distribution.pump1.run": {Bool: true}, "distribution.pump2.run": {Bool: true},
		"reservoir.level": {Min: 0, Max: 8}, "booster.flow": {Min: 0, Max: 300},
		"booster.pump1.run": {Bool: true}, "booster.pump2.run": {Bool: true},
		"booster.pump1.starts": {Min: 0, Max: 1e6},
		"outside.temperature":  {Min: -40, Max: 50},
	},
	Programs: map[string]map[string]VarSpec{
		"intake": {
			"start_level": {Writable: true, Min: 0, Max: 5}, "stop_level": {Writable: true, Min: 0, Max: 5},
			"alarm_l": {Writable: true, Min: 0, Max: 5}, "alarm_h": {Writable: true, Min: 0, Max: 5},
			"alarm_hh": {Writable: true, Min: 0, Max: 5}, "auto": {Writable: true, Bool: true},
			"pump1_cmd": {Writable: true, Bool: true}, "pump2_cmd": {Writable: true, Bool: true},
			"alarm_high": {Bool: true}, "alarm_low": {Bool: true}, "level": {Min: 0, Max: 5},
		},
		"treatment": {
			"ph_setpoint": {Writable: true, Min: 6, Max: 9}, "chlorine_setpoint": {Writable: true, Min: 0, Max: 5},
			"chlorine_max": {Writable: true, Min: 0, Max: 10}, "dosing_enable": {Writable: true, Bool: true},
			"overdose_alarm": {Bool: true},
		},
		"filter": {
			"backwash_dp": {Writable: true, Min: 0, Max: 3}, "backwash_cmd": {Writable: true, Bool: true},
		},
		"distribution": {
			"pressure_setpoint": {Writable: true, Min: 0, Max: 10}, "pressure_low": {Writable: true, Min: 0, Max: 10},
			"pump1_cmd": {Writable: true, Bool: true}, "pump2_cmd": {Writable: true, Bool: true},
			"low_pressure_alarm": {Bool: true},
		},
		"booster": {
			"start_level": {Writable: true, Min: 0, Max: 8}, "stop_level": {Writable: true, Min: 0, Max: 8},
			"pump1_cmd": {Writable: true, Bool: true}, "pump2_cmd": {Writable: true, Bool: true},
		},
		"sis": {
			"trip_level_hh": {Writable: true, Min: 0, Max: 5}, "trip_chlorine": {Writable: true, Min: 0, Max: 10},
			"trip_pressure": {Writable: true, Min: 0, Max: 16}, "reset": {Writable: true, Bool: true},
			"bypass": {Writable: true, Bool: true}, "tripped": {Bool: true},
		},
	},
}

var guard = rangenet.New(nil).CheckAddr

func TestDefault(t *testing.T) {
	p, err := Default(testCatalog, guard)
	if err != nil {
		t.Fatalf("default plant: %v", err)
	}
	if p.Meta.Name != "Riverside Water Treatment" || p.Meta.Tick != 100*time.Millisecond || p.Meta.Seed != 42 {
		t.Errorf("meta = %+v", p.Meta)
	}
	kinds := map[Kind]int{}
	for _, d := range p.Devices {
		kinds[d.Kind]++
		if d.Line == 0 {
			t.Errorf("%s: no line", d.Name)
		}
	}
	want := map[Kind]int{KindPLC: 4, KindSIS: 1, KindRTU: 1, KindHMI: 1, KindEWS: 1, KindHistorian: 1}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("kinds = %v, want %v", kinds, want)
	}
	hmi, _ := p.Device("hmi")
	if got := strings.Join(hmi.Polls, ","); got != "plc-intake,plc-treatment,plc-filter,plc-distribution,sis,rtu-reservoir" {
		t.Errorf("hmi polls (default: every field device) = %s", got)
	}
	intake, _ := p.Device("plc-intake")
	if intake.Address != netip.MustParseAddr("127.10.1.10") || intake.Modbus.Port != 502 || intake.Modbus.FallbackPort != 5020 ||
		intake.RestartTime != 8*time.Second || intake.Mode != ModeRun || intake.Parameters["auto"] != 1 {
		t.Errorf("plc-intake = %+v", intake)
	}
	// Defaults: scale 1 on a register without one, none on bits.
	for _, r := range intake.Registers {
		if r.Tag == "intake.pump1.hours" && r.Scale != 1 {
			t.Errorf("default scale = %g", r.Scale)
		}
		if r.Table.Bit() && r.Scale != 0 {
			t.Errorf("bit register with scale %g", r.Scale)
		}
	}
	rtu, _ := p.Device("rtu-reservoir")
	classes := map[PointType]int{}
	for _, pt := range rtu.Points {
		classes[pt.Type] = pt.Class
	}
	if !reflect.DeepEqual(classes, map[PointType]int{AnalogInput: 2, Counter: 3, BinaryInput: 1, BinaryOutput: 0, AnalogOutput: 0}) {
		t.Errorf("point classes = %v", classes)
	}
	hist, _ := p.Device("historian")
	if hist.Interval != time.Second || hist.Retention != 168*time.Hour || len(hist.Tags) != 13 {
		t.Errorf("historian = %+v", hist)
	}
	ews, _ := p.Device("ews")
	if ews.MaintenanceInterval != 10*time.Minute || len(ews.Targets) != 6 {
		t.Errorf("ews = %+v", ews)
	}

	// The process section decodes strictly into the model's configuration.
	type tank struct{ Area, Height, Level, Demand float64 }
	var proc struct {
		RawTank     tank `yaml:"raw_tank"`
		IntakePumps struct {
			Count int
			Flow  float64
		} `yaml:"intake_pumps"`
		Dosing struct {
			NaOH          map[string]float64 `yaml:"naoh"`
			Chlorine      map[string]float64
			RawPH         float64 `yaml:"raw_ph"`
			ChlorineDecay float64 `yaml:"chlorine_decay"`
		}
		Filters      map[string]float64
		ClearWell    tank `yaml:"clear_well"`
		Distribution map[string]float64
		Reservoir    tank
	}
	if err := p.DecodeProcess(&proc); err != nil {
		t.Fatalf("decode process: %v", err)
	}
	if proc.RawTank.Area != 40 || proc.Reservoir.Demand != 60 || proc.IntakePumps.Count != 2 || proc.Dosing.NaOH["max_rate"] != 40 {
		t.Errorf("process = %+v", proc)
	}
}

// The default plant also passes without a catalog (structure only).
func TestDefaultWithoutCatalog(t *testing.T) {
	if _, err := Default(nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestBad parses each testdata/bad/NAME.yaml and compares the error with
// testdata/bad/NAME.err (go test -run TestBad -update rewrites them).
func TestBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad definitions: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(filepath.Base(f), data, testCatalog, guard)
			if err == nil {
				t.Fatalf("%s parsed without error", f)
			}
			var l ErrorList
			if !errors.As(err, &l) {
				t.Fatalf("error is %T, not an ErrorList", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

func readExample(t testing.TB) []byte {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// clearLines drops positions, which differ between a file and its rewrite.
func clearLines(p *Plant) {
	p.Process = yamlNodeZero
	for i := range p.Devices {
		d := &p.Devices[i]
		d.Line, d.Column = 0, 0
		for j := range d.Registers {
			d.Registers[j].Line = 0
		}
		for j := range d.Points {
			d.Points[j].Line = 0
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, src := range []struct {
		name string
		data []byte
	}{{"example.yaml", readExample(t)}, {"default.yaml", DefaultYAML()}} {
		t.Run(src.name, func(t *testing.T) {
			p1, err := Parse(src.name, src.data, testCatalog, guard)
			if err != nil {
				t.Fatal(err)
			}
			out1, err := p1.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			p2, err := Parse("rewritten.yaml", out1, testCatalog, guard)
			if err != nil {
				t.Fatalf("rewritten definition does not parse: %v\n%s", err, out1)
			}
			out2, err := p2.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out1, out2) {
				t.Errorf("second rewrite differs:\n%s\n---\n%s", out1, out2)
			}
			var proc1, proc2 map[string]any
			if err := p1.DecodeProcess(&proc1); err != nil {
				t.Fatal(err)
			}
			if err := p2.DecodeProcess(&proc2); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(proc1, proc2) {
				t.Errorf("process: %v != %v", proc1, proc2)
			}
			clearLines(p1)
			clearLines(p2)
			p1.File, p2.File = "", ""
			if !reflect.DeepEqual(p1, p2) {
				t.Errorf("plant differs after a round trip:\n%+v\n%+v", p1, p2)
			}
		})
	}
}

// The README's full example is testdata/example.yaml, so the documentation
// cannot drift from what the loader accepts.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- example -->\n```yaml\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no <!-- example --> yaml block")
	}
	if !bytes.Equal(m[1], readExample(t)) {
		t.Error("the README example differs from testdata/example.yaml")
	}
}

func TestErrorListBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("plant: {name: big, tick: 100ms}\ndevices:\n")
	for i := range 150 {
		fmt.Fprintf(&b, "  - {name: d%d, kind: plc, address: 127.0.0.1, modbus: {unit: 0}, program: intake}\n", i)
	}
	_, err := Parse("big.yaml", []byte(b.String()), testCatalog, guard)
	var l ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("err = %v", err)
	}
	if len(l) != MaxErrors+1 || !strings.Contains(l[len(l)-1].Msg, "more not shown") {
		t.Fatalf("%d errors, last %v", len(l), l[len(l)-1])
	}
	for i := 1; i < len(l); i++ {
		if l[i].Line < l[i-1].Line {
			t.Fatalf("not sorted at %d: %v then %v", i, l[i-1], l[i])
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	type cfg struct {
		Gain  float64       `yaml:"gain"`
		Every time.Duration `yaml:"every"`
		Names []string      `yaml:"names"`
		Inner *struct {
			On bool `yaml:"on"`
			N  uint8
		} `yaml:"inner"`
	}
	data := []byte("gain: 2.5\nevery: 3s\nnames: [a, b]\ninner: {on: true, n: 7}\n")
	p, err := Parse("x.yaml", []byte("plant: {name: x, tick: 1s}\nprocess:\n  "+strings.ReplaceAll(string(data), "\n", "\n  ")+
		"\ndevices: [{name: h, kind: hmi, address: 127.0.0.2}]\n"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var c cfg
	if err := p.DecodeProcess(&c); err != nil {
		t.Fatal(err)
	}
	if c.Gain != 2.5 || c.Every != 3*time.Second || len(c.Names) != 2 || c.Inner == nil || !c.Inner.On || c.Inner.N != 7 {
		t.Errorf("decoded %+v", c)
	}
	for _, tc := range []struct{ in, want string }{
		{"gain: x", `p.yaml:1:7: expected a number, got "x"`},
		{"gain: .nan", `p.yaml:1:7: expected a number, got number .nan`},
		{"every: 3", `p.yaml:1:8: duration 3 has no unit: write e.g. 3ms or 3s`},
		{"inner: {n: 300}", `p.yaml:1:12: 300 is out of range`},
		{"inner: {n: -1}", `p.yaml:1:12: -1 is out of range`},
		{"gian: 1", `p.yaml:1:1: unknown key "gian"; did you mean "gain"?`},
		{"gain: 1\ngain: 2", `p.yaml:2:1: duplicate key "gain" (first at line 1)`},
		{"names: &a [x]", `p.yaml:1:8: anchors (&a) are not supported`},
		{"inner: {on: yes}", `p.yaml:1:13: expected true or false, got "yes"`},
		{"names: {a: 1}", `p.yaml:1:8: expected a list, got a mapping`},
		{"every:", `p.yaml:1:7: missing value: expected a duration`},
	} {
		n, err := parseNode([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		var c cfg
		err = DecodeStrict("p.yaml", n, &c)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: got %v, want %s", tc.in, err, tc.want)
		}
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plant.yaml")
	if err := os.WriteFile(path, readExample(t), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path, testCatalog, guard)
	if err != nil {
		t.Fatal(err)
	}
	if p.File != path {
		t.Errorf("file = %q", p.File)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := bytes.Repeat([]byte("# padding\n"), MaxSize/10+1)
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, nil, nil); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add(readExample(f))
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.yaml", data, testCatalog, guard)
		if err != nil {
			var l ErrorList
			if !errors.As(err, &l) || len(l) == 0 {
				t.Fatalf("error %T %v is not a non-empty ErrorList", err, err)
			}
			for _, e := range l {
				if e.File != "f.yaml" || e.Line < 1 || e.Msg == "" {
					t.Fatalf("error without a position: %#v", e)
				}
			}
			return
		}
		// The process section decodes strictly, or fails with positions.
		var proc struct {
			Gain  float64            `yaml:"gain"`
			Every time.Duration      `yaml:"every"`
			Tanks map[string][]int16 `yaml:"tanks"`
			Any   any                `yaml:"any"`
		}
		if err := p.DecodeProcess(&proc); err != nil {
			var l ErrorList
			if !errors.As(err, &l) || len(l) == 0 || l[0].Line < 1 {
				t.Fatalf("process error %T %v without positions", err, err)
			}
		}
		// Whatever parses must survive a round trip.
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if _, err := Parse("g.yaml", out, testCatalog, guard); err != nil {
			t.Fatalf("rewrite does not parse: %v\n%s", err, out)
		}
	})
}

var yamlNodeZero = yaml.Node{}

func parseNode(data []byte) (*yaml.Node, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, err
	}
	return &n, nil
}
