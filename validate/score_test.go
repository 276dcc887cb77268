package validate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/output"
)

// handDataset is a small dataset written by hand: a scenario run with
// three network steps and an inject, and a benign run.
//
//	write  127.201.0.1:40001 > 127.201.1.12:502   t0+1s .. t0+1.1s
//	read   127.201.0.1:40002 > 127.201.1.10:502   t0+3s .. t0+3.2s  (no alert: missed)
//	sweep  127.201.0.1 > 127.201.1.0/24           t0+5s .. t0+6s    (no alert: missed)
func handDataset(t0 time.Time) *Dataset {
	return &Dataset{Version: 1, Speed: 1000, Runs: []Run{
		{Scenario: "hand", Title: "Hand-made", Capture: "hand.pcap", Subnet: "127.201.0.0/16", Start: t0, End: t0.Add(10 * time.Second),
			Steps: []StepLabel{
				{Step: "note", Action: "inject", Start: t0, End: t0, Complete: true},
				{Step: "write", Action: "modbus.write", Techniques: []string{"T0855", "T0836"}, Source: "127.201.0.1",
					Dest: "127.201.1.12:502", Start: t0.Add(time.Second), End: t0.Add(1100 * time.Millisecond),
					Flows: []string{"127.201.0.1:40001>127.201.1.12:502"}, Network: true, Succeeded: true, Requests: 1, Seen: 1, Complete: true},
				{Step: "read", Action: "modbus.read", Techniques: []string{"T0801"}, Source: "127.201.0.1",
					Dest: "127.201.1.10:502", Start: t0.Add(3 * time.Second), End: t0.Add(3200 * time.Millisecond),
					Flows: []string{"127.201.0.1:40002>127.201.1.10:502"}, Network: true, Succeeded: true, Requests: 1, Seen: 1, Complete: true},
				{Step: "sweep", Action: "net.discover", Techniques: []string{"T0846"}, Source: "127.201.0.1",
					Dest: "127.201.1.0/24", Start: t0.Add(5 * time.Second), End: t0.Add(6 * time.Second),
					Network: true, Succeeded: true, Requests: 100, Seen: 100, Complete: true},
			}},
		{Benign: true, Title: "Benign", Capture: "benign.pcap", Subnet: "127.209.0.0/16", Start: t0, End: t0.Add(36 * time.Second)},
	}}
}

// handAlert is one alert of the hand-made files.
type handAlert struct {
	at              time.Duration
	src             string
	sport           uint16
	dst             string
	dport           uint16
	rule, technique string
	log             bool
}

// handAlerts: one alert on the write's flow, one in the scenario run that
// matches no step (false), one in the benign run (false), one outside
// every run; a log record on the read's flow (seen, not detected).
var handAlerts = []handAlert{
	{at: 1050 * time.Millisecond, src: "127.201.0.1", sport: 40001, dst: "127.201.1.12", dport: 502, rule: "write.unauth", technique: "T0855"},
	{at: 8 * time.Second, src: "127.201.0.99", sport: 1234, dst: "127.201.1.11", dport: 502, rule: "stray"},
	{at: 4 * time.Second, src: "127.209.2.10", sport: 5555, dst: "127.209.1.10", dport: 502, rule: "benign.noise"},
	{at: 2 * time.Second, src: "10.1.2.3", sport: 1, dst: "10.1.2.4", dport: 502, rule: "elsewhere"},
	{at: 3100 * time.Millisecond, src: "127.201.0.1", sport: 40002, dst: "127.201.1.10", dport: 502, rule: "modbus", log: true},
}

