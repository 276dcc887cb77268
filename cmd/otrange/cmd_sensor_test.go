package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/output"
	"github.com/otrange/otrange/sensor/rules"
)

const quickdraw = "../../../shared/pcaps/quickdraw-modbus-part1.pcap"
const qdPolicy = "../../sensor/rules/testdata/quickdraw-policy.yaml"

func needCapture(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI", path)
		}
		t.Skipf("%s absent", path)
	}
}

// sensorCLI runs `otrange sensor args...` in process and returns stdout,
// stderr and the exit code.
func sensorCLI(t *testing.T, ctx context.Context, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(ctx, append([]string{"sensor"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

func readAlerts(t *testing.T, data string) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		var a alert.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("not a JSON alert line: %q: %v", sc.Text(), err)
		}
		out = append(out, a)
	}
	return out
}

// summarize renders alerts as sensor/rules' golden files do.
func summarize(alerts []alert.Alert) string {
	frames := map[string][]string{}
	var ids []string
	for _, a := range alerts {
		if _, ok := frames[a.RuleID]; !ok {
			ids = append(ids, a.RuleID)
		}
		f := a.Evidence.Frames
		frames[a.RuleID] = append(frames[a.RuleID], strconv.FormatUint(f[len(f)-1], 10))
	}
	sortStrings(ids)
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "%s %d frames=%s\n", id, len(frames[id]), strings.Join(frames[id], ","))
	}
	return b.String()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestSensorFileToJSONAndSQLite reads a Quickdraw capture with its policy:
