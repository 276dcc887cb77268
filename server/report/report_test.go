package report

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/otrange/otrange/playbooks"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/server/store"
	"github.com/otrange/otrange/simulator/control"
)

var update = flag.Bool("update", false, "rewrite the golden files")

type clk struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clk) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clk) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// scriptedRun writes a small exercise through the real engine and store: a
// FrostyGoop-like write detected after 40 s and blocked after 2 min, a
// second step that fails on the wire, an unrelated alert, a decision, a
// consequence and two playbook steps.
func scriptedRun(t *testing.T) (exercise.Exercise, []store.Event) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clk{t: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	e, err := exercise.Open(ctx, exercise.Options{Store: st, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	x, creds, err := e.Create(ctx, exercise.CreateRequest{Title: "FrostyGoop drill", Scenario: "frostygoop", Speed: 1})
	if err != nil {
		t.Fatal(err)
	}
	fac, _ := e.Authenticate(x.ID, creds.Facilitator)
	e.Join(ctx, x.ID, creds.Invites[exercise.ITSOCAnalyst], "Sam")
	e.Join(ctx, x.ID, creds.Invites[exercise.OTEngineer], "Olu")
	if _, err := e.Move(ctx, x.ID, exercise.Running, time.Time{}, fac); err != nil {
		t.Fatal(err)
	}
	add := func(kind, source string, audience []string, payload any) {
		t.Helper()
		b, _ := json.Marshal(payload)
		if _, err := e.Append(ctx, store.Event{Exercise: x.ID, Kind: kind, Source: source, Audience: audience, Payload: b}); err != nil {
			t.Fatal(err)
		}
	}
	c.add(60 * time.Second)
	start := c.now()
	add(exercise.KindStep, "step:write", []string{exercise.Facilitator}, exercise.StepRecord{
		Scenario: "frostygoop", Step: "write", Name: "Write heating setpoints", Action: "modbus.write",
		Target: "plc-intake", Techniques: []string{"T0855", "T0836"}, Source: "127.66.0.1", Destination: "127.10.1.10:502",
		Start: start, End: start.Add(time.Second), StartClock: 60 * time.Second, EndClock: 61 * time.Second, Frames: 4, Succeeded: true,
		Expect: exercise.Expectation{Detections: []exercise.ExpectedDetection{
			{Rule: "modbus.write.unauthorized", Within: time.Minute}, {Technique: "T0814", Within: time.Minute}}},
	})
	add(exercise.KindInject, "step:write", []string{exercise.Operator}, exercise.InjectRecord{Step: "write", Text: "Intake level climbing | no operator change", Roles: []string{exercise.Operator}})
	c.add(40 * time.Second)
	add(exercise.KindAlert, "rule:modbus.write.unauthorized", []string{exercise.ITSOCAnalyst}, alert.Alert{
		RuleID: "modbus.write.unauthorized", RuleName: "Modbus write from unauthorized host", Techniques: []string{"T0836", "T0855"}, SrcAddr: "127.66.0.1"})
	c.add(20 * time.Second)
	add(exercise.KindAlert, "rule:modbus.scan", []string{exercise.ITSOCAnalyst}, alert.Alert{
		RuleID: "dnp3.time.change", RuleName: "DNP3 time change", Techniques: []string{"T0849"}})
	add(exercise.KindDecision, "participant:incident_commander", nil, exercise.DecisionRecord{Text: "Isolate the PLC network from the attacker", Rationale: "stop the writes"})
	c.add(60 * time.Second)
	add(exercise.KindAction, "participant:ot_engineer", nil, exercise.ActionRecord{
		Action: control.Action{Kind: control.BlockHost, Device: "plc-intake", Source: "127.66.0.1"}, By: "ot_engineer", Result: "blocked"})
	add(exercise.KindConsequence, "plant", nil, exercise.ConsequenceRecord{Condition: "tank overflow", Device: "raw water tank", Detail: "12.5 m³ spilled", Active: true})
	add(exercise.KindPlaybook, "participant:ot_engineer", nil, playbooks.Event{Kind: playbooks.EventDone, Playbook: "plc-unauthorized-write", Step: "verify", Role: "ot_engineer"})
	add(exercise.KindPlaybook, "participant:ot_engineer", nil, playbooks.Event{Kind: playbooks.EventDone, Playbook: "plc-unauthorized-write", Step: "notify", Role: "ot_engineer", Late: true})
	c.add(30 * time.Second)
	start2 := c.now()
	add(exercise.KindStep, "step:again", []string{exercise.Facilitator}, exercise.StepRecord{
		Scenario: "frostygoop", Step: "again", Name: "Write again", Action: "modbus.write", Target: "plc-intake",
		Techniques: []string{"T0855"}, Source: "127.66.0.1", Start: start2, End: start2, StartClock: 210 * time.Second,
		EndClock: 210 * time.Second, Succeeded: false, Error: "connection refused"})
	if _, err := e.Move(ctx, x.ID, exercise.Finished, time.Time{}, fac); err != nil {
		t.Fatal(err)
	}
	evs, err := e.Events(ctx, fac, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	x, _ = e.Get(x.ID)
	return x, evs
}

func TestScore(t *testing.T) {
	x, evs := scriptedRun(t)
	s, err := Compute(x, evs)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Steps) != 2 {
		t.Fatalf("%d steps", len(s.Steps))
	}
	w := s.Steps[0]
	if w.TimeToDetect == nil || *w.TimeToDetect != 40*time.Second {
		t.Errorf("time to detect = %v, want 40s", w.TimeToDetect)
	}
	if w.TimeToContain == nil || *w.TimeToContain != 120*time.Second {
		t.Errorf("time to contain = %v, want 2m", w.TimeToContain)
	}
	if !w.Detections[0].Hit || w.Detections[1].Hit {
		t.Errorf("detections = %+v: want the rule hit and T0814 missed", w.Detections)
	}
	if s.DetectionsHit != 1 || s.DetectionsExpected != 2 || s.UnmatchedAlerts != 1 {
		t.Errorf("hit %d of %d, unmatched %d", s.DetectionsHit, s.DetectionsExpected, s.UnmatchedAlerts)
	}
	if s.Steps[1].Succeeded || s.Playbooks.Done != 2 || s.Playbooks.Late != 1 || len(s.Consequences) != 1 {
		t.Errorf("score = %+v", s)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; got:\n%s", name, got)
	}
}

func TestGoldenReport(t *testing.T) {
	x, evs := scriptedRun(t)
	s, err := Compute(x, evs)
	if err != nil {
		t.Fatal(err)
	}
	r := New(s, []string{"Detect unauthorized writes to controllers within 5 minutes", "Contain without stopping the process"},
		time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	norm := func(b []byte) []byte { return []byte(strings.ReplaceAll(string(b), x.ID, "ex-TEST")) }
	var md bytes.Buffer
	if err := r.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.md", norm(md.Bytes()))
	layer, _ := json.MarshalIndent(s.Navigator(), "", "  ")
	golden(t, "navigator.json", norm(append(layer, '\n')))

	var h bytes.Buffer
	if err := r.HTML(&h); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(&h)
	if err != nil {
		t.Fatal(err)
	}
	var svgs, circles int
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "svg":
				svgs++
			case "circle":
				circles++
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if svgs != 1 || circles != len(s.Timeline) {
		t.Errorf("HTML has %d svg and %d marks, want 1 and %d", svgs, circles, len(s.Timeline))
	}
	var j bytes.Buffer
	if err := Journal(&j, evs); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(j.String(), "\n"); n != len(evs) {
		t.Errorf("journal has %d lines for %d events", n, len(evs))
	}
}
