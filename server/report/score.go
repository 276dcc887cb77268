// Package report derives the scoring and the after-action report of an
// exercise from its event log alone: time to detect and to contain per
// scenario step, expected detections hit or missed, playbook adherence,
// decisions, consequences; rendered in the HSEEP after-action report shape
// as Markdown and HTML with an SVG timeline, plus an ATT&CK Navigator layer
// (domain ics-attack) and the whole journal as JSON lines.
package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/server/store"
	"github.com/otrange/otrange/simulator/control"
)

// DetectionScore is one expected detection of a step.
type DetectionScore struct {
	Expected exercise.ExpectedDetection `json:"expected"`
	Hit      bool                       `json:"hit"`
	After    time.Duration              `json:"after,omitempty"` // from the step's start
	Rule     string                     `json:"rule,omitempty"`  // the alert that hit
}

// StepScore is the scoring of one executed scenario step.
type StepScore struct {
	Step       string           `json:"step"`
	Name       string           `json:"name"`
	Phase      string           `json:"phase,omitempty"`
	Techniques []string         `json:"techniques,omitempty"`
	Start      time.Duration    `json:"start"` // exercise clock
	Succeeded  bool             `json:"succeeded"`
	Detections []DetectionScore `json:"detections,omitempty"`
	// TimeToDetect is from the step's start to the first alert naming one of
	// its techniques or expected rules; nil when none came.
	TimeToDetect *time.Duration `json:"time_to_detect,omitempty"`
	// TimeToContain is from the step's start to the first successful response
	// action that cuts its attacker off from its target (block, local mode,
	// restore); nil when none came.
	TimeToContain *time.Duration `json:"time_to_contain,omitempty"`
	Contained     string         `json:"contained_by,omitempty"`
}

// TimedEvent is a log entry shown in the timeline and the report.
type TimedEvent struct {
	Clock time.Duration `json:"clock"`
	Kind  string        `json:"kind"`
	Who   string        `json:"who,omitempty"`
	Text  string        `json:"text"`
}

// Adherence summarises the playbook checklists.
type Adherence struct {
	Done     int `json:"done"`
	Late     int `json:"late"`
	Skipped  int `json:"skipped"`
	Approved int `json:"approved"`
}

// Score is everything measured in one exercise.
type Score struct {
	Exercise           exercise.Exercise `json:"exercise"`
	Steps              []StepScore       `json:"steps"`
	DetectionsExpected int               `json:"detections_expected"`
	DetectionsHit      int               `json:"detections_hit"`
	Alerts             int               `json:"alerts"`
	UnmatchedAlerts    int               `json:"unmatched_alerts"` // alerts no step explains
	MeanTimeToDetect   *time.Duration    `json:"mean_time_to_detect,omitempty"`
	MeanTimeToContain  *time.Duration    `json:"mean_time_to_contain,omitempty"`
	Playbooks          Adherence         `json:"playbooks"`
	Decisions          []TimedEvent      `json:"decisions"`
	Actions            []TimedEvent      `json:"actions"`
	Consequences       []TimedEvent      `json:"consequences"`
	Injects            int               `json:"injects"`
	Timeline           []TimedEvent      `json:"timeline"`
	Duration           time.Duration     `json:"duration"`
	alertsByTechnique  map[string]bool
	executed           map[string]bool
	responded          map[string]bool
}

type alertAt struct {
	clock time.Duration
	a     alert.Alert
	used  bool
}

