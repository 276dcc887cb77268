package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/server/store"
)

func startServer(t *testing.T) (*Server, string) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		st.Close()
	})
	return s, ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAPIErrors(t *testing.T) {
	_, addr := startServer(t)
	cases := []struct {
		path string
		code int
		body string
	}{
		{"/api/health", 200, `"ok"`},
		{"/api/alerts?limit=0", 400, "limit must be between 1 and 1000"},
		{"/api/alerts?limit=5000", 400, "limit must be between 1 and 1000"},
		{"/api/alerts?after=-1", 400, "after must be a non-negative integer"},
		{"/api/alerts?limit=x", 400, `got \"x\"`},
		{"/api/nothing-here", 404, `"error"`},
		{"/", 200, "<title>otrange</title>"},
		{"/app.js", 200, "WebSocket"},
	}
	for _, tc := range cases {
		code, body := get(t, "http://"+addr+tc.path)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tc.path, code, body, tc.code, tc.body)
		}
	}
}

func readMsg(t *testing.T, c *websocket.Conn) Message {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m Message
	if err := c.ReadJSON(&m); err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

// TestWebSocketPushesAlertsAndState: a browser-like client gets a hello with
// stored alerts, then live alerts, HMI values and sensor status in order.
func TestWebSocketPushesAlertsAndState(t *testing.T) {
	s, addr := startServer(t)
	s.Emit(alert.Alert{RuleID: "r1", Time: time.Now(), Techniques: []string{"T0836"}})

	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", http.Header{"Origin": {"http://" + addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hello := readMsg(t, c)
	b, _ := json.Marshal(hello.Data)
	if hello.Type != "hello" || !strings.Contains(string(b), `"rule_id":"r1"`) || !strings.Contains(string(b), `"event_id":1`) {
		t.Fatalf("hello = %s %s", hello.Type, b)
	}
	s.Emit(alert.Alert{RuleID: "r2", Time: time.Now()})
	s.PublishHMI(map[string]int{"level_mm": 1234})
	s.SetSensorStatus(SensorStatus{Running: false, Reason: "no rights"})
	for _, want := range []string{`"rule_id":"r2"`, `"level_mm":1234`, `"reason":"no rights"`} {
		m := readMsg(t, c)
		b, _ := json.Marshal(m.Data)
		if !strings.Contains(string(b), want) {
			t.Fatalf("got %s %s, want %s", m.Type, b, want)
		}
	}
	code, body := get(t, "http://"+addr+"/api/state")
	if code != 200 || !strings.Contains(body, `"level_mm":1234`) || !strings.Contains(body, `"no rights"`) {
		t.Fatalf("state = %d %s", code, body)
	}
	code, body = get(t, "http://"+addr+"/api/alerts?after=1")
	if code != 200 || strings.Contains(body, `"r1"`) || !strings.Contains(body, `"r2"`) {
		t.Fatalf("alerts after 1 = %d %s", code, body)
	}
}

func TestWebSocketRefusesForeignOrigin(t *testing.T) {
	_, addr := startServer(t)
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", http.Header{"Origin": {"http://evil.example"}})
	if err == nil {
		t.Fatal("cross-origin WebSocket accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin response: %v", resp)
	}
}
