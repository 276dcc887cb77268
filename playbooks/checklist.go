package playbooks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Errors of checklist transitions; match them with errors.Is.
var (
	ErrUnknownStep      = errors.New("playbooks: unknown step")
	ErrNotAllowed       = errors.New("playbooks: role not allowed")
	ErrState            = errors.New("playbooks: step not open")
	ErrAwaitingApproval = errors.New("playbooks: awaiting approval")
	ErrNoGate           = errors.New("playbooks: step has no safety gate")
	ErrDecision         = errors.New("playbooks: decision")
	ErrUnbound          = errors.New("playbooks: unbound variable")
	ErrTime             = errors.New("playbooks: time before the checklist started")
	ErrAction           = errors.New("playbooks: range action failed")
)

// Executor carries out a step's range action on the range (the firewall,
// the controllers). The exercise engine implements it; the checklist calls
// it only when the step's owner has checked the step and, for a gated step,
// its approver has approved.
type Executor interface {
	Do(ctx context.Context, a Action) error
}

// StepState is where a step of a checklist stands.
type StepState string

// The states of a step.
const (
	StatePending  StepState = "pending"  // not yet done
	StateWaiting  StepState = "waiting"  // checked by its owner, waiting for the gate's approver
	StateDone     StepState = "done"     // done (its action, if any, ran)
	StateSkipped  StepState = "skipped"  // skipped on purpose by its owner or the facilitator
	StateBypassed StepState = "bypassed" // not on the path a decision took
)

// EventKind names a checklist transition.
type EventKind string

// The transitions, as they appear in the exercise log.
const (
	EventRequested    EventKind = "playbook.step.requested" // owner checked a gated step; the gate waits
	EventApproved     EventKind = "playbook.step.approved"  // approver approved before the owner checked
	EventDone         EventKind = "playbook.step.done"
	EventSkipped      EventKind = "playbook.step.skipped"
	EventDecided      EventKind = "playbook.step.decided"
	EventActionFailed EventKind = "playbook.action.failed"
)

// Event is one transition of a checklist, for the exercise log. Restore
// rebuilds a checklist from these.
type Event struct {
	Kind     EventKind     `json:"kind"`
	Time     time.Time     `json:"time"`
	Elapsed  time.Duration `json:"elapsed"` // since the checklist started
	Exercise string        `json:"exercise,omitempty"`
	Playbook string        `json:"playbook"`
	Step     string        `json:"step"`
	Role     string        `json:"role"`
	// Approver is the role that approved the gate (done and approved).
	Approver string `json:"approver,omitempty"`
	// Action is the range action that ran (done) or failed (action.failed),
	// with its variables bound.
	Action *Action `json:"action,omitempty"`
	Error  string  `json:"error,omitempty"`
	// Branch and Next are the decision's answer; Bypassed the steps it left out.
	Branch   string   `json:"branch,omitempty"`
	Next     string   `json:"next,omitempty"`
	Bypassed []string `json:"bypassed,omitempty"`
	Reason   string   `json:"reason,omitempty"` // why a step was skipped
	Late     bool     `json:"late,omitempty"`
	// OutOfOrder: an earlier step was still pending.
	OutOfOrder bool `json:"out_of_order,omitempty"`
}

// ChecklistConfig sets up a checklist.
type ChecklistConfig struct {
	Exercise string
	// Start is when the response started; a step's Due counts from it.
	Start time.Time
	// Executor runs range actions; nil: a step with an action cannot be done.
	Executor Executor
	// Bindings give $device and $source for this run.
	Bindings Bindings
}

// Checklist is a playbook being worked through in one exercise. It does no
// I/O of its own and reads no clock: every call carries its time, range
// actions go through the Executor. It is safe for concurrent use; calls are
// serialized, including the Executor's work.
type Checklist struct {
	mu    sync.Mutex
	pb    *Playbook
	cfg   ChecklistConfig
	order []PhaseStep
	index map[string]int
	st    []stepStatus
}

type stepStatus struct {
	state      StepState
	by         string // who checked, decided or skipped
	at         time.Time
	approver   string
	approvedAt time.Time
	done       time.Time
	branch     string
	reason     string
	outOfOrder bool
}

// NewChecklist starts a checklist of pb. It checks that every variable the
// playbook's actions use is bound.
func NewChecklist(pb *Playbook, cfg ChecklistConfig) (*Checklist, error) {
	c := &Checklist{pb: pb, cfg: cfg, order: pb.Steps(), index: map[string]int{}}
	for i, ps := range c.order {
		c.index[ps.Step.ID] = i
		if a := ps.Step.Action; a != nil {
			if _, err := a.Resolve(cfg.Bindings); err != nil {
				return nil, fmt.Errorf("playbooks: step %s: %w", ps.Step.ID, err)
			}
		}
	}
	c.st = make([]stepStatus, len(c.order))
	for i := range c.st {
		c.st[i].state = StatePending
	}
	return c, nil
}

