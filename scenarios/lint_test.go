package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden .err files of testdata/bad")

func renderDiags(diags []Diagnostic) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(d.Error())
		b.WriteByte('\n')
	}
	return b.String()
}

// Each broken file in testdata/bad lints to exactly the findings in its
// .err golden file.
func TestLintBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, diags := Lint(f, data, DefaultCatalog())
			got := renderDiags(diags)
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestLintBadFiles -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("findings differ from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
			if got == "" {
				t.Errorf("%s lints clean: a bad file must have findings", f)
			}
			// Parse agrees with Lint: it fails exactly when there are errors.
			s, perr := Parse(f, data, DefaultCatalog())
			hasErr := strings.Contains(got, ": ") && errs(diags) != nil
			if hasErr != (perr != nil) || (perr == nil) != (s != nil) {
				t.Errorf("Parse: scenario %v, err %v; Lint found errors: %v", s != nil, perr, hasErr)
			}
			var l ErrorList
			if perr != nil && !errors.As(perr, &l) {
				t.Errorf("Parse error is %T, want ErrorList", perr)
			}
		})
	}
}

// The golden files hold what they should: a sample of findings checked here
// by hand, so that a wrong -update cannot silently bless a regression.
func TestLintKeyFindings(t *testing.T) {
	cases := []struct{ file, want string }{
		{"unknown-keys", `:4:1: unknown key "refrences"; did you mean "references"?`},
		{"unknown-keys", `:20:31: unknown key "adress"; did you mean "address"?`},
		{"wrong-types", `:17:25: expected an integer, got "ten"`},
		{"wrong-types", `:17:36: 300 is out of range for this field (0 to 255)`},
		{"bad-durations", `:14:13: duration 90 has no unit`},
		{"duplicates", `:3:1: duplicate key "title" (first at line 2)`},
		{"duplicates", `duplicate step id "s1" (first at line 13)`},
		{"after-refs", `after "b": that step comes later in the file`},
		{"after-refs", `step "c" cannot follow itself`},
		{"after-refs", `after "bb": no such step; did you mean "b"?`},
		{"unknown-action", `unknown action "modbus.wirte"; did you mean "modbus.write"?`},
		{"bad-params", `70000 is out of range (0 to 65535)`},
		{"bad-params", `a coil takes 0 or 1, got 2`},
		{"targets", `target 10.0.0.5 is outside the range (127.0.0.0/8): refused`},
		{"targets", `target 8.8.8.8:502 is outside the range (127.0.0.0/8): refused`},
		{"targets", `unknown device "scada.example.com"`},
		{"targets", `action dnp3.read needs a rtu, but plc-intake is a plc`},
		{"roles", `inject for role "it_soc_analyst", which the scenario does not list in roles`},
		{"techniques", `technique "T836" is not an ATT&CK for ICS id`},
		{"empty-phases", `phase "Nothing here" has no steps`},
		{"timing", `step "no-time" needs a time: exactly one of at, after or on`},
		{"source", `source 10.1.1.1 is outside the attacker's prefix 127.66.0.0/16`},
		{"warnings", `warning: step "s1" has no expectation (detections or consequences)`},
		{"anchors", `anchors (&ref) are not supported`},
		{"syntax", `:2:1: YAML syntax:`},
	}
	for _, c := range cases {
		f := filepath.Join("testdata", "bad", c.file+".yaml")
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, diags := Lint(f, data, DefaultCatalog())
		if got := renderDiags(diags); !strings.Contains(got, c.want) {
			t.Errorf("%s: no finding containing %q in:\n%s", c.file, c.want, got)
		}
	}
}

// minimal returns a valid scenario with one step; edit swaps text in it.
func minimal(edit ...string) []byte {
	s := `id: tiny
title: Tiny
summary: One step.
references:
  - {title: A report, url: https://example.org/report}
techniques: [T0836]
roles: [operator]
phases:
  - name: One
    questions: [What now]
    steps:
      - id: s1
        name: Read
        at: 1m
        action: modbus.read
        target: plc-intake
        expect: {consequences: [{condition: none}]}
`
	for i := 0; i+1 < len(edit); i += 2 {
		if !strings.Contains(s, edit[i]) {
			panic("minimal: no " + edit[i])
		}
		s = strings.Replace(s, edit[i], edit[i+1], 1)
	}
	return []byte(s)
}

