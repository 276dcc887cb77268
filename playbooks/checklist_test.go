package playbooks

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/otrange/otrange/simulator/firewall"
)

// firewallExecutor carries out block and unblock on the range's real
// firewall, as the exercise engine's executor does.
type firewallExecutor struct{ fw *firewall.Firewall }

func (e firewallExecutor) Do(_ context.Context, a Action) error {
	src, err := a.SourcePrefix()
	if err != nil && (a.Kind == ActionBlockHost || a.Kind == ActionUnblockHost) {
		return err
	}
	switch a.Kind {
	case ActionBlockHost:
		_, err = e.fw.Block(a.Device, src, "playbook")
	case ActionUnblockHost:
		_, err = e.fw.Unblock(a.Device, src)
	default:
		err = fmt.Errorf("%s is not a firewall action", a.Kind)
	}
	return err
}

// recorder records the actions it is asked to carry out.
type recorder struct{ done []Action }

func (r *recorder) Do(_ context.Context, a Action) error {
	r.done = append(r.done, a)
	return nil
}

var (
	t0       = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	attacker = netip.MustParseAddr("127.66.0.1")
	hmiAddr  = netip.MustParseAddr("127.10.2.10")
	bindings = Bindings{"device": "plc-intake", "source": "127.66.0.1"}
)

func at(d time.Duration) time.Time { return t0.Add(d) }

func playbook(t *testing.T, id string) *Playbook {
	t.Helper()
	pb, ok := Find(library(t), id)
	if !ok {
		t.Fatalf("no playbook %s", id)
	}
	return pb
}

// TestGateHoldsRangeAction: the block of a gated step does not reach the
// firewall when its owner checks it, only when the approver approves; and
// with the approval given first, the owner's check carries it out.
func TestGateHoldsRangeAction(t *testing.T) {
	ctx := context.Background()
	known := func(d string) bool { _, ok := defaultPlant[d]; return ok }
	fw := firewall.New(known, func() time.Time { return t0 })
	cl, err := NewChecklist(playbook(t, "plc-unauthorized-write"), ChecklistConfig{
		Exercise: "ex1", Start: t0, Executor: firewallExecutor{fw}, Bindings: bindings})
	if err != nil {
		t.Fatal(err)
	}

	ev, err := cl.Check(ctx, "ct-block-plc", RoleITSOCAnalyst, at(18*time.Minute))
	if err != nil || ev.Kind != EventRequested {
		t.Fatalf("owner's check: %+v, %v; want %s", ev, err, EventRequested)
	}
	if !fw.Allowed("plc-intake", attacker) || len(fw.Rules()) != 0 {
		t.Fatal("the block landed before the approver approved")
	}
	for _, role := range []string{RoleOperator, RoleFacilitator, RoleITSOCAnalyst, RolePlantManager} {
		if _, err := cl.Approve(ctx, "ct-block-plc", role, at(19*time.Minute)); !errors.Is(err, ErrNotAllowed) {
			t.Errorf("approval by %s: %v, want ErrNotAllowed", role, err)
		}
	}
	if !fw.Allowed("plc-intake", attacker) {
		t.Fatal("a refused approval let the block land")
	}
	ev, err = cl.Approve(ctx, "ct-block-plc", RoleOTEngineer, at(19*time.Minute))
	if err != nil || ev.Kind != EventDone || ev.Approver != RoleOTEngineer || ev.Role != RoleITSOCAnalyst {
		t.Fatalf("approval: %+v, %v", ev, err)
	}
	want := &Action{Kind: ActionBlockHost, Device: "plc-intake", Source: "127.66.0.1"}
	if !reflect.DeepEqual(ev.Action, want) {
		t.Errorf("event action %+v, want %+v", ev.Action, want)
	}
	if fw.Allowed("plc-intake", attacker) {
		t.Error("the approved block did not land: the attacker is still allowed at plc-intake")
	}
	if !fw.Allowed("plc-intake", hmiAddr) || !fw.Allowed("plc-treatment", attacker) {
		t.Error("the block reached more than the attacker at plc-intake")
	}

	// Approval first: nothing happens until the owner checks.
	ev, err = cl.Approve(ctx, "ct-block-all", RoleOTEngineer, at(20*time.Minute))
	if err != nil || ev.Kind != EventApproved {
		t.Fatalf("early approval: %+v, %v", ev, err)
	}
	if !fw.Allowed("rtu-reservoir", attacker) {
		t.Fatal("the block landed on approval alone, before the owner checked the step")
	}
	ev, err = cl.Check(ctx, "ct-block-all", RoleITSOCAnalyst, at(21*time.Minute))
	if err != nil || ev.Kind != EventDone || ev.Action == nil || ev.Action.Device != AllDevices {
		t.Fatalf("owner's check after approval: %+v, %v", ev, err)
	}
	if fw.Allowed("rtu-reservoir", attacker) || fw.Allowed("sis", attacker) {
		t.Error("the all-devices block did not land")
	}
}