func writeEVE(t *testing.T, dir string, t0 time.Time) string {
	var b strings.Builder
	b.WriteString(`{"timestamp":"` + t0.Format("2006-01-02T15:04:05.000000-0700") + `","event_type":"flow","src_ip":"127.201.0.1"}` + "\n")
	for _, a := range handAlerts {
		ts := t0.Add(a.at).Format("2006-01-02T15:04:05.000000-0700")
		if a.log {
			fmt.Fprintf(&b, `{"timestamp":"%s","event_type":"modbus","src_ip":"%s","src_port":%d,"dest_ip":"%s","dest_port":%d,"modbus":{"request":{"function_code":3}}}`+"\n",
				ts, a.src, a.sport, a.dst, a.dport)
			continue
		}
		fmt.Fprintf(&b, `{"timestamp":"%s","flow_id":1,"event_type":"alert","src_ip":"%s","src_port":%d,"dest_ip":"%s","dest_port":%d,"proto":"TCP","alert":{"action":"allowed","signature_id":9000001,"signature":"%s","category":"ics","metadata":{"mitre_technique_id":["%s"]}}}`+"\n",
			ts, a.src, a.sport, a.dst, a.dport, a.rule, a.technique)
	}
	b.WriteString("not json at all\n{\"event_type\": \"alert\", \"timestamp\": 12}\n")
	path := filepath.Join(dir, "eve.json")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeZeek(t *testing.T, dir string, t0 time.Time, jsonLogs bool) string {
	zdir := filepath.Join(dir, "zeek")
	if err := os.MkdirAll(zdir, 0o755); err != nil {
		t.Fatal(err)
	}
	ts := func(d time.Duration) string {
		return fmt.Sprintf("%d.%06d", t0.Add(d).Unix(), t0.Add(d).Nanosecond()/1000)
	}
	var notice, modbus strings.Builder
	if !jsonLogs {
		notice.WriteString("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tnotice\n" +
			"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tnote\tmsg\tsub\tsrc\tdst\tp\n" +
			"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tstring\taddr\taddr\tport\n")
		modbus.WriteString("#separator \\x09\n#path\tmodbus\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tunit_id\tfunc\tnetwork_direction\texception\n")
	}
	for _, a := range handAlerts {
		switch {
		case a.log && jsonLogs:
			fmt.Fprintf(&modbus, `{"ts":%s,"uid":"C1","id.orig_h":"%s","id.orig_p":%d,"id.resp_h":"%s","id.resp_p":%d,"func":"READ_HOLDING_REGISTERS"}`+"\n",
				ts(a.at), a.src, a.sport, a.dst, a.dport)
		case a.log:
			fmt.Fprintf(&modbus, "%s\tC1\t%s\t%d\t%s\t%d\t1\tREAD_HOLDING_REGISTERS\trequest\t-\n", ts(a.at), a.src, a.sport, a.dst, a.dport)
		case jsonLogs:
			fmt.Fprintf(&notice, `{"ts":%s,"id":{"orig_h":"%s","orig_p":%d,"resp_h":"%s","resp_p":%d},"note":"ICS::%s","msg":"%s (%s)"}`+"\n",
				ts(a.at), a.src, a.sport, a.dst, a.dport, a.rule, a.rule, a.technique)
		default:
			fmt.Fprintf(&notice, "%s\t-\t%s\t%d\t%s\t%d\tICS::%s\t%s (%s)\t-\t-\t-\t-\n", ts(a.at), a.src, a.sport, a.dst, a.dport, a.rule, a.rule, a.technique)
		}
	}
	if !jsonLogs {
		notice.WriteString("#close\t2026-01-01-00-00-00\n")
	}
	for name, body := range map[string]string{"notice.log": notice.String(), "modbus.log": modbus.String(), "conn.log": "ignored\n"} {
		if err := os.WriteFile(filepath.Join(zdir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return zdir
}

func writeCEF(t *testing.T, dir string, t0 time.Time) string {
	var b strings.Builder
	for i, a := range handAlerts {
		if a.log {
			continue
		}
		switch i % 2 {
		case 0: // otrange's own CEF, in an RFC 5424 message
			u := 1
			al := alert.Alert{ID: "a", Time: t0.Add(a.at), Sensor: "s", RuleID: a.rule, RuleName: "Rule | " + a.rule, Severity: alert.High,
				Techniques: []string{a.technique}, SrcAddr: a.src, SrcPort: a.sport, DstAddr: a.dst, DstPort: a.dport,
				Protocol: "modbus", Unit: &u, Message: "value a=b\nnext"}
			b.WriteString("<134>1 " + t0.Format(time.RFC3339) + " host otrange-sensor - - - ")
			b.Write(output.AppendCEF(nil, &al, "1"))
		default: // a generic CEF line with long key names and a date
			fmt.Fprintf(&b, "CEF:0|Vendor|IDS|2.1|%s|Generic %s|7|rt=%s sourceAddress=%s sourcePort=%d destinationAddress=%s destinationPort=%d cs1Label=MITRE cs1=%s msg=x\\=y",
				a.rule, a.rule, t0.Add(a.at).UTC().Format("Jan 02 2006 15:04:05.000 MST"), a.src, a.sport, a.dst, a.dport, a.technique)
		}
		b.WriteString("\n")
	}
	b.WriteString("<13>1 - - - - - - just a syslog line\nCEF:0|broken\n")
	path := filepath.Join(dir, "alerts.cef")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestScoreForeign scores hand-made alert files in each foreign format: the
// write is detected (within a second, tagged T0855), the read and the sweep
// are missed (the read is seen in the protocol logs where the format has
// them), the stray alert during the run and the benign run's alert are
// false, the alert on other addresses is outside.
func TestScoreForeign(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	ds := handDataset(t0)
	cases := []struct {
		name string
		spec func(dir string) string
		logs bool // the format carries the log record
		bad  int  // lines not understood as records
	}{
		{"eve", func(dir string) string { return "eve:" + writeEVE(t, dir, t0) }, true, 1},
		{"zeek-tsv", func(dir string) string { return "zeek:" + writeZeek(t, dir, t0, false) }, true, 0},
		{"zeek-json", func(dir string) string { return "zeek:" + writeZeek(t, dir, t0, true) }, true, 0},
		{"cef", func(dir string) string { return "cef:" + writeCEF(t, dir, t0) }, false, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			det, err := ParseDetector(c.spec(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			as, st, err := det.Alerts(context.Background(), "", ds)
			if err != nil {
				t.Fatal(err)
			}
			if st.Alerts != 4 || st.Bad != c.bad {
				t.Errorf("read %+v; want 4 alerts, %d bad lines", st, c.bad)
			}
			rep := Score(ds, det.Name(), as, ScoreConfig{})
			if len(rep.Scenarios) != 1 {
				t.Fatalf("%d scenarios scored", len(rep.Scenarios))
			}
			got := map[string]StepScore{}
			for _, s := range rep.Scenarios[0].Steps {
				got[s.Step] = s
			}
			if _, ok := got["note"]; ok {
				t.Error("the inject was scored")
			}
			w := got["write"]
			if w.Status != Detected || w.Latency != 50*time.Millisecond || w.Bucket != "<1s" || w.Alerts != 1 {
				t.Errorf("write: %+v; want detected after 50ms by one alert", w)
			}
			if len(w.Tagged) != 1 || w.Tagged[0] != "T0855" {
				t.Errorf("write tagged %v, want [T0855]", w.Tagged)
			}
			if r := got["read"]; r.Status != Missed || r.Seen != c.logs {
				t.Errorf("read: %+v; want missed, seen %v", r, c.logs)
			}
			if s := got["sweep"]; s.Status != Missed {
				t.Errorf("sweep: %+v; want missed", s)
			}
			if rep.Unmatched != 1 || rep.Scenarios[0].FalseRules["stray"]+rep.Scenarios[0].FalseRules["ICS::stray"] != 1 {
				t.Errorf("unmatched %d %v; want the stray alert", rep.Unmatched, rep.Scenarios[0].FalseRules)
			}
			if rep.Benign.Alerts != 1 || rep.Benign.PerHour != 100 {
				t.Errorf("benign: %+v; want 1 alert in 36s (100 per hour)", rep.Benign)
			}
			if rep.Outside != 1 {
				t.Errorf("outside %d, want 1", rep.Outside)
			}
			if rep.Totals.Detected != 1 || rep.Totals.Missed != 2 || rep.Totals.Share != 1.0/3 {
				t.Errorf("totals %+v", rep.Totals)
			}
			statuses := map[string]string{}
			for _, ts := range rep.Techniques {
				statuses[ts.ID] = ts.Status
			}
			want := map[string]string{"T0855": Detected, "T0836": Detected, "T0801": Missed, "T0846": Missed}
			for id, s := range want {
				if statuses[id] != s {
					t.Errorf("technique %s: %q, want %q", id, statuses[id], s)
				}
			}
		})
	}
}

// TestScoreMatching covers the matching rules one at a time.
func TestScoreMatching(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration, src string, sport uint16, dst string, dport uint16) Alert {
		return Alert{Time: t0.Add(d), Src: parseAddr(src), SrcPort: sport, Dst: parseAddr(dst), DstPort: dport, Rule: "r"}
	}
	cases := []struct {
		name  string
		alert Alert
		step  string // the step credited, "" none
	}{
		{"exact flow", at(1050*time.Millisecond, "127.201.0.1", 40001, "127.201.1.12", 502), "write"},
		{"reversed flow (a response)", at(1050*time.Millisecond, "127.201.1.12", 502, "127.201.0.1", 40001), "write"},
		{"no ports", at(1050*time.Millisecond, "127.201.0.1", 0, "127.201.1.12", 0), "write"},
		{"within the grace", at(5*time.Second, "127.201.0.1", 40001, "127.201.1.12", 502), "write"},
		{"after the grace", at(11500*time.Millisecond, "127.201.0.1", 40001, "127.201.1.12", 502), ""},
		{"before the step", at(900*time.Millisecond, "127.201.0.1", 40001, "127.201.1.12", 502), ""},
		{"other source port", at(1050*time.Millisecond, "127.201.0.1", 40009, "127.201.1.12", 502), ""},
		{"sweep prefix", at(5500*time.Millisecond, "127.201.0.1", 33333, "127.201.1.77", 44818), "sweep"},
		// In the read's grace and the sweep's window: the sweep, matched
		// within its own time, takes it.
		{"sweep before read's grace", at(5500*time.Millisecond, "127.201.0.1", 0, "127.201.1.10", 0), "sweep"},
		// The read's exact flow in the sweep's window: the read takes it.
		{"exact beats sweep", at(5500*time.Millisecond, "127.201.0.1", 40002, "127.201.1.10", 502), "read"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := Score(handDataset(t0), "t", []Alert{c.alert}, ScoreConfig{})
			var got []string
			for _, s := range rep.Scenarios[0].Steps {
				if s.Status == Detected {
					got = append(got, s.Step)
				}
			}
			want := []string{}
			if c.step != "" {
				want = []string{c.step}
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("credited to %v, want %v", got, want)
			}
			if wantFalse := c.step == ""; (rep.Unmatched == 1) != wantFalse {
				t.Errorf("unmatched %d", rep.Unmatched)
			}
		})
	}
}

// TestScoreRepeatAndLost: a quiet step on a pair alerted just before is a
// repeat; a quiet step whose capture is incomplete is lost; neither counts
// in the coverage.
func TestScoreRepeatAndLost(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	ds := handDataset(t0)
	ds.Runs[0].Steps[2].Dest = "127.201.1.12:502" // the read goes to the write's PLC
	ds.Runs[0].Steps[2].Flows = []string{"127.201.0.1:40002>127.201.1.12:502"}
	ds.Runs[0].Steps[3].Complete = false // the sweep's capture lost probes
	as := []Alert{{Time: t0.Add(1050 * time.Millisecond), Src: parseAddr("127.201.0.1"), SrcPort: 40001,
		Dst: parseAddr("127.201.1.12"), DstPort: 502, Rule: "r"}}
	rep := Score(ds, "t", as, ScoreConfig{Grace: time.Second})
	st := map[string]string{}
	for _, s := range rep.Scenarios[0].Steps {
		st[s.Step] = s.Status
	}
	if st["write"] != Detected || st["read"] != Repeat || st["sweep"] != Lost {
		t.Errorf("statuses %v; want write detected, read repeat, sweep lost", st)
	}
	if rep.Totals.Share != 1 {
		t.Errorf("share %v, want 1 (repeat and lost not scored)", rep.Totals.Share)
	}
	rep = Score(ds, "t", as, ScoreConfig{Grace: time.Second, Dedup: -1})
	if s := rep.Scenarios[0].Steps[1]; s.Status != Missed {
		t.Errorf("with dedup off the read is %s, want missed", s.Status)
	}
}

// TestReportFormats renders every format of a hand-made score.
func TestReportFormats(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	rep := Score(handDataset(t0), "hand <detector>", []Alert{{Time: t0.Add(1050 * time.Millisecond), Src: parseAddr("127.201.0.1"),
		SrcPort: 40001, Dst: parseAddr("127.201.1.12"), DstPort: 502, Rule: "r", Techniques: []string{"T0855"}}}, ScoreConfig{})
	dir := t.TempDir()
	if err := rep.WriteReports(dir); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{"| hand | 3 | 1 | 2 | 0 | 0 | 33% | 0 |", "| T0855 | 1 | 1 | 1 | 0 | 0 | 0 | detected | 50ms (<1s) |",
		"| read | modbus.read | T0801 | succeeded | missed | – |  |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !strings.Contains(string(html), "hand &lt;detector&gt;") || strings.Contains(string(html), "<detector>") {
		t.Error("report.html does not escape the detector's name")
	}
	nav, _ := os.ReadFile(filepath.Join(dir, "navigator.json"))
	for _, want := range []string{`"domain": "ics-attack"`, `"techniqueID": "T0855"`, `"score": 2`} {
		if !strings.Contains(string(nav), want) {
			t.Errorf("navigator.json lacks %s", want)
		}
	}
	if _, err := ReadLabels(dir); err == nil {
		t.Error("ReadLabels read a folder without labels")
	}
}