// the JSON lines on stdout and the SQLite store hold the alerts of
// sensor/rules' golden file, and the asset inventory is saved and printed.
func TestSensorFileToJSONAndSQLite(t *testing.T) {
	needCapture(t, quickdraw)
	dir := t.TempDir()
	db := filepath.Join(dir, "alerts.db")
	inv := filepath.Join(dir, "assets.db")
	stdout, stderr, code := sensorCLI(t, context.Background(), "-r", quickdraw, "-policy", qdPolicy, "-sqlite", db, "-assets", inv, "-name", "cli-test")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got := readAlerts(t, stdout)
	want, err := os.ReadFile("../../sensor/rules/testdata/golden/quickdraw-modbus-part1.alerts")
	if err != nil {
		t.Fatal(err)
	}
	var rulesOnly []alert.Alert
	for _, a := range got {
		if !strings.HasPrefix(a.RuleID, "asset.") {
			rulesOnly = append(rulesOnly, a)
		}
		if a.Sensor != "cli-test" {
			t.Fatalf("sensor name %q", a.Sensor)
		}
	}
	if s := summarize(rulesOnly); s != string(want) {
		t.Fatalf("alerts:\n%swant:\n%s", s, want)
	}
	if !strings.Contains(stderr, "sensor done") || !strings.Contains(stderr, "packets=118") {
		t.Fatalf("summary log: %s", stderr)
	}
	store, err := output.OpenSQLite(output.SQLiteConfig{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	stored, err := store.Query(context.Background(), output.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(got) {
		t.Fatalf("SQLite holds %d alerts, stdout had %d", len(stored), len(got))
	}
	table, stderr, code := sensorCLI(t, context.Background(), "assets", "-db", inv)
	if code != 0 || !strings.Contains(table, "10.0.0.3") || !strings.Contains(table, "10.0.0.57") {
		t.Fatalf("assets (exit %d): %s %s", code, table, stderr)
	}
}

func TestSensorRulesTable(t *testing.T) {
	out, _, code := sensorCLI(t, context.Background(), "rules")
	if code != 0 {
		t.Fatal(code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	list := rules.List()
	if len(lines) != len(list)+1 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("%d lines for %d rules:\n%s", len(lines), len(list), out)
	}
	for i, r := range list {
		f := strings.Fields(lines[i+1])
		if f[0] != r.ID || f[1] != string(r.Severity) || f[2] != strings.Join(r.Techniques, ",") {
			t.Fatalf("line %q for rule %+v", lines[i+1], r)
		}
	}
	js, _, code := sensorCLI(t, context.Background(), "rules", "-json")
	var decoded []rules.Info
	if code != 0 || json.Unmarshal([]byte(js), &decoded) != nil || len(decoded) != len(list) {
		t.Fatalf("rules -json: %d %q", code, js)
	}
}

func TestSensorUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-r", "x.pcap", "-i", "lo"}, "exactly one of -i IFACE or -r FILE"},
		{[]string{"-r", "x.pcap", "-cef", "syslog://h:514"}, "want udp://host:port or tcp://host:port"},
		{[]string{"-r", "x.pcap", "-snaplen", "10"}, "-snaplen 10"},
		{[]string{"-r", "x.pcap", "-o", ""}, "no output"},
		{[]string{"-r", "x.pcap", "-dnp3-ports", "0"}, `bad port "0" in -dnp3-ports`},
		{[]string{"-r", "x.pcap", "-server", "ftp://x"}, "want http://host:port"},
		{[]string{"assets"}, "-db FILE is required"},
	} {
		_, stderr, code := sensorCLI(t, context.Background(), c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	_, stderr, code := sensorCLI(t, context.Background(), "-i", "nope0")
	if code != 1 || !strings.Contains(stderr, `"nope0": no such interface`) {
		t.Errorf("missing interface: %d %q", code, stderr)
	}
	if _, err := os.Stat(quickdraw); err == nil {
		_, stderr, code = sensorCLI(t, context.Background(), "-r", quickdraw, "-f", "vlan 7")
		if code != 2 || !strings.Contains(stderr, `unknown word "vlan"`) {
			t.Errorf("bad filter: %d %q", code, stderr)
		}
	}
}

// TestSensorFilterOnFile: -f applies to files too.
func TestSensorFilterOnFile(t *testing.T) {
	needCapture(t, quickdraw)
	_, stderr, code := sensorCLI(t, context.Background(), "-r", quickdraw, "-f", "udp", "-policy", qdPolicy)
	if code != 0 || !strings.Contains(stderr, "packets=0") || !strings.Contains(stderr, "alerts=0") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

// TestSensorServerOutput posts alerts to an HTTP server standing in for
// the exercise server's POST /api/alerts.
func TestSensorServerOutput(t *testing.T) {
	needCapture(t, quickdraw)
	var mu sync.Mutex
	var got []alert.Alert
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/alerts" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var batch []alert.Alert
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, batch...)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	stdout, stderr, code := sensorCLI(t, context.Background(), "-r", quickdraw, "-policy", qdPolicy, "-server", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := readAlerts(t, stdout)
	mu.Lock()
	defer mu.Unlock()
	if len(want) == 0 || summarize(got) != summarize(want) {
		t.Fatalf("server got %d alerts, stdout %d", len(got), len(want))
	}
	// A server that refuses: the run reports the loss.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", 500) }))
	defer bad.Close()
	_, stderr, code = sensorCLI(t, context.Background(), "-r", quickdraw, "-policy", qdPolicy, "-server", bad.URL, "-o", "")
	if code != 1 || !strings.Contains(stderr, "alerts not delivered") {
		t.Fatalf("refusing server: exit %d: %s", code, stderr)
	}
}

// TestSensorCEFToRsyslog sends the alerts of a capture as CEF to a real
// rsyslogd over UDP and over TCP, and reads them back from its output file.
func TestSensorCEFToRsyslog(t *testing.T) {
	needCapture(t, quickdraw)
	rs := startRsyslog(t)
	stdout, stderr, code := sensorCLI(t, context.Background(), "-r", quickdraw, "-policy", qdPolicy,
		"-cef", "udp://127.0.0.1:"+strconv.Itoa(rs.udpPort))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := readAlerts(t, stdout)
	_, stderr, code = sensorCLI(t, context.Background(), "-r", quickdraw, "-policy", qdPolicy, "-o", "",
		"-cef", "tcp://127.0.0.1:"+strconv.Itoa(rs.tcpPort))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, input := range []string{"imudp", "imtcp"} {
		var msgs []rsMessage
		waitUntil(t, 10*time.Second, "rsyslog to write every alert from "+input, func() bool {
			msgs = rs.alerts(input)
			return len(msgs) >= len(want)
		})
		if len(msgs) != len(want) {
			t.Fatalf("%s: %d messages for %d alerts", input, len(msgs), len(want))
		}
		for i, a := range want {
			m := msgs[i]
			if !strings.HasPrefix(m.Msg, "CEF:0|otrange|") || !strings.Contains(m.Msg, "|"+a.RuleID+"|") || m.App != "otrange-sensor" {
				t.Fatalf("%s message %d: %+v for alert %s", input, i, m, a.RuleID)
			}
			if !strings.Contains(m.Msg, "src="+a.SrcAddr) || !strings.Contains(m.Msg, "dst="+a.DstAddr) {
				t.Fatalf("%s message %d lacks the addresses of %+v: %s", input, i, a, m.Msg)
			}
		}
	}
}

// rsyslogd is a real rsyslog started by a test on loopback; it writes each
// message it receives as a JSON line (the approach of sensor/output's
// tests).
type rsyslogd struct {
	t                *testing.T
	out              string
	udpPort, tcpPort int
}

type rsMessage struct {
	Input string `json:"input"`
	App   string `json:"app"`
	MsgID string `json:"msgid"`
	Msg   string `json:"msg"`
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startRsyslog(t *testing.T) *rsyslogd {
	t.Helper()
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		bin, err = exec.LookPath("/usr/sbin/rsyslogd")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rsyslogd is required in CI")
		}
		t.Skip("rsyslogd not installed")
	}
	dir := t.TempDir()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	udpPort := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	r := &rsyslogd{t: t, out: filepath.Join(dir, "out.jsonl"), udpPort: udpPort}
	portFile := filepath.Join(dir, "tcp.port")
	conf := fmt.Sprintf(`global(workDirectory=%[1]q maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="%[2]d")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName=%[3]q)
template(name="json" type="string" string="{\"input\":\"%%inputname%%\",\"app\":\"%%app-name%%\",\"msgid\":\"%%msgid%%\",\"msg\":\"%%msg:::json%%\"}\n")
action(type="omfile" file=%[4]q template="json")
`, dir, udpPort, portFile, r.out)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-n", "-f", confPath, "-i", filepath.Join(dir, "pid"))
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	alive := func() {
		select {
		case <-exited:
			t.Fatalf("rsyslogd exited: %s", stderr.String())
		default:
		}
	}
	waitUntil(t, 10*time.Second, "rsyslogd's TCP port", func() bool {
		alive()
		b, err := os.ReadFile(portFile)
		if err != nil {
			return false
		}
		r.tcpPort, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && r.tcpPort > 0
	})
	udp, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(udpPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	waitUntil(t, 10*time.Second, "rsyslogd to deliver a probe", func() bool {
		alive()
		udp.Write([]byte("<13>1 - probe probe - probe - ready"))
		for _, m := range r.messages() {
			if m.MsgID == "probe" {
				return true
			}
		}
		return false
	})
	return r
}

func (r *rsyslogd) messages() []rsMessage {
	b, err := os.ReadFile(r.out)
	if err != nil {
		return nil
	}
	var out []rsMessage
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m rsMessage
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func (r *rsyslogd) alerts(input string) []rsMessage {
	var out []rsMessage
	for _, m := range r.messages() {
		if m.Input == input && m.MsgID != "probe" {
			out = append(out, m)
		}
	}
	return out
}

func TestProgressLine(t *testing.T) {
	l := progressLine(50, 100, 1000, 3, 2)
	if !strings.Contains(l, " 50%") || !strings.Contains(l, "500 packets/s") || !strings.Contains(l, "3 alerts") || !strings.Contains(l, "===>") {
		t.Fatalf("%q", l)
	}
	if l := progressLine(0, 0, 0, 0, 0); !strings.Contains(l, "  0%") {
		t.Fatalf("%q", l)
	}
}

// TestSensorBaseline learns a capture's communication, saves the model,
// then judges captures against it: the same traffic raises no baseline
// alert, other traffic raises new-pair alerts.
func TestSensorBaseline(t *testing.T) {
	small := "../../../shared/pcaps/zeek-modbusSmall.pcap"
	needCapture(t, small)
	needCapture(t, quickdraw)
	model := filepath.Join(t.TempDir(), "baseline.json")
	_, stderr, code := sensorCLI(t, context.Background(), "-r", small, "-baseline-learn", "1h", "-baseline", model, "-o", "")
	if code != 2 { // -o "" and nothing else: no output
		t.Fatalf("exit %d: %s", code, stderr)
	}
	_, stderr, code = sensorCLI(t, context.Background(), "-r", small, "-baseline-learn", "1h", "-baseline", model, "-o", os.DevNull)
	if code != 0 || !strings.Contains(stderr, "baseline saved") {
		t.Fatalf("learning run: exit %d: %s", code, stderr)
	}
	count := func(out string) map[string]int {
		m := map[string]int{}
		for _, a := range readAlerts(t, out) {
			if strings.HasPrefix(a.RuleID, "baseline.") {
				m[a.RuleID]++
			}
		}
		return m
	}
	out, stderr, code := sensorCLI(t, context.Background(), "-r", small, "-baseline", model)
	if code != 0 || len(count(out)) != 0 {
		t.Fatalf("the learned traffic raised baseline alerts (exit %d): %v %s", code, count(out), stderr)
	}
	out, stderr, code = sensorCLI(t, context.Background(), "-r", quickdraw, "-baseline", model)
	if code != 0 || count(out)["baseline.new_pair"] == 0 {
		t.Fatalf("other traffic (exit %d): %v %s", code, count(out), stderr)
	}
	_, stderr, code = sensorCLI(t, context.Background(), "-r", small, "-baseline", filepath.Join(t.TempDir(), "missing.json"))
	if code != 1 || !strings.Contains(stderr, "missing.json") {
		t.Fatalf("missing model: exit %d: %s", code, stderr)
	}
}
