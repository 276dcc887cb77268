package app

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/otrange/otrange/internal/apitest"
	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/server/store"
)

// TestExerciseRunsItsScenario: an exercise with the FrostyGoop scenario runs
// its attacks against the real plant on the exercise clock. The OT engineer
// blocked the attacker at the intake PLC beforehand: the steps against that
// PLC fail on the wire while those against the distribution PLC succeed,
// the ground truth says so, and the operator gets the scenario's injects.
func TestExerciseRunsItsScenario(t *testing.T) {
	cfg := testConfig(t, 85)
	cfg.Sensor = false
	info := startRange(t, cfg)
	base := info.URL + "api/exercises"

	var x struct {
		Exercise    exercise.Exercise
		Credentials exercise.Credentials
	}
	if code := apitest.Call(t, "POST", base, "", map[string]any{"title": "FrostyGoop", "scenario": "frostygoop-writes", "speed": 300}, &x); code != 201 {
		t.Fatalf("create: %d", code)
	}
	ex := base + "/" + x.Exercise.ID
	tokens := map[string]string{}
	for _, role := range []string{exercise.OTEngineer, exercise.Operator} {
		var j struct{ Token string }
		apitest.Call(t, "POST", ex+"/join", "", map[string]string{"invite": x.Credentials.Invites[role], "name": role}, &j)
		tokens[role] = j.Token
	}
	block := map[string]string{"kind": "block_host", "device": "plc-intake", "source": "127.66.0.1"}
	if code := apitest.Call(t, "POST", ex+"/actions", tokens[exercise.OTEngineer], block, nil); code != 201 {
		t.Fatalf("block: %d", code)
	}
	if code := apitest.Call(t, "POST", ex+"/state", x.Credentials.Facilitator, map[string]string{"state": "running"}, nil); code != 200 {
		t.Fatalf("start: %d", code)
	}

	steps := map[string]exercise.StepRecord{}
	deadline := time.Now().Add(60 * time.Second)
	for len(steps) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d steps recorded: %v", len(steps), steps)
		}
		time.Sleep(200 * time.Millisecond)
		var evs []store.Event
		apitest.Call(t, "GET", ex+"/events", x.Credentials.Facilitator, nil, &evs)
		for _, ev := range evs {
			if ev.Kind == exercise.KindStep {
				var r exercise.StepRecord
				json.Unmarshal(ev.Payload, &r)
				steps[r.Step] = r
			}
		}
	}
	for step, want := range map[string]bool{"read-distribution": true, "read-intake": false, "write-distribution": true, "write-intake": false} {
		r, ok := steps[step]
		if !ok {
			t.Errorf("step %s not recorded", step)
			continue
		}
		if r.Succeeded != want {
			t.Errorf("step %s: succeeded %v (%s), want %v", step, r.Succeeded, r.Error, want)
		}
		if r.Source != "127.66.0.1" || len(r.Techniques) == 0 {
			t.Errorf("step %s ground truth: %+v", step, r)
		}
	}
	if sp, _ := info.Plant.Read("plc-distribution", "pressure.sp"); sp != 1.5 {
		t.Errorf("distribution pressure setpoint %v after the attack, want 1.5", sp)
	}
	if v, _ := info.Plant.Read("plc-intake", "level.start"); v == 4.8 {
		t.Error("the blocked attacker changed the intake PLC")
	}
	// The operator sees the scenario's injects for the operator, and no ground truth.
	var opEvents []store.Event
	apitest.Call(t, "GET", ex+"/events", tokens[exercise.Operator], nil, &opEvents)
	injects := 0
	for _, ev := range opEvents {
		switch ev.Kind {
		case exercise.KindInject:
			injects++
		case exercise.KindStep:
			t.Errorf("the operator sees the ground truth of step %s", ev.Cause)
		}
	}
	if injects == 0 {
		t.Error("the operator got no inject")
	}
}
