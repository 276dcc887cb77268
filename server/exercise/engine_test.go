package exercise

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otrange/otrange/server/store"
)

// fakeClock is a wall clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func open(t *testing.T, path string, clk *fakeClock) *Engine {
	t.Helper()
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e, err := Open(context.Background(), Options{Store: st, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestLifecycleClockAndReplay(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "range.db")
	clk := &fakeClock{t: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	e := open(t, path, clk)

	x, creds, err := e.Create(ctx, CreateRequest{Title: "Oldsmar drill", Scenario: "oldsmar", Speed: 10})
	if err != nil {
		t.Fatal(err)
	}
	fac, err := e.Authenticate(x.ID, creds.Facilitator)
	if err != nil || !fac.IsFacilitator() {
		t.Fatalf("facilitator token: %+v, %v", fac, err)
	}
	op, opToken, err := e.Join(ctx, x.ID, creds.Invites[Operator], "Dana")
	if err != nil || op.Role != Operator {
		t.Fatalf("join: %+v, %v", op, err)
	}
	if _, _, err := e.Join(ctx, x.ID, "not-a-token", "Eve"); !errors.Is(err, ErrBadToken) {
		t.Errorf("join with a bad invitation: %v", err)
	}
	if _, err := e.Move(ctx, x.ID, Running, time.Time{}, op); !errors.Is(err, ErrForbidden) {
		t.Errorf("a participant started the exercise: %v", err)
	}
	if _, err := e.Move(ctx, x.ID, Paused, time.Time{}, fac); !errors.Is(err, ErrConflict) {
		t.Errorf("draft → paused: %v", err)
	}
	if _, err := e.Move(ctx, x.ID, Running, time.Time{}, fac); err != nil {
		t.Fatal(err)
	}
	clk.add(30 * time.Second) // 300 s of exercise time at speed 10
	if c, _ := e.Clock(x.ID); c != 300*time.Second {
		t.Errorf("clock after 30 s at speed 10 = %v", c)
	}
	if _, err := e.Move(ctx, x.ID, Paused, time.Time{}, fac); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Hour) // paused: the clock stands still
	if c, _ := e.Clock(x.ID); c != 300*time.Second {
		t.Errorf("clock moved while paused: %v", c)
	}
	if _, err := e.Move(ctx, x.ID, Running, time.Time{}, fac); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Second)
	ev, err := e.Append(ctx, store.Event{Exercise: x.ID, Kind: KindChat, Source: "participant:operator"})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Clock != 310*time.Second {
		t.Errorf("event stamped at clock %v, want 310s", ev.Clock)
	}

	// A restarted server rebuilds everything from the log.
	clk.add(2 * time.Second)
	e2 := open(t, path, clk)
	y, err := e2.Get(x.ID)
	if err != nil {
		t.Fatal(err)
	}
	if y.State != Running || y.Clock != 330*time.Second || len(y.People) != 1 || y.People[0].Name != "Dana" {
		t.Errorf("after restart: %+v", y)
	}
	if p, err := e2.Authenticate(x.ID, opToken); err != nil || p.Role != Operator {
		t.Errorf("participant token after restart: %+v, %v", p, err)
	}
	if _, err := e2.Authenticate("ex-other", opToken); err == nil {
		t.Error("a token worked for another exercise")
	}
	if got := e2.Running(); len(got) != 1 || got[0] != x.ID {
		t.Errorf("running after restart = %v", got)
	}
}