// The first line of the safety guard: a literal target or source outside
// 127.0.0.0/8, or a host name, is an error; range addresses are accepted.
func TestSafetyTargets(t *testing.T) {
	cases := []struct {
		target string
		want   string // "" when accepted
	}{
		{"10.0.0.5", "target 10.0.0.5 is outside the range (127.0.0.0/8): refused"},
		{"8.8.8.8", "target 8.8.8.8 is outside the range"},
		{"8.8.8.8:502", "target 8.8.8.8:502 is outside the range"},
		{"192.168.1.10", "outside the range"},
		{"[2001:db8::1]:502", "outside the range"},
		{"::ffff:10.0.0.5", "outside the range"},
		{"scada.example.com", `unknown device "scada.example.com"`},
		{"localhost", `unknown device "localhost"`},
		{"plc-intake.local", `unknown device "plc-intake.local"`},
		{"127.10.1.10", ""},
		{"127.10.1.10:5020", ""},
		{"::ffff:127.10.1.10", ""},
		{"plc-intake", ""},
	}
	for _, c := range cases {
		t.Run(c.target, func(t *testing.T) {
			_, err := Parse("t.yaml", minimal("target: plc-intake", "target: \""+c.target+"\""), DefaultCatalog())
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("target %s refused: %v", c.target, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("target %s: err %v, want %q", c.target, err, c.want)
			}
		})
	}
	for _, p := range []string{"10.0.0.0/24", "0.0.0.0/0", "127.0.0.0/7", "128.0.0.0/24"} {
		data := minimal("action: modbus.read", "action: net.discover", "target: plc-intake", "target: "+p)
		if _, err := Parse("t.yaml", data, DefaultCatalog()); err == nil || !strings.Contains(err.Error(), "outside the range") {
			t.Errorf("net.discover over %s: %v", p, err)
		}
	}
	if _, err := Parse("t.yaml", minimal("action: modbus.read", "action: net.discover", "target: plc-intake", "target: 127.0.0.0/8"), DefaultCatalog()); err == nil || !strings.Contains(err.Error(), "too wide") {
		t.Errorf("a sweep of all of 127/8: %v", err)
	}
	if _, err := Parse("t.yaml", minimal("action: modbus.read", "action: net.discover", "target: plc-intake", "target: 127.10.1.0/24"), DefaultCatalog()); err != nil {
		t.Errorf("a sweep of 127.10.1.0/24 was refused: %v", err)
	}
	for _, src := range []string{"10.0.0.9", "8.8.8.8", "127.10.1.20", "127.0.0.1"} {
		if _, err := Parse("t.yaml", minimal("id: tiny", "id: tiny\nsource: "+src), DefaultCatalog()); err == nil || !strings.Contains(err.Error(), "outside the attacker's prefix") {
			t.Errorf("scenario source %s: %v", src, err)
		}
	}
	if _, err := Parse("t.yaml", minimal("id: tiny", "id: tiny\nsource: 127.66.3.4"), DefaultCatalog()); err != nil {
		t.Errorf("source 127.66.3.4 refused: %v", err)
	}
}