// Playbook returns the checklist's playbook.
func (c *Checklist) Playbook() *Playbook { return c.pb }

func (c *Checklist) event(kind EventKind, i int, role string, at time.Time) Event {
	return Event{Kind: kind, Time: at, Elapsed: at.Sub(c.cfg.Start), Exercise: c.cfg.Exercise,
		Playbook: c.pb.ID, Step: c.order[i].Step.ID, Role: role}
}

// open finds step and checks the time and that it is still open.
func (c *Checklist) open(step string, at time.Time) (int, error) {
	i, ok := c.index[step]
	if !ok {
		return 0, fmt.Errorf("%w %q in playbook %s", ErrUnknownStep, step, c.pb.ID)
	}
	if at.Before(c.cfg.Start) {
		return 0, fmt.Errorf("%w: %s is before %s", ErrTime, at.Format(time.RFC3339), c.cfg.Start.Format(time.RFC3339))
	}
	if s := c.st[i].state; s != StatePending && s != StateWaiting {
		return 0, fmt.Errorf("%w: step %s is %s", ErrState, step, s)
	}
	return i, nil
}

func (c *Checklist) mayAct(i int, role string) error {
	s := c.order[i].Step
	if role != s.Owner && role != RoleFacilitator {
		return fmt.Errorf("%w: step %s belongs to %s, not %s", ErrNotAllowed, s.ID, s.Owner, role)
	}
	return nil
}

// earlierPending reports whether a step before i is still pending.
func (c *Checklist) earlierPending(i int) bool {
	return slices.ContainsFunc(c.st[:i], func(s stepStatus) bool { return s.state == StatePending })
}

func (c *Checklist) late(i int, at time.Time) bool {
	d := c.order[i].Step.Due
	return d > 0 && at.Sub(c.cfg.Start) > d
}

// Check marks step done by role (its owner or the facilitator). For a gated
// step not yet approved, the step waits for the approver and the action
// does not run (event playbook.step.requested). Otherwise the step's action
// runs through the Executor and the step is done. When the action fails,
// the returned error wraps ErrAction and the event (playbook.action.failed)
// is still returned for the log; the step stays open to try again.
func (c *Checklist) Check(ctx context.Context, step, role string, at time.Time) (Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.open(step, at)
	if err != nil {
		return Event{}, err
	}
	if err := c.mayAct(i, role); err != nil {
		return Event{}, err
	}
	s, st := c.order[i].Step, &c.st[i]
	if s.Decision != nil {
		return Event{}, fmt.Errorf("%w: step %s is a decision; answer it with Decide", ErrDecision, step)
	}
	if st.state == StatePending {
		st.outOfOrder = c.earlierPending(i)
	}
	if s.Gate != nil && st.approver == "" {
		if st.state == StateWaiting {
			return Event{}, fmt.Errorf("%w: step %s waits for %s", ErrAwaitingApproval, step, s.Gate.Approver)
		}
		st.state, st.by, st.at = StateWaiting, role, at
		ev := c.event(EventRequested, i, role, at)
		ev.OutOfOrder = st.outOfOrder
		return ev, nil
	}
	if st.state == StatePending {
		st.by, st.at = role, at
	}
	return c.complete(ctx, i, role, at)
}

// Approve records that approver (the gate's approver role; nobody else, not
// even the facilitator) confirms the gate of step. If the owner has already
// checked the step, its action runs now and the step is done; otherwise the
// approval waits for the owner's check.
func (c *Checklist) Approve(ctx context.Context, step, approver string, at time.Time) (Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.open(step, at)
	if err != nil {
		return Event{}, err
	}
	s, st := c.order[i].Step, &c.st[i]
	if s.Gate == nil {
		return Event{}, fmt.Errorf("%w: %s", ErrNoGate, step)
	}
	if approver != s.Gate.Approver {
		return Event{}, fmt.Errorf("%w: the gate of step %s is approved by %s, not %s", ErrNotAllowed, step,
			s.Gate.Approver, approver)
	}
	if st.approver != "" {
		return Event{}, fmt.Errorf("%w: step %s is already approved", ErrState, step)
	}
	st.approver, st.approvedAt = approver, at
	if st.state == StatePending {
		ev := c.event(EventApproved, i, approver, at)
		ev.Approver = approver
		return ev, nil
	}
	return c.complete(ctx, i, st.by, at)
}

