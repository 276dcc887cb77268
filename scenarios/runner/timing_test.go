package runner

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/otrange/otrange/server/exercise"
)

func TestClockPauseResume(t *testing.T) {
	if _, err := NewClock(0); !errors.Is(err, ErrSpeed) {
		t.Errorf("speed 0: %v, want ErrSpeed", err)
	}
	c := fastClock(t) // 1000×
	if err := c.WaitUntil(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	if now := c.Now(); now < time.Second {
		t.Fatalf("after waiting for 1s the clock reads %v", now)
	}
	c.Pause()
	if !c.Paused() {
		t.Fatal("not paused")
	}
	at := c.Now()
	// While paused, the exercise time stands still: a wait for a later
	// time only ends with its context.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.WaitUntil(ctx, at+time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait while paused: %v, want the context's deadline", err)
	}
	if now := c.Now(); now != at {
		t.Errorf("paused clock moved from %v to %v", at, now)
	}
	// A waiter blocked across the resume wakes up.
	done := make(chan error, 1)
	go func() { done <- c.WaitUntil(context.Background(), at+2*time.Second) }()
	c.Resume()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if now := c.Now(); now < at+2*time.Second {
		t.Errorf("resumed clock at %v, want at least %v", now, at+2*time.Second)
	}
	if err := c.SetSpeed(5000); err != nil || c.Speed() != 5000 {
		t.Errorf("set speed: %v, speed %v", err, c.Speed())
	}
	if err := c.SetSpeed(-1); !errors.Is(err, ErrSpeed) {
		t.Errorf("negative speed: %v", err)
	}
}

// TestTiming runs inject and wait steps only: offsets, after chains with
// delays, triggers by alert and by participant action, timeouts that skip
// or run, and a chain after a skipped step.
func TestTiming(t *testing.T) {
	sc := parse(t, "127.66.0.1", indent(`- id: first
  name: first
  at: 10s
  action: inject
  injects: {operator: {text: one, attachment: {name: log.txt, content: x}}}
- id: pause
  name: pause
  after: first
  delay: 5s
  action: wait
  params: {duration: 20s}
- id: then
  name: then
  after: pause
  delay: 5s
  action: inject
  injects: {operator: {text: two}}
- id: on-alert
  name: on-alert
  on: {alert: T0836, timeout: 1h}
  delay: 3s
  action: inject
  injects: {operator: {text: alert}}
- id: on-action
  name: on-action
  on: {action: block_host, timeout: 1h}
  action: inject
  injects: {operator: {text: blocked}}
- id: never
  name: never
  on: {action: decision, timeout: 2m}
  action: inject
  injects: {operator: {text: never}}
- id: after-never
  name: after-never
  after: never
  action: inject
  injects: {operator: {text: never either}}
- id: anyway
  name: anyway
  on: {action: escalate, timeout: 1m, on_timeout: run}
  action: inject
  injects: {operator: {text: anyway}}`))
	rec := &memRecorder{}
	trig := make(chan Event, 4)
	clk := fastClock(t)
	r, err := New(Config{Scenario: sc, Guard: guard(), Clock: clk, Recorder: rec, Triggers: trig})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	// The alert and the action arrive once "then" has run.
	ran := func(id string) bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, s := range rec.steps {
			if s.Step == id {
				return true
			}
		}
		return false
	}
	for !ran("then") {
		if err := clk.WaitUntil(context.Background(), clk.Now()+time.Second); err != nil {
			t.Fatal(err)
		}
	}
	trig <- Event{Alert: "modbus.write.unauthorized", Techniques: []string{"T0855", "T0836"}}
	trig <- Event{Action: "unblock_host"} // not the awaited action
	trig <- Event{Action: "block_host"}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// At 1000× a millisecond of scheduling is a second of exercise time:
	// check the lower bounds the schedule guarantees, not exact times.
	rs := map[string]exercise.StepRecord{}
	for _, s := range rec.steps {
		rs[s.Step] = s
		if !s.Succeeded {
			t.Errorf("%s failed: %s", s.Step, s.Error)
		}
	}
	notBefore := func(id string, min time.Duration) {
		t.Helper()
		if s, ok := rs[id]; !ok || s.StartClock < min {
			t.Errorf("%s started at %v (ran %v), want at %v or later", id, s.StartClock, ok, min)
		}
	}
	notBefore("first", 10*time.Second)
	notBefore("pause", rs["first"].EndClock+5*time.Second)
	notBefore("then", rs["pause"].EndClock+5*time.Second)
	notBefore("anyway", time.Minute)
	notBefore("on-alert", rs["then"].StartClock+3*time.Second)
	notBefore("on-action", rs["then"].StartClock)
	if p := rec.step(t, "pause"); p.EndClock-p.StartClock < 20*time.Second {
		t.Errorf("wait lasted %v, want 20s", p.EndClock-p.StartClock)
	}
	for _, o := range r.Outcomes() {
		skipped := o.Step == "never" || o.Step == "after-never"
		if o.Skipped != skipped || (o.Record == nil) != skipped {
			t.Errorf("%s: skipped %v (%s), want %v", o.Step, o.Skipped, o.Reason, skipped)
		}
	}
	var texts []string
	for _, in := range rec.injects {
		texts = append(texts, in.Text)
		if !slices.Equal(in.Roles, []string{"operator"}) {
			t.Errorf("inject %q to %v", in.Text, in.Roles)
		}
		if in.Text == "one" && in.Attachment != "log.txt" {
			t.Errorf("attachment %q", in.Attachment)
		}
	}
	slices.Sort(texts)
	if want := []string{"alert", "anyway", "blocked", "one", "two"}; !slices.Equal(texts, want) {
		t.Errorf("injects %q, want %q", texts, want)
	}
}

// TestCancel ends a run early: Run returns the context's error, steps not
// yet due are skipped.
func TestCancel(t *testing.T) {
	sc := parse(t, "127.66.0.1", indent(`- id: late
  name: late
  at: 10h
  action: inject
  injects: {operator: {text: late}}`))
	c, _ := NewClock(1)
	r, err := New(Config{Scenario: sc, Guard: guard(), Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("run: %v", err)
	}
	if o := r.Outcomes()[0]; !o.Skipped {
		t.Errorf("outcome %+v", o)
	}
	if err := r.Run(context.Background()); !errors.Is(err, ErrConfig) {
		t.Errorf("second run: %v", err)
	}
	if _, err := New(Config{Scenario: sc}); !errors.Is(err, ErrConfig) {
		t.Errorf("no guard: %v", err)
	}
}