func TestCreateValidation(t *testing.T) {
	e := open(t, filepath.Join(t.TempDir(), "r.db"), &fakeClock{t: time.Now()})
	for _, tc := range []struct {
		name string
		req  CreateRequest
	}{
		{"no title", CreateRequest{}},
		{"speed too high", CreateRequest{Title: "x", Speed: 5000}},
		{"facilitator as a role", CreateRequest{Title: "x", Roles: []string{"facilitator"}}},
		{"bad role name", CreateRequest{Title: "x", Roles: []string{"SOC Analyst"}}},
		{"duplicate role", CreateRequest{Title: "x", Roles: []string{"operator", "operator"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := e.Create(context.Background(), tc.req); !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestScheduledStart(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Now()}
	e := open(t, filepath.Join(t.TempDir(), "r.db"), clk)
	x, creds, _ := e.Create(ctx, CreateRequest{Title: "later"})
	fac, _ := e.Authenticate(x.ID, creds.Facilitator)
	if _, err := e.Move(ctx, x.ID, Scheduled, clk.now().Add(-time.Minute), fac); !errors.Is(err, ErrInvalid) {
		t.Errorf("schedule in the past: %v", err)
	}
	if _, err := e.Move(ctx, x.ID, Scheduled, clk.now().Add(time.Minute), fac); err != nil {
		t.Fatal(err)
	}
	e.startDue(ctx)
	if y, _ := e.Get(x.ID); y.State != Scheduled {
		t.Fatalf("started early: %s", y.State)
	}
	clk.add(time.Minute)
	e.startDue(ctx)
	if y, _ := e.Get(x.ID); y.State != Running {
		t.Fatalf("not started when due: %s", y.State)
	}
}

func TestSubscriptionsByRole(t *testing.T) {
	ctx := context.Background()
	e := open(t, filepath.Join(t.TempDir(), "r.db"), &fakeClock{t: time.Now()})
	x, creds, _ := e.Create(ctx, CreateRequest{Title: "t"})
	op, _, _ := e.Join(ctx, x.ID, creds.Invites[Operator], "op")
	soc, _, _ := e.Join(ctx, x.ID, creds.Invites[ITSOCAnalyst], "soc")
	fac, _ := e.Authenticate(x.ID, creds.Facilitator)

	inject := func(to ...string) store.Event {
		ev, err := e.Append(ctx, store.Event{Exercise: x.ID, Kind: KindInject, Source: "facilitator", Audience: to})
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	first := inject(Operator)
	backlog, sub, err := e.Subscribe(ctx, soc, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for _, ev := range backlog {
		if ev.ID == first.ID {
			t.Error("the SOC analyst's backlog holds the operator's inject")
		}
	}
	_, opSub, _ := e.Subscribe(ctx, op, first.ID, 100) // resumes after the first inject
	defer opSub.Close()
	_, facSub, _ := e.Subscribe(ctx, fac, 0, 100)
	defer facSub.Close()
	forSOC := inject(ITSOCAnalyst)
	forAll := inject()

	next := func(s *Subscription) store.Event {
		select {
		case ev := <-s.C:
			return ev
		case <-time.After(5 * time.Second):
			t.Fatalf("%s got nothing", s.Principal.Role)
		}
		return store.Event{}
	}
	if ev := next(sub); ev.ID != forSOC.ID {
		t.Errorf("SOC got %d first, want %d", ev.ID, forSOC.ID)
	}
	if ev := next(sub); ev.ID != forAll.ID {
		t.Errorf("SOC got %d second, want %d", ev.ID, forAll.ID)
	}
	if ev := next(opSub); ev.ID != forAll.ID {
		t.Errorf("operator got %d, want only the inject for all (%d)", ev.ID, forAll.ID)
	}
	if next(facSub).ID != forSOC.ID || next(facSub).ID != forAll.ID {
		t.Error("the facilitator does not see every inject in order")
	}
}

func TestSlowSubscriberIsCutOff(t *testing.T) {
	ctx := context.Background()
	e := open(t, filepath.Join(t.TempDir(), "r.db"), &fakeClock{t: time.Now()})
	x, creds, _ := e.Create(ctx, CreateRequest{Title: "t"})
	fac, _ := e.Authenticate(x.ID, creds.Facilitator)
	_, sub, _ := e.Subscribe(ctx, fac, 0, 1)
	var last store.Event
	for range SubscriptionQueue + 1 {
		ev, err := e.Append(ctx, store.Event{Exercise: x.ID, Kind: KindChat})
		if err != nil {
			t.Fatal(err)
		}
		last = ev
	}
	n := 0
	for range sub.C {
		n++
	}
	if !sub.Lagged() || n != SubscriptionQueue {
		t.Fatalf("lagged = %v after %d events", sub.Lagged(), n)
	}
	// It resumes from the last event it got and misses nothing.
	backlog, sub2, err := e.Subscribe(ctx, fac, last.ID-1, 10)
	if err != nil {
		t.Fatal(err)
	}
	sub2.Close()
	if len(backlog) != 1 || backlog[0].ID != last.ID {
		t.Errorf("resume backlog = %v", backlog)
	}
}

func TestEventsCarryNoTokenHashes(t *testing.T) {
	ctx := context.Background()
	e := open(t, filepath.Join(t.TempDir(), "r.db"), &fakeClock{t: time.Now()})
	x, creds, _ := e.Create(ctx, CreateRequest{Title: "t"})
	op, _, _ := e.Join(ctx, x.ID, creds.Invites[Operator], "op")
	fac, _ := e.Authenticate(x.ID, creds.Facilitator)
	for _, p := range []Principal{op, fac} {
		evs, err := e.Events(ctx, p, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) < 2 {
			t.Fatalf("%d events", len(evs))
		}
		for _, ev := range evs {
			if strings.Contains(string(ev.Payload), "sha256") || strings.Contains(string(ev.Payload), hash(creds.Facilitator)) {
				t.Errorf("%s sees a token hash in %s: %s", p.Role, ev.Kind, ev.Payload)
			}
		}
	}
}
