package output

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/alert"
)

// cefRecord is a CEF line parsed back by the test's own parser.
type cefRecord struct {
	Header [7]string // version, vendor, product, device version, signature id, name, severity
	Ext    map[string]string
	Keys   []string // extension keys in order
}

// parseCEF is a strict CEF parser written for the tests from the format's
// description: it rejects unknown escapes, duplicate keys and anything that
// is not a key=value list, so that an encoder bug shows up as an error or a
// changed field.
func parseCEF(line string) (cefRecord, error) {
	var r cefRecord
	if !strings.HasPrefix(line, "CEF:") {
		return r, errors.New("no CEF: prefix")
	}
	if strings.ContainsAny(line, "\n\r") {
		return r, errors.New("record spans lines")
	}
	s := line[len("CEF:"):]
	i := 0
	for f := 0; f < 7; f++ {
		var b strings.Builder
		for {
			if i >= len(s) {
				return r, fmt.Errorf("header field %d: unterminated", f)
			}
			c := s[i]
			if c == '|' {
				i++
				break
			}
			if c == '\\' {
				if i+1 >= len(s) {
					return r, fmt.Errorf("header field %d: dangling backslash", f)
				}
				switch s[i+1] {
				case '\\', '|':
					b.WriteByte(s[i+1])
				case 'n':
					b.WriteByte('\n')
				case 'r':
					b.WriteByte('\r')
				default:
					return r, fmt.Errorf("header field %d: unknown escape \\%c", f, s[i+1])
				}
				i += 2
				continue
			}
			b.WriteByte(c)
			i++
		}
		r.Header[f] = b.String()
	}
	ext := s[i:]
	r.Ext = map[string]string{}
	// Find every unescaped '='; each one ends a key.
	var eqs []int
	for j := 0; j < len(ext); j++ {
		switch ext[j] {
		case '\\':
			j++
		case '=':
			eqs = append(eqs, j)
		}
	}
	isKey := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
	}
	type kv struct{ keyStart, eq int }
	var kvs []kv
	for _, eq := range eqs {
		k := eq
		for k > 0 && isKey(ext[k-1]) {
			k--
		}
		if k == eq {
			return r, fmt.Errorf("extension: '=' at %d without a key", eq)
		}
		if k > 0 && ext[k-1] != ' ' {
			return r, fmt.Errorf("extension: key at %d not preceded by a space", k)
		}
		if len(kvs) == 0 && k != 0 {
			return r, errors.New("extension: text before the first key")
		}
		kvs = append(kvs, kv{k, eq})
	}
	if len(kvs) == 0 && ext != "" {
		return r, errors.New("extension: no key")
	}
	for n, p := range kvs {
		end := len(ext)
		if n+1 < len(kvs) {
			end = kvs[n+1].keyStart - 1
		}
		raw := ext[p.eq+1 : end]
		var b strings.Builder
		for j := 0; j < len(raw); j++ {
			if raw[j] != '\\' {
				b.WriteByte(raw[j])
				continue
			}
			if j+1 >= len(raw) {
				return r, fmt.Errorf("extension %s: dangling backslash", ext[p.keyStart:p.eq])
			}
			j++
			switch raw[j] {
			case '\\', '=':
				b.WriteByte(raw[j])
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			default:
				return r, fmt.Errorf("extension %s: unknown escape \\%c", ext[p.keyStart:p.eq], raw[j])
			}
		}
		key := ext[p.keyStart:p.eq]
		if _, dup := r.Ext[key]; dup {
			return r, fmt.Errorf("extension: duplicate key %s", key)
		}
		r.Ext[key] = b.String()
		r.Keys = append(r.Keys, key)
	}
	return r, nil
}

