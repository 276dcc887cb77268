package output

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/alert"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rsyslog is a real rsyslogd started by a test, listening on loopback and
// writing every message it receives as one JSON object per line.
type rsyslog struct {
	t       *testing.T
	dir     string
	out     string
	udpPort int
	tcpPort int
	cmd     *exec.Cmd
	stderr  *bytes.Buffer
	exited  chan struct{} // closed when the daemon has exited
	probes  int
}

// received is one message as rsyslog parsed it.
type received struct {
	Input  string `json:"input"`
	Pri    string `json:"pri"`
	TS     string `json:"ts"`
	Host   string `json:"host"`
	App    string `json:"app"`
	ProcID string `json:"procid"`
	MsgID  string `json:"msgid"`
	Msg    string `json:"msg"`
}

func rsyslogd(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("rsyslogd")
	if err != nil {
		p, err = exec.LookPath("/usr/sbin/rsyslogd")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rsyslogd is required in CI (apt-get install -y rsyslog)")
		}
		t.Skip("rsyslogd not installed (apt-get install -y rsyslog); skipping delivery to a real syslog daemon")
	}
	return p
}

// freeUDPPort returns a loopback UDP port that was free a moment ago.
// rsyslog's imudp cannot report a port it picked itself, unlike imtcp.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// startRsyslog starts rsyslogd with imudp and imtcp on 127.0.0.1. A zero
// tcpPort lets imtcp pick one. It returns once both inputs deliver.
func startRsyslog(t *testing.T, dir string, udpPort, tcpPort int) *rsyslog {
	t.Helper()
	bin := rsyslogd(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &rsyslog{t: t, dir: dir, out: filepath.Join(dir, "out.jsonl"), udpPort: udpPort, tcpPort: tcpPort, stderr: &bytes.Buffer{}}
	portFile := filepath.Join(dir, "tcp.port")
	os.Remove(portFile)
	conf := fmt.Sprintf(`global(workDirectory=%[1]q maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="%[2]d")
input(type="imtcp" address="127.0.0.1" port="%[3]d" listenPortFileName=%[4]q)
template(name="json" type="string" string="{\"input\":\"%%inputname%%\",\"pri\":\"%%pri%%\",\"ts\":\"%%timereported:::date-rfc3339%%\",\"host\":\"%%hostname%%\",\"app\":\"%%app-name%%\",\"procid\":\"%%procid%%\",\"msgid\":\"%%msgid%%\",\"msg\":\"%%msg:::json%%\"}\n")
action(type="omfile" file=%[5]q template="json")
`, dir, udpPort, tcpPort, portFile, r.out)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(bin, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	r.cmd.Stdout, r.cmd.Stderr = r.stderr, r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start rsyslogd: %v", err)
	}
	exited := make(chan struct{})
	r.exited = exited
	go func() { r.cmd.Wait(); close(exited) }()
	t.Cleanup(r.stop)
	alive := func() bool {
		select {
		case <-exited:
			t.Fatalf("rsyslogd exited: %s", r.stderr)
			return false
		default:
			return true
		}
	}
	if tcpPort == 0 {
		// imtcp writes the port it picked to listenPortFileName.
		waitFor(t, 10*time.Second, "rsyslogd to report its TCP port", func() bool {
			alive()
			b, err := os.ReadFile(portFile)
			if err != nil {
				return false
			}
			p, err := strconv.Atoi(string(bytes.TrimSpace(b)))
			r.tcpPort = p
			return err == nil && p > 0
		})
	} else {
		waitFor(t, 10*time.Second, "rsyslogd to listen on TCP", func() bool {
			alive()
			c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort)))
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
	// Probe UDP until a datagram comes back out of the file: then both the
	// input and the output work.
	udp := r.dial("udp", r.udpPort)
	defer udp.Close()
	r.probes++
	probe := fmt.Sprintf("<13>1 - probe probe - probe%d - ready", r.probes)
	waitFor(t, 10*time.Second, "rsyslogd to deliver a UDP probe", func() bool {
		alive()
		udp.Write([]byte(probe))
		for _, m := range r.messages() {
			if m.MsgID == fmt.Sprintf("probe%d", r.probes) {
				return true
			}
		}
		return false
	})
	return r
}

func (r *rsyslog) dial(network string, port int) net.Conn {
	r.t.Helper()
	c, err := net.Dial(network, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

// messages returns what rsyslog wrote so far, probes left out.
func (r *rsyslog) messages() []received {
	r.t.Helper()
	b, err := os.ReadFile(r.out)
	if err != nil {
		return nil
	}
	var out []received
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m received
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			// The last line may be half written.
			continue
		}
		out = append(out, m)
	}
	return out
}

// alerts returns the non-probe messages received on one input.
func (r *rsyslog) alerts(input string) []received {
	var out []received
	for _, m := range r.messages() {
		if m.Input == input && m.MsgID == "alert" {
			out = append(out, m)
		}
	}
	return out
}

func (r *rsyslog) stop() {
	select {
	case <-r.exited:
		return
	default:
	}
	r.cmd.Process.Kill()
	<-r.exited
}

// testAlerts are n alerts with every field set and text that needs escaping.
func testAlerts(prefix string, n int) []alert.Alert {
	sev := []alert.Severity{alert.Low, alert.Medium, alert.High, alert.Critical}
	out := make([]alert.Alert, n)
	for i := range out {
		a := sampleAlert()
		a.ID = fmt.Sprintf("%s-%d", prefix, i)
		a.Time = a.Time.Add(time.Duration(i) * 1234567 * time.Microsecond)
		a.Severity = sev[i%len(sev)]
		a.Value = intp(i)
		a.Evidence.Frames = []uint64{uint64(i + 1)}
		switch i % 4 {
		case 1:
			a.Message = `pipe | equals = backslash \ ` + "newline\nend é"
			a.RuleName = `name with | and \`
		case 2:
			a.SrcAddr = "fd00::66"
			a.Unit = nil
		case 3:
			a.Message = strings.Repeat("x", 300)
		}
		out[i] = a
	}
	return out
}

// checkDelivered compares what rsyslog received with what was sent.
func checkDelivered(t *testing.T, sent []alert.Alert, got []received, host, app string, facility int) {
	t.Helper()
	byID := map[string]alert.Alert{}
	for _, a := range sent {
		byID[a.ID] = a
	}
	seen := map[string]bool{}
	for _, m := range got {
		rec, err := parseCEF(m.Msg)
		if err != nil {
			t.Fatalf("rsyslog message %q: %v", m.Msg, err)
		}
		a, sev, err := alertFromCEF(rec)
		if err != nil {
			t.Fatalf("rsyslog message %q: %v", m.Msg, err)
		}
		want, ok := byID[a.ID]
		if !ok {
			t.Fatalf("unexpected alert %q", a.ID)
		}
		if seen[a.ID] {
			t.Fatalf("alert %q delivered twice", a.ID)
		}
		seen[a.ID] = true
		if err := sameCEFFields(want, a, sev); err != nil {
			t.Errorf("alert %s: %v", a.ID, err)
		}
		if wantPri := strconv.Itoa(facility*8 + SyslogSeverity(want.Severity)); m.Pri != wantPri {
			t.Errorf("alert %s: PRI %s, want %s", a.ID, m.Pri, wantPri)
		}
		ts, err := time.Parse(time.RFC3339Nano, m.TS)
		if err != nil || !ts.Equal(want.Time.Truncate(time.Microsecond)) {
			t.Errorf("alert %s: timestamp %q (%v), want %v", a.ID, m.TS, err, want.Time)
		}
		if m.Host != host || m.App != app || m.ProcID != strconv.Itoa(os.Getpid()) {
			t.Errorf("alert %s: host %q app %q procid %q", a.ID, m.Host, m.App, m.ProcID)
		}
	}
	if len(seen) != len(sent) {
		t.Fatalf("rsyslog received %d of %d alerts", len(seen), len(sent))
	}
}

func TestSyslogToRsyslog(t *testing.T) {
	d := startRsyslog(t, t.TempDir(), freeUDPPort(t), 0)
	for _, c := range []struct{ network, input string }{{"udp", "imudp"}, {"tcp", "imtcp"}} {
		t.Run(c.network, func(t *testing.T) {
			port := d.udpPort
			if c.network == "tcp" {
				port = d.tcpPort
			}
			s, err := NewSyslog(SyslogConfig{
				Network: c.network, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
				Hostname: "sensor-1", AppName: "otrange-sensor", Facility: 20, Version: "1.0",
			})
			if err != nil {
				t.Fatal(err)
			}
			sent := testAlerts(c.network, 40)
			for _, a := range sent {
				s.Emit(a)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			st := s.Stats()
			if st.Sent != uint64(len(sent)) || st.Lost() != 0 || st.Truncated != 0 {
				t.Fatalf("stats %+v", st)
			}
			// UDP can lose datagrams in principle; on loopback with 40 small
			// messages it does not, and a loss here is worth a look.
			waitFor(t, 10*time.Second, "rsyslog to write every alert", func() bool { return len(d.alerts(c.input)) >= len(sent) })
			checkDelivered(t, sent, d.alerts(c.input), "sensor-1", "otrange-sensor", 20)
			s.Emit(sent[0])
			if st := s.Stats(); st.Dropped != 1 {
				t.Fatalf("emit after close: dropped %d, want 1", st.Dropped)
			}
		})
	}
	t.Run("udp truncation", func(t *testing.T) {
		s, err := NewSyslog(SyslogConfig{Network: "udp", Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(d.udpPort)), Hostname: "big", MaxMessage: 1024})
		if err != nil {
			t.Fatal(err)
		}
		a := sampleAlert()
		a.ID = "big-1"
		a.Message = strings.Repeat(`é=\`, 400)
		s.Emit(a)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.Truncated != 1 || st.Sent != 1 {
			t.Fatalf("stats %+v", st)
		}
		var m received
		waitFor(t, 10*time.Second, "the truncated alert", func() bool {
			for _, x := range d.alerts("imudp") {
				if x.Host == "big" {
					m = x
					return true
				}
			}
			return false
		})
		rec, err := parseCEF(m.Msg)
		if err != nil {
			t.Fatalf("truncated message does not parse: %v: %q", err, m.Msg)
		}
		got, sev, err := alertFromCEF(rec)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(a.Message, got.Message) || len(got.Message) < 100 {
			t.Fatalf("truncated msg %q", got.Message)
		}
		got.Message = a.Message
		if err := sameCEFFields(a, got, sev); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSyslogTCPReconnect restarts the collector mid-stream: the sink notices,
// redials with backoff, and the alerts emitted after the restart arrive.
func TestSyslogTCPReconnect(t *testing.T) {
	root := t.TempDir()
	d1 := startRsyslog(t, filepath.Join(root, "1"), freeUDPPort(t), 0)
	s, err := NewSyslog(SyslogConfig{
		Network: "tcp", Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(d1.tcpPort)), Hostname: "h", AppName: "a",
		BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, CloseTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := testAlerts("before", 20)
	for _, a := range before {
		s.Emit(a)
	}
	waitFor(t, 10*time.Second, "the first daemon to receive every alert", func() bool { return len(d1.alerts("imtcp")) >= len(before) })
	checkDelivered(t, before, d1.alerts("imtcp"), "h", "a", 16)

	d1.stop()
	waitFor(t, 10*time.Second, "the sink to notice the collector went away", func() bool { return !s.Stats().Connected })
	// While the collector is down, alerts wait in the queue.
	during := testAlerts("during", 5)
	for _, a := range during {
		s.Emit(a)
	}
	d2 := startRsyslog(t, filepath.Join(root, "2"), freeUDPPort(t), d1.tcpPort)
	after := testAlerts("after", 20)
	for _, a := range after {
		s.Emit(a)
	}
	all := append(during, after...)
	waitFor(t, 20*time.Second, "the restarted daemon to receive every later alert", func() bool { return len(d2.alerts("imtcp")) >= len(all) })
	checkDelivered(t, all, d2.alerts("imtcp"), "h", "a", 16)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Dials < 2 || st.Lost() != 0 || st.Sent != uint64(len(before)+len(all)) {
		t.Fatalf("stats %+v", st)
	}
}

// TestSyslogQueueBound: with the collector down, Emit neither blocks nor
// grows memory; what does not fit is dropped, and Close gives up on the rest
// at its deadline.
func TestSyslogQueueBound(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: every dial is refused
	s, err := NewSyslog(SyslogConfig{Network: "tcp", Addr: addr, QueueSize: 8,
		BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, CloseTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	a := sampleAlert()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range n / 4 {
				s.Emit(a)
			}
		})
	}
	wg.Wait()
	waitFor(t, 5*time.Second, "a failed dial", func() bool { return s.Stats().DialErrors > 0 })
	if err := s.Close(); err == nil {
		t.Fatal("Close reported success with alerts unsent")
	}
	st := s.Stats()
	if st.Sent != 0 || st.Dropped < n-9 || st.Lost() != n || st.Queued != 0 {
		t.Fatalf("stats %+v: want %d lost, at least %d dropped at the queue", st, n, n-9)
	}
}

func TestSyslogConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  SyslogConfig
	}{
		{"network", SyslogConfig{Network: "unix", Addr: "127.0.0.1:514"}},
		{"address", SyslogConfig{Network: "udp", Addr: "127.0.0.1"}},
		{"facility", SyslogConfig{Network: "udp", Addr: "127.0.0.1:514", Facility: 24}},
		{"tiny message", SyslogConfig{Network: "tcp", Addr: "127.0.0.1:514", MaxMessage: 100}},
		{"huge datagram", SyslogConfig{Network: "udp", Addr: "127.0.0.1:514", MaxMessage: 70000}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if s, err := NewSyslog(c.cfg); err == nil {
				s.Close()
				t.Fatalf("NewSyslog(%+v) succeeded", c.cfg)
			}
		})
	}
}

func TestAppendSyslogHeader(t *testing.T) {
	a := sampleAlert()
	got := string(AppendSyslog(nil, &a, 20, "sensor-1", "otrange-sensor", "77", "1.0"))
	want := "<163>1 2026-03-14T09:26:53.589793Z sensor-1 otrange-sensor 77 alert - CEF:0|otrange|sensor|1.0|"
	if !strings.HasPrefix(got, want) {
		t.Fatalf("got  %s\nwant %s...", got, want)
	}
	a.Time = time.Time{}
	got = string(AppendSyslog(nil, &a, 16, "", "", "", ""))
	if want := "<131>1 - - - - alert - CEF:0|"; !strings.HasPrefix(got, want) {
		t.Fatalf("got  %s\nwant %s...", got, want)
	}
	if h := headerToken("my host\x00é", 5); h != "myhos" {
		t.Fatalf("headerToken = %q", h)
	}
}
