package rules_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/rules"
)

func TestPolicyParse(t *testing.T) {
	p, err := rules.ParsePolicy("p.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if !p.IsMaster(netip.MustParseAddr("127.10.2.10")) || p.IsMaster(netip.MustParseAddr("127.66.0.1")) {
		t.Error("masters wrong")
	}
	q := p.PairFor("modbus", hmi.Addr(), plc.Addr())
	if q == nil || q.Line != 4 || !slices.Equal(q.Functions, []uint8{3, 6, 16}) || len(q.Writable) != 1 {
		t.Fatalf("pair: %+v", q)
	}
	if w := q.Writable[0]; w.Coils || w.From != 0 || w.To != 9 || !w.HasMin || w.Max != 4000 {
		t.Errorf("writable: %+v", w)
	}
	if p.PairFor("dnp3", hmi.Addr(), plc.Addr()) != nil {
		t.Error("a modbus pair covers dnp3")
	}
	for _, empty := range []string{"", "# nothing\n", "~"} {
		if p, err := rules.ParsePolicy("e.yaml", []byte(empty)); err != nil || p.HasMasters() {
			t.Errorf("%q: %v %+v", empty, err, p)
		}
	}
	prefix, err := rules.ParsePolicy("p.yaml", []byte("masters: [10.0.0.0/24]"))
	if err != nil || !prefix.IsMaster(netip.MustParseAddr("10.0.0.77")) {
		t.Errorf("prefix master: %v", err)
	}
}

// TestPolicyErrors checks the exact message, with file and line, of every
// kind of mistake.
func TestPolicyErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"unknown top key", "masters: []\nmaster: 1.2.3.4\n", "p.yaml:2: unknown key \"master\" (want masters, pairs)"},
		{"not a mapping", "- 1.2.3.4\n", "p.yaml:1: policy must be a mapping"},
		{"bad address", "masters:\n  - 127.10.2\n", "p.yaml:2: bad address \"127.10.2\""},
		{"bad prefix", "masters: [10.0.0.0/33]\n", "p.yaml:1: bad address prefix \"10.0.0.0/33\""},
		{"masters not a list", "masters: 1.2.3.4\n", "p.yaml:1: masters must be a list"},
		{"pair unknown key", "pairs:\n  - master: 1.2.3.4\n    device: 1.2.3.5\n    fc: [3]\n", "p.yaml:4: unknown key \"fc\" in a pair (want master, device, protocol, functions, writable)"},
		{"pair without device", "pairs:\n  - master: 1.2.3.4\n", "p.yaml:2: a pair needs both master and device"},
		{"bad protocol", "pairs:\n  - master: 1.2.3.4\n    device: 1.2.3.5\n    protocol: s7\n", "p.yaml:4: protocol \"s7\": want modbus or dnp3"},
		{"function out of range", "pairs:\n  - master: 1.2.3.4\n    device: 1.2.3.5\n    functions: [3, 300]\n", "p.yaml:4: function code 300 outside 0..255"},
		{"function not int", "pairs:\n  - master: 1.2.3.4\n    device: 1.2.3.5\n    functions: [read]\n", "p.yaml:4: function code must be an integer, not \"read\""},
		{"bad range", "pairs:\n  - master: 1.2.3.4\n    device: 1.2.3.5\n    writable:\n      - registers: 10-2\n", "p.yaml:5: bad range \"10-2\": want A or A-B with 0 <= A <= B <= 65535"},
		{"two tables", "pairs:\n  - master: 1.2.3.4\n    device: 1.2.3.5\n    writable:\n      - registers: 1\n        coils: 2\n", "p.yaml:5: a writable range needs exactly one of registers or coils"},
		{"min above max", "pairs:\n  - master: 1.2.3.4\n    device: 1.2.3.5\n    writable:\n      - registers: 1\n        min: 5\n        max: 4\n", "p.yaml:5: min 5 is above max 4"},
		{"coil limits", "pairs:\n  - master: 1.2.3.4\n    device: 1.2.3.5\n    writable:\n      - coils: 1\n        max: 1\n", "p.yaml:5: min and max apply to registers, not coils"},
		{"dnp3 writable", "pairs:\n  - master: 1.2.3.4\n    device: 1.2.3.5\n    protocol: dnp3\n    writable:\n      - registers: 1\n", "p.yaml:2: writable ranges are Modbus registers and coils: not for a dnp3 pair"},
		{"duplicate key", "masters: []\nmasters: []\n", "p.yaml:2: duplicate key \"masters\""},
		{"yaml syntax", "masters: [1.2.3.4\n", "p.yaml: yaml: line 1: did not find expected ',' or ']'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := rules.ParsePolicy("p.yaml", []byte(c.text))
			if err == nil || err.Error() != c.want {
				t.Fatalf("error %v\nwant     %s", err, c.want)
			}
		})
	}
}

func TestLoadPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("masters: [1.2.3.4]\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := rules.LoadPolicy(path)
	if err == nil || err.Error() != path+":2: unknown key \"bogus\" (want masters, pairs)" {
		t.Fatalf("error %v", err)
	}
	if _, err := rules.LoadPolicy(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("a missing file loads")
	}
}

// TestTimeChangeByMaster: an authorized master's time sync is quiet, the
// same write from another host alerts.
func TestTimeChangeByMaster(t *testing.T) {
	recs := []analyze.Record{dn(hmi, rtu, 2, withObj(50, 1)), dn(attacker, rtu, 2, withObj(50, 1))}
	got := ids(run(t, "masters: [127.10.2.10]", recs))
	if !slices.Equal(got, []string{rules.DNP3WriteUnauthorized, rules.DNP3TimeChange}) {
		t.Fatalf("got %v", got)
	}
}