// alertFromCEF rebuilds the alert fields a CEF record carries, checking the
// constant parts and labels on the way.
func alertFromCEF(r cefRecord) (alert.Alert, int, error) {
	var a alert.Alert
	h := r.Header
	if h[0] != "0" || h[1] != CEFVendor || h[2] != CEFProduct {
		return a, 0, fmt.Errorf("header %q", h[:3])
	}
	a.RuleID, a.RuleName = h[4], h[5]
	sev, err := strconv.Atoi(h[6])
	if err != nil || sev < 0 || sev > 10 {
		return a, 0, fmt.Errorf("severity %q", h[6])
	}
	x := r.Ext
	label := func(key, want string) error {
		if _, ok := x[key]; !ok {
			if _, ok := x[key+"Label"]; ok {
				return fmt.Errorf("%sLabel without %s", key, key)
			}
			return nil
		}
		if got := x[key+"Label"]; got != want {
			return fmt.Errorf("%sLabel = %q, want %q", key, got, want)
		}
		return nil
	}
	for _, l := range [][2]string{{"cs1", LabelTechniques}, {"cs2", LabelRuleID}, {"cs3", LabelFunction}, {"cs4", LabelFlowID},
		{"cs5", LabelFrames}, {"cn1", LabelUnit}, {"cn2", LabelAddress}, {"cn3", LabelValue}, {"c6a2", LabelSrcIPv6}, {"c6a3", LabelDstIPv6}} {
		if err := label(l[0], l[1]); err != nil {
			return a, 0, err
		}
	}
	if x["act"] != "alert" {
		return a, 0, fmt.Errorf("act = %q", x["act"])
	}
	if v, ok := x["cs2"]; ok && v != a.RuleID {
		return a, 0, fmt.Errorf("cs2 %q != signature id %q", v, a.RuleID)
	}
	if v, ok := x["rt"]; ok {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return a, 0, fmt.Errorf("rt %q", v)
		}
		a.Time = time.UnixMilli(ms)
	}
	a.ID, a.Sensor, a.Protocol, a.Function, a.Message = x["externalId"], x["dvchost"], x["app"], x["cs3"], x["msg"]
	a.Evidence.FlowID = x["cs4"]
	one := func(keys ...string) (string, error) {
		var got []string
		for _, k := range keys {
			if v, ok := x[k]; ok {
				got = append(got, v)
			}
		}
		if len(got) > 1 {
			return "", fmt.Errorf("more than one of %v", keys)
		}
		if len(got) == 0 {
			return "", nil
		}
		return got[0], nil
	}
	if a.SrcAddr, err = one("src", "shost", "c6a2"); err != nil {
		return a, 0, err
	}
	if a.DstAddr, err = one("dst", "dhost", "c6a3"); err != nil {
		return a, 0, err
	}
	for _, p := range []struct {
		key string
		dst *uint16
	}{{"spt", &a.SrcPort}, {"dpt", &a.DstPort}} {
		if v, ok := x[p.key]; ok {
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil || n == 0 {
				return a, 0, fmt.Errorf("%s %q", p.key, v)
			}
			*p.dst = uint16(n)
		}
	}
	if v, ok := x["cs1"]; ok {
		a.Techniques = strings.Split(v, ",")
	}
	if v, ok := x["cs5"]; ok {
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				return a, 0, fmt.Errorf("cs5 %q", v)
			}
			a.Evidence.Frames = append(a.Evidence.Frames, n)
		}
	}
	for _, p := range []struct {
		key string
		dst **int
	}{{"cn1", &a.Unit}, {"cn2", &a.Address}, {"cn3", &a.Value}} {
		if v, ok := x[p.key]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return a, 0, fmt.Errorf("%s %q", p.key, v)
			}
			m := int(n)
			*p.dst = &m
		}
	}
	return a, sev, nil
}

