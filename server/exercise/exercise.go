// Package exercise is the exercise engine: exercises and their life cycle
// (draft → scheduled → running ⇄ paused → finished or cancelled), the
// exercise clock, the people and their roles, and the one append-only event
// log per exercise from which every view, the scoring and the report are
// derived. The engine's own state is itself rebuilt from the log, so a
// restarted server resumes its running exercises where they were.
package exercise

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// State is an exercise's place in its life cycle.
type State string

// States.
const (
	Draft     State = "draft"
	Scheduled State = "scheduled"
	Running   State = "running"
	Paused    State = "paused"
	Finished  State = "finished"
	Cancelled State = "cancelled"
)

// transitions lists the states each state may move to.
var transitions = map[State][]State{
	Draft:     {Scheduled, Running, Cancelled},
	Scheduled: {Draft, Running, Cancelled},
	Running:   {Paused, Finished, Cancelled},
	Paused:    {Running, Finished, Cancelled},
}

// CanMove reports whether an exercise in state from may move to state to.
func CanMove(from, to State) bool { return slices.Contains(transitions[from], to) }

// Built-in roles. Exercises may declare custom roles besides.
const (
	Facilitator       = "facilitator"
	ITSOCAnalyst      = "it_soc_analyst"
	OTEngineer        = "ot_engineer"
	Operator          = "operator"
	IncidentCommander = "incident_commander"
	CommsLegal        = "comms_legal"
	Observer          = "observer"
	// PlantManager approves the playbook steps that touch the process.
	PlantManager = "plant_manager"
)

// DefaultRoles are the participant roles of an exercise that names none.
var DefaultRoles = []string{ITSOCAnalyst, OTEngineer, Operator, IncidentCommander, PlantManager, CommsLegal, Observer}

var roleName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// Event kinds written by the engine and its callers.
const (
	KindCreated     = "exercise.created"
	KindState       = "exercise.state"
	KindJoined      = "participant.joined"
	KindInject      = "inject"
	KindAlert       = "alert"
	KindPlantAlarm  = "plant.alarm"
	KindConsequence = "plant.consequence"
	KindStep        = "scenario.step"
	KindAction      = "action"
	KindCommand     = "operator.command"
	KindDecision    = "decision"
	KindChat        = "chat"
	KindPlaybook    = "playbook"
)

// Limits on what a request may create.
const (
	MaxTitle        = 200
	MaxRoles        = 32
	MaxSpeed        = 1000.0
	MinSpeed        = 0.1
	MaxExercises    = 10000
	MaxParticipants = 256
)

// Exercise is the engine's view of one exercise.
type Exercise struct {
	ID       string        `json:"id"`
	Title    string        `json:"title"`
	Scenario string        `json:"scenario,omitempty"`
	Roles    []string      `json:"roles"`
	Speed    float64       `json:"speed"` // exercise seconds per wall second
	State    State         `json:"state"`
	StartAt  time.Time     `json:"start_at,omitzero"` // when scheduled
	Created  time.Time     `json:"created"`
	Clock    time.Duration `json:"clock"` // exercise time now
	People   []Person      `json:"people"`
	elapsed  time.Duration // clock at the last transition
	runSince time.Time     // wall time of the last move to running
	facHash  string        // the facilitator token's hash
	roleHash map[string]string
	personBy map[string]int // token hash → index in People
}

// Person is someone who joined an exercise.
type Person struct {
	Name   string    `json:"name"`
	Role   string    `json:"role"`
	Joined time.Time `json:"joined"`
}

// clock returns the exercise time at wall time now.
func (x *Exercise) clock(now time.Time) time.Duration {
	if x.State != Running {
		return x.elapsed
	}
	return x.elapsed + time.Duration(float64(now.Sub(x.runSince))*x.Speed)
}

// HasRole reports whether role takes part in the exercise.
func (x *Exercise) HasRole(role string) bool { return slices.Contains(x.Roles, role) }

// Errors the API maps to status codes.
var (
	ErrNotFound  = errors.New("exercise: not found")
	ErrForbidden = errors.New("exercise: not allowed")
	ErrConflict  = errors.New("exercise: conflicts with its state")
	ErrInvalid   = errors.New("exercise: invalid request")
	ErrBadToken  = errors.New("exercise: unknown or wrong token")
	ErrTooMany   = errors.New("exercise: limit reached")
)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Principal is who a token stands for in one exercise.
type Principal struct {
	Exercise string `json:"exercise"`
	Role     string `json:"role"` // Facilitator or a participant role
	Name     string `json:"name,omitempty"`
}

// IsFacilitator reports whether p may run the exercise.
func (p Principal) IsFacilitator() bool { return p.Role == Facilitator }

// Sees reports whether p may see an event addressed to audience (empty:
// every role). The facilitator sees everything.
func (p Principal) Sees(audience []string) bool {
	return p.IsFacilitator() || len(audience) == 0 || slices.Contains(audience, p.Role)
}