// complete runs the step's action and marks it done.
func (c *Checklist) complete(ctx context.Context, i int, role string, at time.Time) (Event, error) {
	s, st := c.order[i].Step, &c.st[i]
	var act *Action
	if s.Action != nil {
		a, err := s.Action.Resolve(c.cfg.Bindings)
		if err == nil && c.cfg.Executor == nil {
			err = errors.New("no executor to carry out range actions")
		}
		if err == nil {
			err = c.cfg.Executor.Do(ctx, a)
		}
		if err != nil {
			if st.state == StatePending {
				st.by, st.at = "", time.Time{}
			}
			ev := c.event(EventActionFailed, i, role, at)
			ev.Action, ev.Error, ev.Approver = &a, err.Error(), st.approver
			return ev, fmt.Errorf("%w: step %s: %s: %w", ErrAction, s.ID, a, err)
		}
		act = &a
	}
	st.state, st.done = StateDone, at
	ev := c.event(EventDone, i, role, at)
	ev.Action, ev.Approver, ev.Late, ev.OutOfOrder = act, st.approver, c.late(i, at), st.outOfOrder
	return ev, nil
}

// Decide answers a decision step: role (its owner or the facilitator)
// picks the branch whose when or next is branch. The step is done and the
// steps between it and the branch's next step are bypassed.
func (c *Checklist) Decide(step, branch, role string, at time.Time) (Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.open(step, at)
	if err != nil {
		return Event{}, err
	}
	if err := c.mayAct(i, role); err != nil {
		return Event{}, err
	}
	s := c.order[i].Step
	if s.Decision == nil {
		return Event{}, fmt.Errorf("%w: step %s is not a decision", ErrDecision, step)
	}
	bi := slices.IndexFunc(s.Decision.Branches, func(b Branch) bool { return b.When == branch || b.Next == branch })
	if bi < 0 {
		return Event{}, fmt.Errorf("%w: step %s has no branch %q", ErrDecision, step, branch)
	}
	b := s.Decision.Branches[bi]
	st := &c.st[i]
	st.outOfOrder = c.earlierPending(i)
	st.state, st.by, st.at, st.done, st.branch = StateDone, role, at, at, b.When
	ev := c.event(EventDecided, i, role, at)
	ev.Branch, ev.Next, ev.Late, ev.OutOfOrder = b.When, b.Next, c.late(i, at), st.outOfOrder
	if to, ok := c.index[b.Next]; ok {
		for j := i + 1; j < to; j++ {
			if c.st[j].state == StatePending {
				c.st[j].state = StateBypassed
				ev.Bypassed = append(ev.Bypassed, c.order[j].Step.ID)
			}
		}
	}
	return ev, nil
}

// Skip marks step skipped by role (its owner or the facilitator), with a
// reason for the report.
func (c *Checklist) Skip(step, role, reason string, at time.Time) (Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.open(step, at)
	if err != nil {
		return Event{}, err
	}
	if err := c.mayAct(i, role); err != nil {
		return Event{}, err
	}
	st := &c.st[i]
	st.state, st.by, st.at, st.reason = StateSkipped, role, at, reason
	ev := c.event(EventSkipped, i, role, at)
	ev.Reason = reason
	return ev, nil
}

// Restore rebuilds a checklist from the events it returned before (read
// back from the exercise log after a restart). Actions are not run again.
func Restore(pb *Playbook, cfg ChecklistConfig, events []Event) (*Checklist, error) {
	c, err := NewChecklist(pb, cfg)
	if err != nil {
		return nil, err
	}
	for _, ev := range events {
		if ev.Playbook != pb.ID {
			continue
		}
		i, ok := c.index[ev.Step]
		if !ok {
			return nil, fmt.Errorf("%w %q in playbook %s", ErrUnknownStep, ev.Step, pb.ID)
		}
		st := &c.st[i]
		switch ev.Kind {
		case EventRequested:
			st.state, st.by, st.at, st.outOfOrder = StateWaiting, ev.Role, ev.Time, ev.OutOfOrder
		case EventApproved:
			st.approver, st.approvedAt = ev.Approver, ev.Time
		case EventDone:
			if st.state == StatePending {
				st.by, st.at = ev.Role, ev.Time
			}
			if ev.Approver != "" && st.approver == "" {
				st.approver, st.approvedAt = ev.Approver, ev.Time
			}
			st.state, st.done, st.outOfOrder = StateDone, ev.Time, ev.OutOfOrder
		case EventDecided:
			st.state, st.by, st.at, st.done, st.branch, st.outOfOrder = StateDone, ev.Role, ev.Time, ev.Time, ev.Branch, ev.OutOfOrder
			for _, id := range ev.Bypassed {
				if j, ok := c.index[id]; ok {
					c.st[j].state = StateBypassed
				}
			}
		case EventSkipped:
			st.state, st.by, st.at, st.reason = StateSkipped, ev.Role, ev.Time, ev.Reason
		case EventActionFailed:
			if ev.Approver != "" && st.approver == "" {
				st.approver, st.approvedAt = ev.Approver, ev.Time
			}
		default:
			return nil, fmt.Errorf("playbooks: unknown event kind %q", ev.Kind)
		}
	}
	return c, nil
}