// sameCEFFields reports how a differs from what a CEF record of it carries:
// time to the millisecond, techniques as their comma-joined list, severity
// through CEFSeverity.
func sameCEFFields(want, got alert.Alert, gotSev int) error {
	var d []string
	chk := func(name string, w, g any) {
		if fmt.Sprint(w) != fmt.Sprint(g) {
			d = append(d, fmt.Sprintf("%s: got %q, want %q", name, fmt.Sprint(g), fmt.Sprint(w)))
		}
	}
	if want.Time.IsZero() != got.Time.IsZero() || !want.Time.IsZero() && want.Time.UnixMilli() != got.Time.UnixMilli() {
		d = append(d, fmt.Sprintf("time: got %v, want %v", got.Time, want.Time))
	}
	chk("id", want.ID, got.ID)
	chk("sensor", want.Sensor, got.Sensor)
	chk("rule id", want.RuleID, got.RuleID)
	chk("rule name", want.RuleName, got.RuleName)
	chk("severity", CEFSeverity(want.Severity), gotSev)
	chk("techniques", strings.Join(want.Techniques, ","), strings.Join(got.Techniques, ","))
	chk("src", want.SrcAddr, got.SrcAddr)
	chk("spt", want.SrcPort, got.SrcPort)
	chk("dst", want.DstAddr, got.DstAddr)
	chk("dpt", want.DstPort, got.DstPort)
	chk("protocol", want.Protocol, got.Protocol)
	chk("function", want.Function, got.Function)
	ptr := func(p *int) string {
		if p == nil {
			return "nil"
		}
		return strconv.Itoa(*p)
	}
	chk("unit", ptr(want.Unit), ptr(got.Unit))
	chk("address", ptr(want.Address), ptr(got.Address))
	chk("value", ptr(want.Value), ptr(got.Value))
	chk("flow", want.Evidence.FlowID, got.Evidence.FlowID)
	chk("frames", want.Evidence.Frames, got.Evidence.Frames)
	chk("message", want.Message, got.Message)
	if len(d) > 0 {
		return errors.New(strings.Join(d, "; "))
	}
	return nil
}

func intp(n int) *int { return &n }

// sampleAlert is a realistic alert: an unauthorized Modbus write.
func sampleAlert() alert.Alert {
	return alert.Alert{
		ID:         "a-42",
		Time:       time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC),
		Sensor:     "otrange",
		RuleID:     "modbus.unauthorized_write",
		RuleName:   "Modbus write from unauthorized host",
		Severity:   alert.High,
		Techniques: []string{"T0836", "T0855"},
		SrcAddr:    "127.66.0.1",
		SrcPort:    40123,
		DstAddr:    "127.10.1.10",
		DstPort:    502,
		Protocol:   "modbus",
		Function:   "write_single_register",
		Unit:       intp(1),
		Address:    intp(4),
		Value:      intp(3950),
		Evidence:   alert.Evidence{FlowID: "127.66.0.1:40123-127.10.1.10:502/tcp", Frames: []uint64{17, 18}},
		Message:    "127.66.0.1 wrote 3950 to holding register 4 of unit 1",
	}
}

func TestCEFGolden(t *testing.T) {
	a := sampleAlert()
	got := string(AppendCEF(nil, &a, "1.2"))
	want := `CEF:0|otrange|sensor|1.2|modbus.unauthorized_write|Modbus write from unauthorized host|8|` +
		`rt=1773480413589 externalId=a-42 dvchost=otrange src=127.66.0.1 spt=40123 dst=127.10.1.10 dpt=502 app=modbus act=alert ` +
		`cs1=T0836,T0855 cs1Label=ATT&CK for ICS techniques cs2=modbus.unauthorized_write cs2Label=Rule ID ` +
		`cs3=write_single_register cs3Label=Function cs4=127.66.0.1:40123-127.10.1.10:502/tcp cs4Label=Flow ID ` +
		`cs5=17,18 cs5Label=Frames cn1=1 cn1Label=Unit ID cn2=4 cn2Label=Address cn3=3950 cn3Label=Value ` +
		`msg=127.66.0.1 wrote 3950 to holding register 4 of unit 1`
	if got != want {
		t.Fatalf("CEF record\n got %s\nwant %s", got, want)
	}
}

