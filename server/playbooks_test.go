package server

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/server/store"
	"github.com/otrange/otrange/simulator/firewall"
)

// serveOn runs a server on an existing store until the returned stop.
func serveOn(t *testing.T, st *store.Store, fw *firewall.Firewall) (string, func()) {
	t.Helper()
	s, err := New(Options{Store: st, Range: fwRange{fw}})
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
	return "http://" + ln.Addr().String(), func() { cancel(); <-done }
}

// TestPlaybookGateHoldsTheRangeAction: in an exercise, the SOC analyst
// checks the "block the writer" step; nothing happens on the range until the
// OT engineer approves; then the firewall really blocks the attacker. A
// restarted server rebuilds the checklist from the log.
func TestPlaybookGateHoldsTheRangeAction(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fw := firewall.New(nil, nil)
	base, stop := serveOn(t, st, fw)
	x, tok := setup(t, base)
	ex := base + "/api/exercises/" + x.Exercise.ID
	attacker := netip.MustParseAddr("127.66.0.1")

	var list struct {
		Matched []struct{ ID string }
		Library []struct{ ID string }
	}
	if code := call(t, "GET", ex+"/playbooks", tok[exercise.ITSOCAnalyst], nil, &list); code != 200 || len(list.Library) < 6 {
		t.Fatalf("playbooks: %d, %+v", code, list)
	}
	open := map[string]string{"playbook": "plc-unauthorized-write", "device": "plc-intake", "source": attacker.String()}
	if code := call(t, "POST", ex+"/playbooks", tok[exercise.Operator], open, nil); code != 403 {
		t.Errorf("the operator opened a playbook: %d", code)
	}
	if code := call(t, "POST", ex+"/playbooks", tok[exercise.IncidentCommander], open, nil); code != 201 {
		t.Fatalf("open playbook: %d", code)
	}
	if code := call(t, "POST", ex+"/playbooks", tok[exercise.IncidentCommander], open, nil); code != 409 {
		t.Errorf("opened twice: %d", code)
	}
	step := ex + "/playbooks/plc-unauthorized-write/steps/ct-block-plc"
	if code := call(t, "POST", step, tok[exercise.Operator], map[string]string{"action": "check"}, nil); code != 403 {
		t.Errorf("the operator checked the SOC's step: %d", code)
	}
	if code := call(t, "POST", step, tok[exercise.ITSOCAnalyst], map[string]string{"action": "check"}, nil); code != 201 {
		t.Fatalf("check: %d", code)
	}
	if !fw.Allowed("plc-intake", attacker) {
		t.Fatal("the block ran before the gate was approved")
	}
	if code := call(t, "POST", step, tok[exercise.Operator], map[string]string{"action": "approve"}, nil); code != 403 {
		t.Errorf("the operator approved the OT engineer's gate: %d", code)
	}
	if code := call(t, "POST", step, tok[exercise.OTEngineer], map[string]string{"action": "approve"}, nil); code != 201 {
		t.Fatalf("approve: %d", code)
	}
	if fw.Allowed("plc-intake", attacker) {
		t.Fatal("the approved block did not reach the firewall")
	}
	stop()

	// The restarted server knows the step is done.
	base, stop = serveOn(t, st, fw)
	defer stop()
	ex = base + "/api/exercises/" + x.Exercise.ID
	var cl struct {
		Steps []struct {
			ID, State string
		}
	}
	if code := call(t, "GET", ex+"/playbooks/plc-unauthorized-write", tok[exercise.OTEngineer], nil, &cl); code != 200 {
		t.Fatalf("checklist after restart: %d", code)
	}
	for _, s := range cl.Steps {
		if s.ID == "ct-block-plc" && s.State != "done" {
			t.Errorf("ct-block-plc is %s after the restart", s.State)
		}
	}
	// The plant manager, a default role, approves the steps that touch the
	// process: checking the restore puts it on the plant manager's to-do
	// (and no one else's), who may not send operator commands.
	restore := ex + "/playbooks/plc-unauthorized-write/steps/er-restore"
	if code := call(t, "POST", restore, tok[exercise.OTEngineer], map[string]string{"action": "check"}, nil); code != 201 {
		t.Fatalf("check er-restore: %d", code)
	}
	var todo struct{ Todo []struct{ ID string } }
	for role, want := range map[string]bool{exercise.PlantManager: true, exercise.OTEngineer: false, exercise.IncidentCommander: false} {
		if code := call(t, "GET", ex+"/playbooks/plc-unauthorized-write", tok[role], nil, &todo); code != 200 {
			t.Fatalf("checklist as %s: %d", role, code)
		}
		got := slices.ContainsFunc(todo.Todo, func(s struct{ ID string }) bool { return s.ID == "er-restore" })
		if got != want {
			t.Errorf("er-restore on the %s's to-do: %v, want %v", role, got, want)
		}
	}
	if code := call(t, "POST", restore, tok[exercise.OTEngineer], map[string]string{"action": "approve"}, nil); code != 403 {
		t.Errorf("the OT engineer approved the plant manager's gate: %d", code)
	}
	if code := call(t, "POST", ex+"/commands", tok[exercise.PlantManager], map[string]any{"tag": "plc-intake:level.start", "value": 2}, nil); code != 403 {
		t.Errorf("the plant manager sent an operator command: %d", code)
	}
	var sc struct {
		Playbooks struct{ Done, Approved int }
	}
	call(t, "GET", ex+"/score", tok[exercise.Facilitator], nil, &sc)
	if sc.Playbooks.Done != 1 || sc.Playbooks.Approved != 1 {
		t.Errorf("score playbooks = %+v", sc.Playbooks)
	}
}