// Parameters are decoded strictly over their defaults and validated.
func TestParams(t *testing.T) {
	s, err := Parse("t.yaml", minimal("target: plc-intake", "target: plc-intake\n        params: {address: 7, count: 3}"), DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	p, ok := s.Phases[0].Steps[0].Params.(*ModbusRead)
	if !ok {
		t.Fatalf("params are %T, want *ModbusRead", s.Phases[0].Steps[0].Params)
	}
	want := ModbusRead{Unit: 1, Table: "holding", Address: 7, Count: 3, Repeat: 1, Interval: Duration(1e9)}
	if *p != want {
		t.Errorf("params %+v, want %+v", *p, want)
	}

	// Defaults alone when params are absent.
	s, err = Parse("t.yaml", minimal(), DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Phases[0].Steps[0].Params.(*ModbusRead); p.Count != 1 || p.Table != "holding" {
		t.Errorf("default params %+v", *p)
	}

	// The write's function code follows the number of values unless given.
	w := &ModbusWrite{Values: []int{1}}
	if w.Multiple() {
		t.Error("one value: want a single write")
	}
	w.Values = []int{1, 2}
	if !w.Multiple() {
		t.Error("two values: want a multiple write")
	}
	w.Function = "single"
	if w.Multiple() {
		t.Error("function single: want a single write")
	}

	o := &DNP3Operate{Index: 3, Last: ptr(uint16(6))}
	if got := o.Indexes(); !reflect.DeepEqual(got, []uint16{3, 4, 5, 6}) {
		t.Errorf("indexes %v", got)
	}
	if got := (&ModbusDiagnostic{Sub: "force_listen_only"}).Code(); got != 4 {
		t.Errorf("force_listen_only code %d, want 4", got)
	}
	if got := (&ModbusIdentify{Level: "extended"}).Code(); got != 3 {
		t.Errorf("extended level code %d, want 3", got)
	}
	if got := len((&ModbusScanFunctions{}).FunctionCodes()); got != 127 {
		t.Errorf("default function codes: %d, want 127", got)
	}

	// Every action's defaults validate, except those whose required
	// parameters have no sensible default.
	required := map[string]bool{"modbus.write": true, "modbus.diagnostic": true, "dnp3.operate": true, "dnp3.unsolicited": true,
		"dnp3.broadcast": true, "dnp3.spoof_response": true, "plant.fault": true, "plant.mode": true, "plant.program": true, "wait": true}
	for _, a := range Actions {
		if a.New == nil {
			continue
		}
		errs := a.New().Validate()
		if (len(errs) > 0) != required[a.Name] {
			t.Errorf("%s: defaults give %v; want errors: %v", a.Name, errs, required[a.Name])
		}
	}
}

func ptr[T any](v T) *T { return &v }

// A scenario written back out as YAML parses to the same scenario.
func TestRoundTrip(t *testing.T) {
	lib, err := Library()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range lib {
		t.Run(s.ID, func(t *testing.T) {
			out, err := yaml.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Parse(s.File, out, DefaultCatalog())
			if err != nil {
				t.Fatalf("re-parse:\n%v\n%s", err, out)
			}
			if !reflect.DeepEqual(s, again) {
				out2, _ := yaml.Marshal(again)
				t.Fatalf("round trip differs:\n--- first\n%s\n--- second\n%s", out, out2)
			}
		})
	}
}

// Load reads a file from disk; Parse with a nil catalog uses the default
// plant.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(p, minimal(), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(p, nil)
	if err != nil || s.ID != "tiny" || s.File != p {
		t.Fatalf("Load: %v, %+v", err, s)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml"), nil); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
	big := append(minimal(), bytes.Repeat([]byte("#"), MaxFileSize)...)
	if err := os.WriteFile(p, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Load of a huge file: %v", err)
	}
	// A plant without the device: the same file fails against it.
	if _, err := Parse("t.yaml", minimal(), MapCatalog{"rtu-reservoir": KindRTU}); err == nil {
		t.Fatal("a target missing from the catalog was accepted")
	}
}

// Findings beyond MaxDiagnostics are counted, not listed.
func TestDiagnosticsBounded(t *testing.T) {
	var b strings.Builder
	b.Write(minimal())
	for i := range 300 {
		b.WriteString("        bogus" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "_" + itoa(i) + ": 1\n")
	}
	_, diags := Lint("t.yaml", []byte(b.String()), nil)
	if len(diags) != MaxDiagnostics+1 {
		t.Fatalf("%d findings, want %d", len(diags), MaxDiagnostics+1)
	}
	if last := diags[len(diags)-1]; !strings.Contains(last.Msg, "200 more not shown") {
		t.Fatalf("last finding %q", last.Msg)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}

// FuzzParse: no input makes the loader panic, and every finding has a
// position in the named file.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/bad/*.yaml")
	lib, _ := filepath.Glob("library/*.yaml")
	for _, p := range append(seeds, lib...) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(minimal())
	f.Fuzz(func(t *testing.T, data []byte) {
		s, diags := Lint("fuzz.yaml", data, nil)
		if s == nil {
			t.Fatal("Lint returned no scenario")
		}
		for _, d := range diags {
			if d.File != "fuzz.yaml" || d.Line < 1 || d.Column < 1 || d.Msg == "" {
				t.Fatalf("finding without a position: %+v", d)
			}
		}
		if s, err := Parse("fuzz.yaml", data, nil); err == nil {
			// What parses must render and write back out.
			if err := WriteShow(&bytes.Buffer{}, s); err != nil {
				t.Fatal(err)
			}
			if _, err := yaml.Marshal(s); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// The example in README.md is a valid scenario, with no warnings.
func TestReadmeExample(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	if !ok {
		t.Fatal("no yaml block in README.md")
	}
	example, _, _ := strings.Cut(rest, "```")
	s, err := Parse("README.md", []byte(example), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings) > 0 {
		t.Fatalf("warnings: %v", s.Warnings)
	}
	if st, _ := s.Step("write-stop-level"); st.Params.(*ModbusWrite).Multiple() || st.TechniqueIDs()[2] != "T1692.001" {
		t.Fatalf("step %+v", st)
	}
}

// FuzzStep fuzzes one step's action, target, source and parameters inside an
// otherwise valid scenario, to reach the parameter decoders, validators and
// target checks that whole-file mutations rarely get past YAML syntax to.
func FuzzStep(f *testing.F) {
	f.Add("modbus.write", "plc-intake", "", "{values: [1, 2], function: multiple}")
	f.Add("dnp3.operate", "rtu-reservoir", "127.66.0.9", "{point: crob, index: 0, last: 3, op: toggle}")
	f.Add("net.discover", "127.10.1.0/24", "ews", "{ports: [502], rate: 10}")
	f.Add("dnp3.spoof_response", "rtu-reservoir", "", "{points: [{type: analog_input, index: 0, value: 1}]}")
	f.Add("plant.program", "sis", "ews", "{parameters: {raw.level.hh: 0.5}, restart: true}")
	f.Add("modbus.read", "8.8.8.8:502", "10.0.0.1", "{table: coil, count: 2000}")
	f.Add("wait", "", "", "{duration: 1h}")
	f.Fuzz(func(t *testing.T, action, target, source, params string) {
		q := func(s string) string { return strconvQuote(s) }
		data := minimal("action: modbus.read", "action: "+q(action), "target: plc-intake",
			"target: "+q(target)+"\n        source: "+q(source)+"\n        params: "+params)
		s, diags := Lint("fuzz.yaml", data, nil)
		for _, d := range diags {
			if d.Line < 1 || d.Column < 1 || d.Msg == "" {
				t.Fatalf("finding without a position: %+v", d)
			}
		}
		if errs(diags) != nil {
			return
		}
		st := s.Phases[0].Steps[0]
		// Whatever lints clean stays inside the range.
		if a, ok := literalAddr(st.Target); ok && !RangePrefix.Contains(a) {
			t.Fatalf("target %s accepted", st.Target)
		}
		if a, ok := literalAddr(st.Source); ok && !AttackerPrefix.Contains(a) && !ITPrefix.Contains(a) {
			t.Fatalf("source %s accepted", st.Source)
		}
		if st.Params != nil && len(st.Params.Validate()) > 0 {
			t.Fatalf("accepted params do not validate: %v", st.Params.Validate())
		}
	})
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s) // a JSON string is a YAML double-quoted scalar
	return string(b)
}

// A block_host prevention on a step acting through a station must name the
// address to block.
func TestPreventionThroughStation(t *testing.T) {
	data := minimal("target: plc-intake", "target: plc-intake\n        source: ews\n        prevented_by: [{action: block_host, device: plc-intake}]")
	if _, err := Parse("t.yaml", data, nil); err == nil || !strings.Contains(err.Error(), "block_host needs a source") {
		t.Fatalf("err %v", err)
	}
	data = minimal("target: plc-intake", "target: plc-intake\n        source: ews\n        prevented_by: [{action: block_host, device: plc-intake, source: 127.10.2.20}]")
	s, err := Parse("t.yaml", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := &s.Phases[0].Steps[0]
	if a := st.PreventedBy[0].Control(s.StepSource(st)); a.Validate() != nil || a.Source != "127.10.2.20" || a.Device != "plc-intake" {
		t.Fatalf("control action %+v: %v", a, a.Validate())
	}
}

func BenchmarkParseLibrary(b *testing.B) {
	names, err := fsGlob()
	if err != nil {
		b.Fatal(err)
	}
	var files [][]byte
	size := 0
	for _, n := range names {
		data, _ := libraryFS.ReadFile(n)
		files = append(files, data)
		size += len(data)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		for i, data := range files {
			if _, err := Parse(names[i], data, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}