// Compute scores an exercise from its whole log (the facilitator's view).
func Compute(x exercise.Exercise, events []store.Event) (*Score, error) {
	s := &Score{Exercise: x, alertsByTechnique: map[string]bool{}, executed: map[string]bool{}, responded: map[string]bool{}}
	var steps []exercise.StepRecord
	var alerts []*alertAt
	type act struct {
		clock time.Duration
		rec   exercise.ActionRecord
	}
	var actions []act
	for _, ev := range events {
		s.Duration = max(s.Duration, ev.Clock)
		switch ev.Kind {
		case exercise.KindStep:
			var r exercise.StepRecord
			if err := json.Unmarshal(ev.Payload, &r); err != nil {
				return nil, fmt.Errorf("event %d: %w", ev.ID, err)
			}
			steps = append(steps, r)
			s.Timeline = append(s.Timeline, TimedEvent{r.StartClock, "step", "attacker", stepText(r)})
		case exercise.KindAlert:
			var a alert.Alert
			if err := json.Unmarshal(ev.Payload, &a); err != nil {
				return nil, fmt.Errorf("event %d: %w", ev.ID, err)
			}
			alerts = append(alerts, &alertAt{clock: ev.Clock, a: a})
			s.Alerts++
			for _, t := range a.Techniques {
				s.alertsByTechnique[t] = true
			}
			s.Timeline = append(s.Timeline, TimedEvent{ev.Clock, "alert", "sensor", fmt.Sprintf("%s (%s)", a.RuleName, strings.Join(a.Techniques, ", "))})
		case exercise.KindAction:
			var r exercise.ActionRecord
			if err := json.Unmarshal(ev.Payload, &r); err != nil {
				return nil, fmt.Errorf("event %d: %w", ev.ID, err)
			}
			actions = append(actions, act{ev.Clock, r})
			text := r.Action.String()
			if r.Error != "" {
				text += " — failed: " + r.Error
			}
			te := TimedEvent{ev.Clock, "action", r.By, text}
			s.Actions = append(s.Actions, te)
			s.Timeline = append(s.Timeline, te)
		case exercise.KindDecision:
			var r exercise.DecisionRecord
			if err := json.Unmarshal(ev.Payload, &r); err != nil {
				return nil, fmt.Errorf("event %d: %w", ev.ID, err)
			}
			te := TimedEvent{ev.Clock, "decision", "incident_commander", r.Text}
			s.Decisions = append(s.Decisions, te)
			s.Timeline = append(s.Timeline, te)
		case exercise.KindConsequence:
			var r exercise.ConsequenceRecord
			if err := json.Unmarshal(ev.Payload, &r); err != nil {
				return nil, fmt.Errorf("event %d: %w", ev.ID, err)
			}
			if !r.Active {
				continue
			}
			te := TimedEvent{ev.Clock, "consequence", r.Device, r.Condition}
			if r.Detail != "" {
				te.Text += ": " + r.Detail
			}
			s.Consequences = append(s.Consequences, te)
			s.Timeline = append(s.Timeline, te)
		case exercise.KindPlaybook:
			// A checklist transition (playbooks.Event).
			var r struct {
				Kind     string `json:"kind"`
				Approver string `json:"approver"`
				Late     bool   `json:"late"`
			}
			if err := json.Unmarshal(ev.Payload, &r); err != nil {
				return nil, fmt.Errorf("event %d: %w", ev.ID, err)
			}
			switch r.Kind {
			case "playbook.step.done":
				s.Playbooks.Done++
				if r.Late {
					s.Playbooks.Late++
				}
				if r.Approver != "" {
					s.Playbooks.Approved++
				}
			case "playbook.step.skipped":
				s.Playbooks.Skipped++
			}
		case exercise.KindInject:
			s.Injects++
			var r exercise.InjectRecord
			if json.Unmarshal(ev.Payload, &r) == nil {
				s.Timeline = append(s.Timeline, TimedEvent{ev.Clock, "inject", strings.Join(r.Roles, ", "), r.Text})
			}
		}
	}
	var ttd, ttc []time.Duration
	for _, r := range steps {
		st := StepScore{Step: r.Step, Name: r.Name, Phase: r.Phase, Techniques: r.Techniques, Start: r.StartClock, Succeeded: r.Succeeded}
		for _, t := range r.Techniques {
			s.executed[t] = true
		}
		for _, exp := range r.Expect.Detections {
			d := DetectionScore{Expected: exp}
			for _, a := range alerts {
				if a.clock < r.StartClock || (exp.Within > 0 && a.clock > r.StartClock+exp.Within) || !matches(exp, a.a) {
					continue
				}
				d.Hit, d.After, d.Rule, a.used = true, a.clock-r.StartClock, a.a.RuleID, true
				break
			}
			s.DetectionsExpected++
			if d.Hit {
				s.DetectionsHit++
			}
			st.Detections = append(st.Detections, d)
		}
		for _, a := range alerts {
			if a.clock < r.StartClock || !techniqueOverlap(r.Techniques, a.a.Techniques) {
				continue
			}
			a.used = true
			if st.TimeToDetect == nil {
				d := a.clock - r.StartClock
				st.TimeToDetect = &d
				ttd = append(ttd, d)
			}
		}
		for _, a := range actions {
			if a.clock < r.StartClock || a.rec.Error != "" || !contains(a.rec.Action, r) {
				continue
			}
			d := a.clock - r.StartClock
			st.TimeToContain, st.Contained = &d, a.rec.Action.String()
			ttc = append(ttc, d)
			for _, t := range r.Techniques {
				s.responded[t] = true
			}
			break
		}
		s.Steps = append(s.Steps, st)
	}
	for _, a := range alerts {
		if !a.used {
			s.UnmatchedAlerts++
		}
	}
	s.MeanTimeToDetect, s.MeanTimeToContain = mean(ttd), mean(ttc)
	slices.SortStableFunc(s.Timeline, func(a, b TimedEvent) int { return cmp.Compare(a.Clock, b.Clock) })
	return s, nil
}

func matches(exp exercise.ExpectedDetection, a alert.Alert) bool {
	if exp.Rule != "" && exp.Rule == a.RuleID {
		return true
	}
	return exp.Technique != "" && slices.Contains(a.Techniques, exp.Technique)
}

func techniqueOverlap(a, b []string) bool {
	for _, t := range a {
		if slices.Contains(b, t) {
			return true
		}
	}
	return false
}

// contains reports whether action a cuts step r's attacker off from its
// target.
func contains(a control.Action, r exercise.StepRecord) bool {
	onTarget := a.Device == r.Target || a.Device == "*"
	switch a.Kind {
	case control.BlockHost:
		p, err := parsePrefix(a.Source)
		src, err2 := netip.ParseAddr(r.Source)
		return onTarget && err == nil && err2 == nil && p.Contains(src)
	case control.SetMode:
		return onTarget && a.Mode == "local"
	case control.RestoreProgram, control.RestoreSetpoints:
		return onTarget
	}
	return false
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func mean(ds []time.Duration) *time.Duration {
	if len(ds) == 0 {
		return nil
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	m := sum / time.Duration(len(ds))
	return &m
}

func stepText(r exercise.StepRecord) string {
	t := r.Name
	if r.Target != "" {
		t += " → " + r.Target
	}
	if !r.Succeeded {
		t += " (failed on the wire"
		if r.Error != "" {
			t += ": " + r.Error
		}
		t += ")"
	}
	return t
}