// TestActionFailureKeepsStepOpen: when the executor fails, the step stays
// waiting with its approval, the event says so, and a retry succeeds.
func TestActionFailureKeepsStepOpen(t *testing.T) {
	ctx := context.Background()
	up := false
	fw := firewall.New(func(d string) bool { return up && d == "plc-intake" }, nil)
	cl, err := NewChecklist(playbook(t, "plc-unauthorized-write"), ChecklistConfig{
		Start: t0, Executor: firewallExecutor{fw}, Bindings: bindings})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Check(ctx, "ct-block-plc", RoleITSOCAnalyst, at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	ev, err := cl.Approve(ctx, "ct-block-plc", RoleOTEngineer, at(2*time.Minute))
	if !errors.Is(err, ErrAction) || ev.Kind != EventActionFailed || ev.Error == "" || ev.Approver != RoleOTEngineer {
		t.Fatalf("failed action: %+v, %v", ev, err)
	}
	if s := cl.Steps()[7]; s.ID != "ct-block-plc" || s.State != StateWaiting || s.ApprovedAt.IsZero() {
		t.Fatalf("after the failure: %+v", s)
	}
	up = true
	ev, err = cl.Check(ctx, "ct-block-plc", RoleITSOCAnalyst, at(3*time.Minute))
	if err != nil || ev.Kind != EventDone {
		t.Fatalf("retry: %+v, %v", ev, err)
	}
	if fw.Allowed("plc-intake", attacker) {
		t.Error("the retried block did not land")
	}
}

// TestTransitionsRefused: every refusal names its reason.
func TestTransitionsRefused(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{}
	cl, err := NewChecklist(playbook(t, "plc-unauthorized-write"), ChecklistConfig{Start: t0, Executor: rec, Bindings: bindings})
	if err != nil {
		t.Fatal(err)
	}
	m := at(time.Minute)
	if _, err := cl.Check(ctx, "er-restore", RoleOTEngineer, m); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Check(ctx, "da-triage", RoleITSOCAnalyst, m); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		do   func() (Event, error)
		want error
	}{
		{"unknown step", func() (Event, error) { return cl.Check(ctx, "nope", RoleOperator, m) }, ErrUnknownStep},
		{"not the owner", func() (Event, error) { return cl.Check(ctx, "ct-manual", RoleITSOCAnalyst, m) }, ErrNotAllowed},
		{"observer", func() (Event, error) { return cl.Skip("ct-manual", RoleObserver, "", m) }, ErrNotAllowed},
		{"decide by another role", func() (Event, error) { return cl.Decide("da-legitimate", "da-declare", RoleOperator, m) }, ErrNotAllowed},
		{"before the start", func() (Event, error) { return cl.Check(ctx, "ct-manual", RoleOperator, t0.Add(-time.Second)) }, ErrTime},
		{"checked twice", func() (Event, error) { return cl.Check(ctx, "da-triage", RoleITSOCAnalyst, m) }, ErrState},
		{"skip a done step", func() (Event, error) { return cl.Skip("da-triage", RoleFacilitator, "", m) }, ErrState},
		{"check a waiting gate", func() (Event, error) { return cl.Check(ctx, "er-restore", RoleOTEngineer, m) }, ErrAwaitingApproval},
		{"approve with no gate", func() (Event, error) { return cl.Approve(ctx, "ct-manual", RoleOTEngineer, m) }, ErrNoGate},
		{"check a decision", func() (Event, error) { return cl.Check(ctx, "da-legitimate", RoleOTEngineer, m) }, ErrDecision},
		{"decide a task", func() (Event, error) { return cl.Decide("ct-manual", "x", RoleOperator, m) }, ErrDecision},
		{"unknown branch", func() (Event, error) { return cl.Decide("da-legitimate", "maybe", RoleOTEngineer, m) }, ErrDecision},
		{"facilitator approves", func() (Event, error) { return cl.Approve(ctx, "er-restore", RoleFacilitator, m) }, ErrNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := tc.do()
			if !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
			if ev.Kind != "" {
				t.Errorf("a refusal returned event %+v", ev)
			}
		})
	}
	if len(rec.done) != 0 {
		t.Errorf("refused transitions ran actions: %+v", rec.done)
	}
	// Approval twice.
	if _, err := cl.Approve(ctx, "er-restore", RolePlantManager, m); err != nil {
		t.Fatal(err)
	}
	if len(rec.done) != 1 || rec.done[0].Kind != ActionRestoreSetpoints || rec.done[0].Device != "plc-intake" {
		t.Fatalf("approved restore ran %+v", rec.done)
	}
	if _, err := cl.Approve(ctx, "er-restore", RolePlantManager, m); !errors.Is(err, ErrState) {
		t.Errorf("second approval: %v", err)
	}
}