func TestCEFEscaping(t *testing.T) {
	header := []struct{ name, in, want string }{
		{"plain", "Modbus write", "Modbus write"},
		{"pipe", "a|b", `a\|b`},
		{"backslash", `a\b`, `a\\b`},
		{"backslash before pipe", `a\|b`, `a\\\|b`},
		{"equals is literal", "a=b", "a=b"},
		{"newline", "a\nb", `a\nb`},
		{"carriage return", "a\r\nb", `a\r\nb`},
		{"trailing backslash", `a\`, `a\\`},
		{"utf-8", "pompe d'entrée", "pompe d'entrée"},
		{"empty", "", ""},
	}
	for _, c := range header {
		t.Run("header/"+c.name, func(t *testing.T) {
			if got := string(appendHeader(nil, c.in)); got != c.want {
				t.Fatalf("appendHeader(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
	ext := []struct{ name, in, want string }{
		{"plain", "wrote 3950", "wrote 3950"},
		{"equals", "a=b", `a\=b`},
		{"key lookalike", "x dst=1.2.3.4", `x dst\=1.2.3.4`},
		{"backslash", `C:\plc`, `C:\\plc`},
		{"backslash before equals", `a\=b`, `a\\\=b`},
		{"pipe is literal", "a|b", "a|b"},
		{"newline", "line1\nline2", `line1\nline2`},
		{"carriage return", "a\rb", `a\rb`},
		{"trailing backslash", `a\`, `a\\`},
		{"empty", "", ""},
	}
	for _, c := range ext {
		t.Run("extension/"+c.name, func(t *testing.T) {
			if got := string(appendExtValue(nil, c.in)); got != c.want {
				t.Fatalf("appendExtValue(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestCEFRoundTrip(t *testing.T) {
	base := sampleAlert()
	cases := []struct {
		name   string
		mod    func(*alert.Alert)
		keys   []string // must be present
		nokeys []string // must be absent
	}{
		{"sample", func(*alert.Alert) {}, []string{"src", "dst", "rt"}, []string{"shost", "c6a2"}},
		{"ipv6", func(a *alert.Alert) { a.SrcAddr, a.DstAddr = "fd00::1", "2001:db8::20" },
			[]string{"c6a2", "c6a2Label", "c6a3", "c6a3Label"}, []string{"src", "dst"}},
		{"host names", func(a *alert.Alert) { a.SrcAddr, a.DstAddr = "hmi-1", "::ffff:127.0.0.1" },
			[]string{"shost", "dhost"}, []string{"src", "dst", "c6a2", "c6a3"}},
		{"hostile text", func(a *alert.Alert) {
			a.RuleName = `pipe | backslash \ newline` + "\n" + `end\`
			a.RuleID = `r|1\`
			a.Message = "msg=x dst=9.9.9.9 \\= \\\r\nsecond line | ok  "
			a.Function = " spaced  "
			a.Sensor = "s=1"
			a.Techniques = []string{"T0836", `T\08=55`}
		}, nil, nil},
		{"minimal", func(a *alert.Alert) {
			*a = alert.Alert{RuleID: "x", Severity: "bogus"}
		}, nil, []string{"rt", "src", "dst", "spt", "dpt", "cs1", "cs3", "cs5", "cn1", "msg"}},
		{"severities", func(a *alert.Alert) { a.Severity = alert.Critical }, nil, nil},
		{"negative numbers", func(a *alert.Alert) { a.Value = intp(-32768); a.Address = intp(0) }, []string{"cn2", "cn3"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := base
			a.Techniques = slices.Clone(base.Techniques)
			c.mod(&a)
			line := string(AppendCEF(nil, &a, "v|1"))
			r, err := parseCEF(line)
			if err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			if r.Header[3] != "v|1" {
				t.Fatalf("device version %q", r.Header[3])
			}
			got, sev, err := alertFromCEF(r)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			if err := sameCEFFields(a, got, sev); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			for _, k := range c.keys {
				if _, ok := r.Ext[k]; !ok {
					t.Errorf("key %s missing from %q", k, line)
				}
			}
			for _, k := range c.nokeys {
				if _, ok := r.Ext[k]; ok {
					t.Errorf("key %s present in %q", k, line)
				}
			}
			if r.Keys[len(r.Keys)-1] != "msg" && a.Message != "" {
				t.Errorf("msg is not the last extension: %v", r.Keys)
			}
		})
	}
}

func TestCEFSeverity(t *testing.T) {
	for s, want := range map[alert.Severity]int{alert.Low: 3, alert.Medium: 5, alert.High: 8, alert.Critical: 10, "": 5, "weird": 5} {
		if got := CEFSeverity(s); got != want {
			t.Errorf("CEFSeverity(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestTrimEscaped(t *testing.T) {
	cases := []struct {
		name, in string
		n        int
		want     string
	}{
		{"fits", "abc", 5, "abc"},
		{"plain cut", "abcdef", 3, "abc"},
		{"half escape", `ab\=cd`, 3, "ab"},
		{"whole escape", `ab\\cd`, 4, `ab\\`},
		{"escaped backslash then escape", `a\\\=b`, 4, `a\\`},
		{"mid rune", "aé", 2, "a"},
		{"whole rune", "aé", 3, "aé"},
		{"mid 4-byte rune", "a😀", 4, "a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(trimEscaped([]byte(c.in), c.n)); got != c.want {
				t.Fatalf("trimEscaped(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
			}
		})
	}
}

func FuzzCEF(f *testing.F) {
	a := sampleAlert()
	f.Add(a.ID, a.Sensor, a.RuleID, a.RuleName, string(a.Severity), a.SrcAddr, a.DstAddr, a.Protocol, a.Function,
		a.Evidence.FlowID, a.Message, "T0836", "T0855", a.Time.UnixNano(), a.SrcPort, a.DstPort, int64(1), int64(4), int64(3950), uint8(7), "1.0")
	f.Add("", "", "", "", "", "", "", "", "", "", "", "", "", int64(0), uint16(0), uint16(0), int64(0), int64(0), int64(0), uint8(0), "")
	f.Add(`a\`, "s=1", `r|\`, "n\r\n|", "critical", "fd00::1", "host name", "dnp3", `f\=`, "=", "msg=x dst=1 \\", `T\`, "=,", int64(-1), uint16(1), uint16(65535), int64(-5), int64(1<<40), int64(-1<<40), uint8(0xff), `|\`)
	f.Fuzz(func(t *testing.T, id, sensor, ruleID, ruleName, sev, src, dst, proto, fn, flow, msg, t1, t2 string,
		ns int64, spt, dpt uint16, unit, addr, val int64, opt uint8, version string) {
		a := alert.Alert{
			ID: id, Sensor: sensor, RuleID: ruleID, RuleName: ruleName, Severity: alert.Severity(sev),
			SrcAddr: src, SrcPort: spt, DstAddr: dst, DstPort: dpt, Protocol: proto, Function: fn, Message: msg,
			Evidence: alert.Evidence{FlowID: flow},
		}
		if opt&1 != 0 {
			a.Time = time.Unix(0, ns)
		}
		if opt&2 != 0 {
			a.Techniques = append(a.Techniques, t1)
		}
		if opt&4 != 0 {
			a.Techniques = append(a.Techniques, t2)
		}
		if opt&8 != 0 {
			a.Unit = intp(int(unit))
		}
		if opt&16 != 0 {
			a.Address = intp(int(addr))
		}
		if opt&32 != 0 {
			a.Value = intp(int(val))
		}
		for i := range int(opt >> 6) {
			a.Evidence.Frames = append(a.Evidence.Frames, uint64(ns)+uint64(i))
		}
		line := AppendCEF(nil, &a, version)
		r, err := parseCEF(string(line))
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if r.Header[3] != version && (version != "" || r.Header[3] != "0") {
			t.Fatalf("device version %q, want %q", r.Header[3], version)
		}
		got, gotSev, err := alertFromCEF(r)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if err := sameCEFFields(a, got, gotSev); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		// A message cut inside msg, as a syslog sink does to fit a
		// datagram, still parses and keeps every other field.
		if m := strings.LastIndex(string(line), " msg="); m >= 0 && a.Message != "" {
			n := m + 5 + int(uint(ns)%uint(len(line)-m-4))
			cut := trimEscaped(slices.Clone(line), n)
			r, err := parseCEF(string(cut))
			if err != nil {
				t.Fatalf("cut at %d: %q: %v", n, cut, err)
			}
			if !strings.HasPrefix(a.Message, r.Ext["msg"]) {
				t.Fatalf("cut at %d: msg %q is not a prefix of %q", n, r.Ext["msg"], a.Message)
			}
		}
	})
}

func BenchmarkAppendCEF(b *testing.B) {
	a := sampleAlert()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendCEF(buf[:0], &a, "1.0")
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAppendSyslog(b *testing.B) {
	a := sampleAlert()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendSyslog(buf[:0], &a, 16, "sensor-1", "otrange-sensor", "4242", "1.0")
	}
	b.SetBytes(int64(len(buf)))
}
