package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/otrange/otrange/internal/apitest"
	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/server/store"
	"github.com/otrange/otrange/simulator/control"
	"github.com/otrange/otrange/simulator/firewall"
)

// fwRange carries out block/unblock on a real range firewall.
type fwRange struct{ fw *firewall.Firewall }

func (r fwRange) Do(_ context.Context, a control.Action) (control.Result, error) {
	src, err := firewall.ParseSource(a.Source)
	if err != nil {
		return control.Result{}, err
	}
	switch a.Kind {
	case control.BlockHost:
		_, err = r.fw.Block(a.Device, src, a.Reason)
	case control.UnblockHost:
		_, err = r.fw.Unblock(a.Device, src)
	default:
		err = fmt.Errorf("not supported here: %s", a.Kind)
	}
	return control.Result{Message: a.String()}, err
}

func startExerciseServer(t *testing.T, rc control.Controller) string {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Store: st, Range: rc})
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
	return "http://" + ln.Addr().String()
}

// call sends a JSON request and decodes a JSON answer into out (if not
// nil); an error status must come with a JSON error message.
func call(t *testing.T, method, url, token string, body any, out any) int {
	t.Helper()
	var raw json.RawMessage
	code := apitest.Call(t, method, url, token, body, &raw)
	if code >= 400 {
		var e apiError
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			t.Errorf("%s %s: status %d without a JSON error message: %s", method, url, code, raw)
		}
	}
	if out != nil {
		json.Unmarshal(raw, out)
	}
	return code
}

type created struct {
	Exercise    exercise.Exercise    `json:"exercise"`
	Credentials exercise.Credentials `json:"credentials"`
}

func setup(t *testing.T, base string) (x created, tokens map[string]string) {
	t.Helper()
	if code := call(t, "POST", base+"/api/exercises", "", map[string]any{"title": "Drill", "speed": 10}, &x); code != 201 {
		t.Fatalf("create: %d", code)
	}
	tokens = map[string]string{exercise.Facilitator: x.Credentials.Facilitator}
	for _, role := range []string{exercise.Operator, exercise.ITSOCAnalyst, exercise.OTEngineer, exercise.IncidentCommander, exercise.PlantManager} {
		var j struct{ Token string }
		if code := call(t, "POST", base+"/api/exercises/"+x.Exercise.ID+"/join", "",
			map[string]string{"invite": x.Credentials.Invites[role], "name": role + " person"}, &j); code != 201 {
			t.Fatalf("join %s: %d", role, code)
		}
		tokens[role] = j.Token
	}
	return x, tokens
}