func TestNewChecklistBindings(t *testing.T) {
	_, err := NewChecklist(playbook(t, "plc-unauthorized-write"), ChecklistConfig{Start: t0, Bindings: Bindings{"device": "plc-intake"}})
	if !errors.Is(err, ErrUnbound) {
		t.Errorf("unbound $source: %v", err)
	}
	_, err = NewChecklist(playbook(t, "plc-unauthorized-write"), ChecklistConfig{Start: t0, Bindings: Bindings{"device": "plc-intake", "source": "evil.example"}})
	if err == nil {
		t.Error("a source that is not an address was accepted")
	}
	// A playbook with no variables needs no bindings.
	if _, err := NewChecklist(playbook(t, "loss-of-view"), ChecklistConfig{Start: t0}); err != nil {
		t.Errorf("loss-of-view without bindings: %v", err)
	}
}

// scriptedRun works through plc-unauthorized-write the way a team might,
// and returns the checklist and the events for the log.
func scriptedRun(t *testing.T) (*Checklist, []Event) {
	t.Helper()
	ctx := context.Background()
	cl, err := NewChecklist(playbook(t, "plc-unauthorized-write"), ChecklistConfig{
		Exercise: "ex1", Start: t0, Executor: &recorder{}, Bindings: bindings})
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	add := func(ev Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	m := time.Minute
	add(cl.Check(ctx, "prep-known-good", RoleOTEngineer, at(1*m)))
	add(cl.Skip("prep-manual", RoleOperator, "procedure on file", at(1*m)))
	add(cl.Check(ctx, "da-process", RoleOperator, at(3*m)))    // before da-triage: out of order
	add(cl.Check(ctx, "da-triage", RoleITSOCAnalyst, at(7*m))) // due 5m: late
	add(cl.Decide("da-legitimate", "da-declare", RoleOTEngineer, at(9*m)))
	add(cl.Check(ctx, "da-declare", RoleFacilitator, at(16*m))) // due 15m: late
	add(cl.Check(ctx, "ct-manual", RoleOperator, at(17*m)))     // due 15m: late
	add(cl.Check(ctx, "ct-block-plc", RoleITSOCAnalyst, at(18*m)))
	add(cl.Approve(ctx, "ct-block-plc", RoleOTEngineer, at(19*m)))
	add(cl.Approve(ctx, "ct-block-all", RoleOTEngineer, at(20*m)))
	add(cl.Check(ctx, "ct-block-all", RoleITSOCAnalyst, at(21*m)))
	add(cl.Check(ctx, "er-restore", RoleOTEngineer, at(50*m))) // waits; ct-hunt still pending
	return cl, evs
}

func TestAdherence(t *testing.T) {
	cl, evs := scriptedRun(t)
	a := cl.Adherence()
	want := Adherence{Playbook: "plc-unauthorized-write", Title: a.Title, Total: 16, Applicable: 16, Done: 8, Late: 3,
		Skipped: 1, Bypassed: 0, OutOfOrder: 1, Waiting: 1, Pending: 6, Completion: 0.5, OnTime: 4.0 / 7.0}
	a.Steps = nil
	if !reflect.DeepEqual(a, want) {
		t.Errorf("adherence\n got %+v\nwant %+v", a, want)
	}
	byID := map[string]StepStatus{}
	for _, s := range cl.Steps() {
		byID[s.ID] = s
	}
	for id, late := range map[string]bool{"da-triage": true, "da-declare": true, "ct-manual": true, "da-process": false, "ct-block-plc": false} {
		if byID[id].Late != late {
			t.Errorf("%s late = %v, want %v", id, byID[id].Late, late)
		}
	}
	if !byID["da-process"].OutOfOrder || byID["da-triage"].OutOfOrder {
		t.Error("out-of-order flags wrong: da-process was done before da-triage")
	}
	if s := byID["ct-block-plc"]; s.By != RoleITSOCAnalyst || !s.Done.Equal(at(19*time.Minute)) || !s.ApprovedAt.Equal(at(19*time.Minute)) {
		t.Errorf("ct-block-plc status %+v", s)
	}
	// Events carry the time and the exercise clock.
	for _, ev := range evs {
		if ev.Elapsed != ev.Time.Sub(t0) || ev.Exercise != "ex1" || ev.Playbook != "plc-unauthorized-write" {
			t.Errorf("event %+v", ev)
		}
	}
	if evs[3].Kind != EventDone || !evs[3].Late || !evs[2].OutOfOrder {
		t.Errorf("events: triage %+v, process %+v", evs[3], evs[2])
	}
}

// TestDecisionBypasses: closing as a false positive bypasses every step up
// to the lessons learned, and they do not count against the team.
func TestDecisionBypasses(t *testing.T) {
	cl, err := NewChecklist(playbook(t, "plc-unauthorized-write"), ChecklistConfig{Start: t0, Bindings: bindings})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := cl.Decide("da-legitimate", "Yes, a planned change with a work order - close as a false positive", RoleOTEngineer, at(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != EventDecided || ev.Next != "pi-review" || len(ev.Bypassed) != 10 || ev.Bypassed[0] != "da-declare" ||
		ev.Bypassed[9] != "rc-notify" {
		t.Fatalf("decision event %+v", ev)
	}
	if ev.OutOfOrder != true {
		t.Error("deciding before the triage steps is out of order")
	}
	if _, err := cl.Check(context.Background(), "ct-block-plc", RoleITSOCAnalyst, at(6*time.Minute)); !errors.Is(err, ErrState) {
		t.Errorf("a bypassed step was checked: %v", err)
	}
	a := cl.Adherence()
	if a.Bypassed != 10 || a.Applicable != 6 || a.Done != 1 || a.Pending != 5 {
		t.Errorf("adherence %+v", a)
	}
}

// TestTodo: each role sees its own open steps and the gates it must approve.
func TestTodo(t *testing.T) {
	cl, _ := scriptedRun(t)
	ids := func(l []StepStatus) []string {
		var out []string
		for _, s := range l {
			out = append(out, s.ID)
		}
		return out
	}
	if got := ids(cl.Todo(RolePlantManager)); !reflect.DeepEqual(got, []string{"er-restore", "rc-auto"}) {
		t.Errorf("plant manager's todo %v", got)
	}
	if got := ids(cl.Todo(RoleOTEngineer)); len(got) != 0 {
		t.Errorf("OT engineer's todo %v (er-restore waits for the plant manager)", got)
	}
	if got := ids(cl.Todo(RoleITSOCAnalyst)); !reflect.DeepEqual(got, []string{"ct-hunt", "er-access"}) {
		t.Errorf("SOC analyst's todo %v", got)
	}
	if got := cl.Todo(RoleFacilitator); len(got) != 7 {
		t.Errorf("facilitator sees %d open steps, want 7", len(got))
	}
}

// TestRestore rebuilds the checklist from its logged events.
func TestRestore(t *testing.T) {
	cl, evs := scriptedRun(t)
	rec := &recorder{}
	back, err := Restore(cl.Playbook(), ChecklistConfig{Exercise: "ex1", Start: t0, Executor: rec, Bindings: bindings}, evs)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Steps(), cl.Steps()) {
		t.Errorf("restored\n%+v\nwant\n%+v", back.Steps(), cl.Steps())
	}
	if len(rec.done) != 0 {
		t.Errorf("restore ran actions again: %+v", rec.done)
	}
	// It goes on from there: the waiting restore needs only the approval.
	if ev, err := back.Approve(context.Background(), "er-restore", RolePlantManager, at(55*time.Minute)); err != nil || ev.Kind != EventDone {
		t.Errorf("after restore: %+v, %v", ev, err)
	}
	if _, err := Restore(cl.Playbook(), ChecklistConfig{Start: t0, Bindings: bindings}, []Event{{Kind: "bogus", Playbook: "plc-unauthorized-write", Step: "ct-manual"}}); err == nil {
		t.Error("an unknown event kind was accepted")
	}
}