// StepStatus is one step as the checklist stands, for a role's view and
// for the after-action report.
type StepStatus struct {
	ID         string        `json:"id"`
	Phase      Phase         `json:"phase"`
	Title      string        `json:"title"`
	Owner      string        `json:"owner"`
	State      StepState     `json:"state"`
	By         string        `json:"by,omitempty"`
	At         time.Time     `json:"at,omitzero"`   // when it was checked, decided or skipped
	Done       time.Time     `json:"done,omitzero"` // when it was done
	Due        time.Duration `json:"due,omitempty"`
	Approver   string        `json:"approver,omitempty"`   // the gate's approver role
	ApprovedAt time.Time     `json:"approved_at,omitzero"` // zero: not approved
	Branch     string        `json:"branch,omitempty"`
	Reason     string        `json:"reason,omitempty"`
	Late       bool          `json:"late,omitempty"`
	OutOfOrder bool          `json:"out_of_order,omitempty"`
}

func (c *Checklist) status(i int) StepStatus {
	ps, st := c.order[i], c.st[i]
	out := StepStatus{ID: ps.Step.ID, Phase: ps.Phase, Title: ps.Step.Title, Owner: ps.Step.Owner, State: st.state,
		By: st.by, At: st.at, Done: st.done, Due: ps.Step.Due, Branch: st.branch, Reason: st.reason,
		OutOfOrder: st.outOfOrder && (st.state == StateDone || st.state == StateWaiting)}
	if ps.Step.Gate != nil {
		out.Approver, out.ApprovedAt = ps.Step.Gate.Approver, st.approvedAt
	}
	out.Late = st.state == StateDone && c.late(i, st.done)
	return out
}

// Steps returns every step's status, in order.
func (c *Checklist) Steps() []StepStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]StepStatus, len(c.order))
	for i := range c.order {
		out[i] = c.status(i)
	}
	return out
}

// Todo returns what role can act on now: the open steps it owns and the
// gates waiting for its approval.
func (c *Checklist) Todo(role string) []StepStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []StepStatus
	for i, ps := range c.order {
		st := c.st[i]
		if st.state != StatePending && st.state != StateWaiting {
			continue
		}
		gate := ps.Step.Gate
		mine := ps.Step.Owner == role && !(st.state == StateWaiting && st.approver == "")
		approve := gate != nil && gate.Approver == role && st.approver == ""
		if mine || approve || role == RoleFacilitator {
			out = append(out, c.status(i))
		}
	}
	return out
}

// Adherence is how closely a team followed a playbook, for the
// after-action report.
type Adherence struct {
	Playbook string `json:"playbook"`
	Title    string `json:"title"`
	Total    int    `json:"total"`
	// Applicable is Total less the steps a decision bypassed.
	Applicable int `json:"applicable"`
	Done       int `json:"done"`
	Late       int `json:"late"` // done after their due time
	Skipped    int `json:"skipped"`
	Bypassed   int `json:"bypassed"`
	OutOfOrder int `json:"out_of_order"` // done while an earlier step was still pending
	Waiting    int `json:"waiting"`      // checked, the gate not yet approved
	Pending    int `json:"pending"`
	// Completion is Done / Applicable; OnTime is the share of the done steps
	// with a due time that met it (1 when none had one).
	Completion float64      `json:"completion"`
	OnTime     float64      `json:"on_time"`
	Steps      []StepStatus `json:"steps"`
}

// Adherence reports steps done, late, skipped, bypassed and out of order.
func (c *Checklist) Adherence() Adherence {
	steps := c.Steps()
	a := Adherence{Playbook: c.pb.ID, Title: c.pb.Title, Total: len(steps), Steps: steps, OnTime: 1}
	withDue := 0
	for _, s := range steps {
		switch s.State {
		case StateDone:
			a.Done++
			if s.Due > 0 {
				withDue++
			}
			if s.Late {
				a.Late++
			}
		case StateSkipped:
			a.Skipped++
		case StateBypassed:
			a.Bypassed++
		case StateWaiting:
			a.Waiting++
		case StatePending:
			a.Pending++
		}
		if s.OutOfOrder && s.State == StateDone {
			a.OutOfOrder++
		}
	}
	a.Applicable = a.Total - a.Bypassed
	if a.Applicable > 0 {
		a.Completion = float64(a.Done) / float64(a.Applicable)
	}
	if withDue > 0 {
		a.OnTime = float64(withDue-a.Late) / float64(withDue)
	}
	return a
}