// TestPlaybookHandoutJSON: the handout as JSON carries every step in order
// with what the UI's checklist shows beside it: the gate's confirmation, the
// range action in words, the decision's branches, the message's audience.
// An unknown format is a 400 with a message.
func TestPlaybookHandoutJSON(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base, stop := serveOn(t, st, firewall.New(nil, nil))
	defer stop()
	var h struct {
		Playbook struct{ ID string }
		Steps    []struct {
			ID, Do, To string
			ActionText string `json:"action_text"`
			Gate       *struct{ Approver, Confirm string }
			Decision   *struct {
				Question string
				Branches []struct{ When, Next string }
			}
			Communicate *struct{ Audience, Template string }
		}
	}
	if code := call(t, "GET", base+"/api/playbooks/plc-unauthorized-write/handout?format=json", "", nil, &h); code != 200 {
		t.Fatalf("handout json: %d", code)
	}
	if h.Playbook.ID != "plc-unauthorized-write" || len(h.Steps) < 5 {
		t.Fatalf("handout %+v", h)
	}
	var gated, acted, decided, told bool
	for _, s := range h.Steps {
		if s.ID == "" || s.Do == "" {
			t.Errorf("step without id or text: %+v", s)
		}
		if s.ID == "ct-block-plc" {
			acted = strings.HasPrefix(s.ActionText, "block ")
			gated = s.Gate != nil && s.Gate.Approver != "" && s.Gate.Confirm != ""
		}
		if s.Decision != nil && len(s.Decision.Branches) > 0 && s.Decision.Branches[0].Next != "" {
			decided = true
		}
		if s.Communicate != nil && s.To != "" && s.Communicate.Template != "" {
			told = true
		}
	}
	if !gated || !acted || !decided || !told {
		t.Errorf("gate %v, action %v, decision %v, message %v: something the checklist shows is missing", gated, acted, decided, told)
	}
	if code := call(t, "GET", base+"/api/playbooks/plc-unauthorized-write/handout?format=pdf", "", nil, nil); code != 400 {
		t.Errorf("format=pdf: %d, want 400", code)
	}
}
