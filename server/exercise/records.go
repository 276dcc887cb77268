package exercise

import (
	"time"

	"github.com/otrange/otrange/simulator/control"
)

// The payloads below are the contracts between the parts that write the log
// (scenario runner, sensor, plant, participants) and the parts derived from
// it (views, scoring, the after-action report, replay, validation).

// StepRecord is the ground truth of one executed scenario step
// (KindStep, audience facilitator only).
type StepRecord struct {
	Scenario    string        `json:"scenario"`
	Step        string        `json:"step"`
	Name        string        `json:"name"`
	Phase       string        `json:"phase,omitempty"`
	Action      string        `json:"action"`
	Target      string        `json:"target,omitempty"`
	Techniques  []string      `json:"techniques,omitempty"`
	Source      string        `json:"source,omitempty"`      // attacker address
	Destination string        `json:"destination,omitempty"` // address:port
	Start       time.Time     `json:"start"`
	End         time.Time     `json:"end"`
	StartClock  time.Duration `json:"start_clock"`
	EndClock    time.Duration `json:"end_clock"`
	Flows       []string      `json:"flows,omitempty"` // "src:port>dst:port"
	Frames      int           `json:"frames"`          // application frames sent
	Succeeded   bool          `json:"succeeded"`       // on the wire (false when blocked or refused)
	Error       string        `json:"error,omitempty"`
	Expect      Expectation   `json:"expect"`
}

// Expectation is what a step should cause.
type Expectation struct {
	Detections  []ExpectedDetection `json:"detections,omitempty"`
	Consequence string              `json:"consequence,omitempty"`
	PreventedBy []string            `json:"prevented_by,omitempty"`
}

// ExpectedDetection names a rule or a technique that should be alerted on
// within a time after the step starts.
type ExpectedDetection struct {
	Rule      string        `json:"rule,omitempty"`
	Technique string        `json:"technique,omitempty"`
	Within    time.Duration `json:"within"`
}

// InjectRecord is a released inject (KindInject, audience its roles).
type InjectRecord struct {
	Step       string   `json:"step,omitempty"`
	Text       string   `json:"text"`
	Roles      []string `json:"roles,omitempty"`
	Attachment string   `json:"attachment,omitempty"`
	Adhoc      bool     `json:"adhoc,omitempty"`
}

// ActionRecord is a response action on the range (KindAction).
type ActionRecord struct {
	Action control.Action `json:"action"`
	By     string         `json:"by"`
	Result string         `json:"result,omitempty"`
	Error  string         `json:"error,omitempty"`
}

// DecisionRecord is an incident commander's decision (KindDecision).
type DecisionRecord struct {
	Text      string `json:"text"`
	Rationale string `json:"rationale,omitempty"`
	Name      string `json:"name,omitempty"`
}

// ConsequenceRecord is a process consequence (KindConsequence).
type ConsequenceRecord struct {
	Condition string `json:"condition"` // e.g. "tank overflow", "unsafe water", "sis trip"
	Device    string `json:"device,omitempty"`
	Detail    string `json:"detail,omitempty"`
	Active    bool   `json:"active"` // began (true) or ended (false)
}