func TestExerciseAuthorization(t *testing.T) {
	fw := firewall.New(nil, nil)
	base := startExerciseServer(t, fwRange{fw})
	x, tok := setup(t, base)
	ex := base + "/api/exercises/" + x.Exercise.ID

	// Every facilitator action, attempted with each participant's token.
	facActions := []struct {
		method, path string
		body         any
	}{
		{"POST", "/state", map[string]string{"state": "running"}},
		{"POST", "/injects", map[string]any{"text": "The river is rising", "roles": []string{"operator"}}},
		{"POST", "/actions", map[string]string{"kind": "reset_plant"}},
		{"GET", "/score", nil},
		{"GET", "/report", nil},
		{"GET", "/navigator", nil},
		{"GET", "/journal", nil},
	}
	for _, role := range []string{exercise.Operator, exercise.ITSOCAnalyst, exercise.IncidentCommander, exercise.OTEngineer} {
		for _, a := range facActions {
			t.Run(role+a.path, func(t *testing.T) {
				if code := call(t, a.method, ex+a.path, tok[role], a.body, nil); code != http.StatusForbidden {
					t.Errorf("%s %s by %s = %d, want 403", a.method, a.path, role, code)
				}
			})
		}
	}
	for _, a := range append(facActions[:2:2], facActions[3:]...) {
		if code := call(t, a.method, ex+a.path, tok[exercise.Facilitator], a.body, nil); code >= 300 {
			t.Errorf("facilitator %s = %d", a.path, code)
		}
	}
	// Role-restricted participant actions.
	block := map[string]string{"kind": "block_host", "device": "plc-intake", "source": "127.66.0.1"}
	if code := call(t, "POST", ex+"/actions", tok[exercise.Operator], block, nil); code != http.StatusForbidden {
		t.Errorf("operator range action = %d, want 403", code)
	}
	if !fw.Allowed("plc-intake", netip.MustParseAddr("127.66.0.1")) {
		t.Fatal("a refused action changed the firewall")
	}
	if code := call(t, "POST", ex+"/actions", tok[exercise.OTEngineer], block, nil); code != http.StatusCreated {
		t.Errorf("OT engineer block = %d, want 201", code)
	}
	if fw.Allowed("plc-intake", netip.MustParseAddr("127.66.0.1")) {
		t.Error("the OT engineer's block did not reach the firewall")
	}
	if code := call(t, "POST", ex+"/decisions", tok[exercise.Operator], map[string]string{"text": "isolate"}, nil); code != http.StatusForbidden {
		t.Errorf("operator decision = %d, want 403", code)
	}
	if code := call(t, "POST", ex+"/decisions", tok[exercise.IncidentCommander], map[string]string{"text": "isolate the PLC network"}, nil); code != http.StatusCreated {
		t.Errorf("commander decision = %d", code)
	}

	// Authentication and validation.
	y, tokY := setup(t, base)
	for _, tc := range []struct {
		name, method, url, token string
		body                     any
		want                     int
	}{
		{"no token", "GET", ex, "", nil, 401},
		{"other exercise's token", "GET", ex, tokY[exercise.Facilitator], nil, 401},
		{"unknown exercise", "GET", base + "/api/exercises/ex-nope", tok[exercise.Facilitator], nil, 404},
		{"unknown field", "POST", ex + "/chat", tok[exercise.Operator], `{"text":"hi","x":1}`, 400},
		{"empty chat", "POST", ex + "/chat", tok[exercise.Operator], `{"text":"  "}`, 400},
		{"bad JSON", "POST", ex + "/chat", tok[exercise.Operator], `{`, 400},
		{"bad state move", "POST", ex + "/state", tok[exercise.Facilitator], `{"state":"draft"}`, 409},
		{"unknown state", "POST", ex + "/state", tok[exercise.Facilitator], `{"state":"exploded"}`, 409},
		{"inject to a role not in the exercise", "POST", ex + "/injects", tok[exercise.Facilitator], `{"text":"x","roles":["janitor"]}`, 400},
		{"bad action", "POST", ex + "/actions", tok[exercise.OTEngineer], `{"kind":"set_mode","device":"plc-intake","mode":"turbo"}`, 400},
		{"join with a bad invite", "POST", base + "/api/exercises/" + y.Exercise.ID + "/join", "", `{"invite":"x","name":"Mallory"}`, 401},
		{"bad report format", "GET", ex + "/report?format=pdf", tok[exercise.Facilitator], nil, 400},
		{"create without title", "POST", base + "/api/exercises", "", `{"speed":2}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := call(t, tc.method, tc.url, tc.token, tc.body, nil); code != tc.want {
				t.Errorf("status %d, want %d", code, tc.want)
			}
		})
	}
}

func TestExerciseWebSocketByRoleAndResume(t *testing.T) {
	base := startExerciseServer(t, nil)
	x, tok := setup(t, base)
	ex := base + "/api/exercises/" + x.Exercise.ID
	inject := func(text string, roles ...string) int64 {
		var ev store.Event
		if code := call(t, "POST", ex+"/injects", tok[exercise.Facilitator], map[string]any{"text": text, "roles": roles}, &ev); code != 201 {
			t.Fatalf("inject: %d", code)
		}
		return ev.ID
	}
	dial := func(role string, after int64) *websocket.Conn {
		u := fmt.Sprintf("ws%s/ws/exercises/%s?token=%s&after=%d", base[len("http"):], x.Exercise.ID, tok[role], after)
		c, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	next := func(c *websocket.Conn) store.Event {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var m struct {
			Type string
			Data store.Event
		}
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("read: %v", err)
		}
		return m.Data
	}
	skipJoins := func(c *websocket.Conn) store.Event {
		for {
			ev := next(c)
			if ev.Kind != exercise.KindJoined && ev.Kind != exercise.KindCreated {
				return ev
			}
		}
	}
	op := dial(exercise.Operator, 0)
	forSOC := inject("SIEM shows odd logins", exercise.ITSOCAnalyst)
	forOp := inject("Chlorine reading is jumping", exercise.Operator)
	if ev := skipJoins(op); ev.ID != forOp {
		t.Fatalf("operator got event %d (%s), want only its inject %d (SOC's was %d)", ev.ID, ev.Kind, forOp, forSOC)
	}
	op.Close()
	// The operator reconnects after its last event and misses nothing.
	forAll := inject("Press release due at noon")
	op2 := dial(exercise.Operator, forOp)
	if ev := next(op2); ev.ID != forAll {
		t.Errorf("after resume the operator got %d, want %d", ev.ID, forAll)
	}
	if _, _, err := websocket.DefaultDialer.Dial(fmt.Sprintf("ws%s/ws/exercises/%s?token=bad", base[len("http"):], x.Exercise.ID), nil); err == nil {
		t.Error("a WebSocket with a bad token was accepted")
	}
}

func TestSensorPostsAlerts(t *testing.T) {
	base := startExerciseServer(t, nil)
	a := []map[string]any{{"rule_id": "modbus.write.unauthorized", "time": time.Now(), "src_addr": "127.66.0.1", "techniques": []string{"T0836"}}}
	if code := call(t, "POST", base+"/api/alerts", "", a, nil); code != 202 {
		t.Fatalf("post alerts: %d", code)
	}
	var got []map[string]any
	if code := call(t, "GET", base+"/api/alerts", "", nil, &got); code != 200 || len(got) != 1 || got[0]["rule_id"] != "modbus.write.unauthorized" {
		t.Fatalf("alerts after post: %d %v", code, got)
	}
	if code := call(t, "POST", base+"/api/alerts", "", `[{"rule_id":""}]`, nil); code != 400 {
		t.Errorf("alert without rule: %d", code)
	}
	if code := call(t, "GET", base+"/api/assets", "", nil, nil); code != 503 {
		t.Errorf("assets without a sensor: %d", code)
	}
}

func TestSensorTokenRequired(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := New(Options{Store: st, SensorToken: "s3cret", Assets: func() any { return []string{"plc"} }})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	base := "http://" + ln.Addr().String()
	a := `[{"rule_id":"x","time":"2026-11-22T10:00:00Z"}]`
	if code := call(t, "POST", base+"/api/alerts", "", a, nil); code != 401 {
		t.Errorf("without the token: %d", code)
	}
	if code := call(t, "POST", base+"/api/alerts", "s3cret", a, nil); code != 202 {
		t.Errorf("with the token: %d", code)
	}
	var assets []string
	if code := call(t, "GET", base+"/api/assets", "", nil, &assets); code != 200 || len(assets) != 1 {
		t.Errorf("assets: %d %v", code, assets)
	}
}
