// Package runner executes a scenario (package scenario) against the plant:
// each step fires on the exercise clock (at an offset, after another step,
// or on a trigger), releases its injects, and carries out its action for
// real. Network actions open real connections from the step's source
// address (the attacker, an IT host, or the HMI or engineering workstation
// the attacker acts through) through the range guard, which refuses any
// target outside the range before a packet leaves; plant faults and
// stations going down go through the range controls. Every executed step
// leaves its ground truth (times, source, destination, flows, frames,
// techniques, success on the wire or the error, expectations) with the
// Recorder.
//
// Semantics worth knowing:
//   - Offsets ("at") and trigger timeouts are exercise-clock times: the
//     scenario starts at clock 0. Intervals between a step's requests run on
//     the exercise clock too; network timeouts are wall time.
//   - Frames are the application requests really written (Modbus ADUs, DNP3
//     fragments other than confirmations; probes for net.discover,
//     connections for a connection flood). A step succeeds when nothing
//     broke the connection and the target accepted at least one request
//     (for scans: answered one, exceptions included); a refusal (Modbus
//     exception, DNP3 IIN failure or control status) or a connection the
//     device's firewall closes fails it.
//   - plant.mode writes the mode register (holding register bound to
//     "mode"; a DNP3 station's analog output) with the logic package's mode
//     numbers; plant.program writes the registers bound to the parameters
//     (FC 16 per contiguous block) and, with restart, the mode back to
//     remote.
//   - dnp3.spoof_response cannot enter the HMI's own TCP connection without
//     a man in the middle: it sends the false responses (outstation link
//     address as source) over UDP to the master station's DNP3 port.
//   - net.discover probes a device's configured Modbus/DNP3 port where the
//     device really listens (Config.Addr), so sweeps find a plant bound to
//     ephemeral ports.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/otrange/otrange/internal/rangenet"
	scenario "github.com/otrange/otrange/scenarios"
	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/simulator/control"
	"github.com/otrange/otrange/simulator/plantdef"
)

// Recorder receives the ground truth of the run: one StepRecord per
// executed step (skipped steps leave none) and one InjectRecord per role an
// inject is released to. The exercise engine appends them to its log.
type Recorder interface {
	RecordStep(ctx context.Context, r exercise.StepRecord) error
	RecordInject(ctx context.Context, r exercise.InjectRecord) error
}

// Event is something a step's trigger may wait for: an alert (by rule id,
// or any of its technique ids) or a participant action (a range control
// kind or an exercise action such as "decision").
type Event struct {
	Alert      string   // rule id of an alert
	Techniques []string // technique ids of an alert
	Action     string   // participant action kind
}

// Config configures a Runner.
type Config struct {
	// Scenario to run; required.
	Scenario *scenario.Scenario
	// Plant is the plant definition: device names to addresses, ports,
	// Modbus units, DNP3 link addresses, register and point maps. Nil: the
	// embedded default plant.
	Plant *plantdef.Plant
	// Addr says where a device really listens when it is not where the
	// plant definition says (tests and unprivileged runs bind other ports).
	// For a device with both Modbus and DNP3 it gives the Modbus endpoint.
	// Nil: the definition's addresses and ports.
	Addr func(device string) (netip.AddrPort, bool)
	// Guard is the range's safety guard; required. Every source and target
	// is checked by it before any dial.
	Guard *rangenet.Guard
	// Control carries out plant.fault (inject_fault) and host.down
	// (restart_device for the duration). Nil: those steps fail.
	Control control.Controller
	// Clock is the exercise clock. Nil: a real-time ScaledClock started by
	// New.
	Clock Clock
	// Recorder receives the ground truth. Nil: discarded.
	Recorder Recorder
	// Triggers delivers alerts and participant actions for steps with an
	// "on" trigger. Nil: such steps wait for their timeout.
	Triggers <-chan Event
	// Timeout bounds each dial and request in wall time (default 2s).
	Timeout time.Duration
	// ProbeTimeout bounds the wait for each probe of a Modbus scan (unit,
	// function, address scans; default 300ms): a device does not answer a
	// unit that is not its own.
	ProbeTimeout time.Duration
	// MaxProbeRate caps net.discover's probes per wall second, whatever the
	// clock's speed (default 2000).
	MaxProbeRate int
	// Done names steps that already ran (a run resumed after a restart):
	// they are not run again, and the steps that follow them go on.
	Done map[string]bool
	// Logger receives step events; nil discards them.
	Logger *slog.Logger
}

// Outcome is what became of one step.
type Outcome struct {
	Step    string
	Skipped bool   // the step did not run: its trigger timed out, or the step it follows was skipped
	Reason  string // why it was skipped
	// Record is the step's ground truth when it ran.
	Record *exercise.StepRecord
	// Err is why the step failed (nil when it succeeded): the connection's
	// error, a refusal by the device, or the guard's (errors.Is
	// ErrOutsideRange).
	Err error
}

// Runner runs one scenario once.
type Runner struct {
	cfg   Config
	log   *slog.Logger
	plant *plantdef.Plant
	byID  map[string]*stepState
	order []*stepState

	mu    sync.Mutex
	armed []*armed
	ran   bool
}

type stepState struct {
	ps      scenario.PhaseStep
	done    chan struct{}
	outcome Outcome
}

type armed struct {
	trig  *scenario.Trigger
	fired chan struct{}
	once  sync.Once
}

// Errors of the runner.
var (
	// ErrConfig marks a Config the runner cannot work with.
	ErrConfig = errors.New("runner: bad configuration")
	// ErrOutsideRange is the guard's refusal (rangenet.ErrOutsideRange).
	ErrOutsideRange = rangenet.ErrOutsideRange
	// ErrNoControl is returned for a step that needs the range controls
	// when none were given.
	ErrNoControl = errors.New("runner: no range controller for this step")
)

// Default bounds of requests and probes.
const (
	DefaultTimeout      = 2 * time.Second
	DefaultProbeTimeout = 300 * time.Millisecond
	DefaultMaxProbeRate = 2000
)

// New checks cfg and returns a Runner.
func New(cfg Config) (*Runner, error) {
	if cfg.Scenario == nil {
		return nil, fmt.Errorf("%w: no scenario", ErrConfig)
	}
	if cfg.Guard == nil {
		return nil, fmt.Errorf("%w: a range guard is required", ErrConfig)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = DefaultProbeTimeout
	}
	if cfg.MaxProbeRate <= 0 {
		cfg.MaxProbeRate = DefaultMaxProbeRate
	}
	if cfg.Clock == nil {
		c, _ := NewClock(1)
		cfg.Clock = c
	}
	r := &Runner{cfg: cfg, log: cfg.Logger, plant: cfg.Plant, byID: map[string]*stepState{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("scenario", cfg.Scenario.ID)
	if r.plant == nil {
		p, err := plantdef.Default(nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: default plant: %v", ErrConfig, err)
		}
		r.plant = p
	}
	for _, ps := range cfg.Scenario.AllSteps() {
		if _, dup := r.byID[ps.Step.ID]; dup {
			return nil, fmt.Errorf("%w: step %q is defined twice", ErrConfig, ps.Step.ID)
		}
		s := &stepState{ps: ps, done: make(chan struct{}), outcome: Outcome{Step: ps.Step.ID}}
		r.byID[ps.Step.ID] = s
		r.order = append(r.order, s)
	}
	for _, s := range r.order {
		st := s.ps.Step
		n := 0
		if st.At != nil {
			n++
		}
		if st.After != "" {
			n++
			if _, ok := r.byID[st.After]; !ok || st.After == st.ID {
				return nil, fmt.Errorf("%w: step %q follows unknown step %q", ErrConfig, st.ID, st.After)
			}
		}
		if st.On != nil {
			n++
		}
		if n != 1 {
			return nil, fmt.Errorf("%w: step %q needs exactly one of at, after, on", ErrConfig, st.ID)
		}
		if _, ok := scenario.Action(st.Action); !ok {
			return nil, fmt.Errorf("%w: step %q: unknown action %q", ErrConfig, st.ID, st.Action)
		}
	}
	return r, nil
}

// Run runs every step and returns when all have finished or been skipped,
// or when ctx ends (then with ctx's error). A step that fails on the wire
// is not an error of Run: it is recorded as failed. Run may be called once.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.ran {
		r.mu.Unlock()
		return fmt.Errorf("%w: Run called twice", ErrConfig)
	}
	r.ran = true
	// Arm every trigger now: the scenario has started.
	for _, s := range r.order {
		if s.ps.Step.On != nil {
			r.armed = append(r.armed, &armed{trig: s.ps.Step.On, fired: make(chan struct{})})
		}
	}
	r.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if r.cfg.Triggers != nil {
		go r.dispatch(ctx)
	}
	var wg sync.WaitGroup
	ai := 0
	for _, s := range r.order {
		var a *armed
		if s.ps.Step.On != nil {
			a = r.armed[ai]
			ai++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(s.done)
			r.step(ctx, s, a)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// Outcomes returns what became of each step, in scenario order; valid after
// Run returns.
func (r *Runner) Outcomes() []Outcome {
	out := make([]Outcome, len(r.order))
	for i, s := range r.order {
		out[i] = s.outcome
	}
	return out
}

// dispatch fires armed triggers as events arrive.
func (r *Runner) dispatch(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-r.cfg.Triggers:
			if !ok {
				return
			}
			r.mu.Lock()
			for _, a := range r.armed {
				if matches(a.trig, ev) {
					a.once.Do(func() { close(a.fired) })
				}
			}
			r.mu.Unlock()
		}
	}
}

func matches(t *scenario.Trigger, ev Event) bool {
	if t.Action != "" {
		return ev.Action == t.Action
	}
	if t.Alert == "" {
		return false
	}
	return ev.Alert == t.Alert || slices.Contains(ev.Techniques, t.Alert)
}

// step waits for the step's time, then runs it.
func (r *Runner) step(ctx context.Context, s *stepState, a *armed) {
	st := s.ps.Step
	clk := r.cfg.Clock
	if r.cfg.Done[st.ID] {
		s.outcome.Reason = "ran before the run resumed"
		return
	}
	skip := func(reason string) {
		s.outcome.Skipped, s.outcome.Reason = true, reason
		r.log.Info("step skipped", "step", st.ID, "reason", reason)
	}
	switch {
	case st.At != nil:
		if clk.WaitUntil(ctx, st.At.D()) != nil {
			skip("the run ended first")
			return
		}
	case st.After != "":
		prev := r.byID[st.After]
		select {
		case <-prev.done:
		case <-ctx.Done():
			skip("the run ended first")
			return
		}
		if prev.outcome.Skipped {
			skip(fmt.Sprintf("step %q it follows was skipped", st.After))
			return
		}
		if sleep(ctx, clk, st.Delay.D()) != nil {
			skip("the run ended first")
			return
		}
	case st.On != nil:
		if !r.awaitTrigger(ctx, st, a) {
			if ctx.Err() != nil {
				skip("the run ended first")
			} else {
				skip(fmt.Sprintf("%s did not happen within %s", describeTrigger(st.On), st.On.Timeout))
			}
			return
		}
		if sleep(ctx, clk, st.Delay.D()) != nil {
			skip("the run ended first")
			return
		}
	}
	r.fire(ctx, s)
}

func describeTrigger(t *scenario.Trigger) string {
	if t.Action != "" {
		return "participant action " + t.Action
	}
	return "alert " + t.Alert
}

// awaitTrigger reports whether the step should run: its trigger fired, or
// its timeout passed with on_timeout "run".
func (r *Runner) awaitTrigger(ctx context.Context, st *scenario.Step, a *armed) bool {
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timedOut := make(chan struct{})
	if st.On.Timeout > 0 {
		go func() {
			if r.cfg.Clock.WaitUntil(tctx, st.On.Timeout.D()) == nil {
				close(timedOut)
			}
		}()
	}
	select {
	case <-a.fired:
		return true
	case <-timedOut:
		return st.On.OnTimeout == "run"
	case <-ctx.Done():
		return false
	}
}

// fire releases the step's injects and carries out its action.
func (r *Runner) fire(ctx context.Context, s *stepState) {
	st := s.ps.Step
	sc := r.cfg.Scenario
	rec := exercise.StepRecord{
		Scenario:   sc.ID,
		Step:       st.ID,
		Name:       st.Name,
		Phase:      sc.Phases[s.ps.Phase].Name,
		Action:     st.Action,
		Target:     st.Target,
		Techniques: st.TechniqueIDs(),
		Start:      time.Now(),
		StartClock: r.cfg.Clock.Now(),
		Expect:     r.expectation(st),
	}
	r.inject(ctx, st)
	x := &execution{r: r, st: st, rec: &rec}
	err := x.run(ctx)
	rec.End = time.Now()
	rec.EndClock = r.cfg.Clock.Now()
	rec.Frames = x.frames
	rec.Flows = x.flowList()
	if err == nil && x.accepted == 0 {
		err = x.refusal
	}
	if err != nil {
		rec.Error = err.Error()
		s.outcome.Err = err
	} else {
		rec.Succeeded = true
	}
	s.outcome.Record = &rec
	r.log.Info("step executed", "step", st.ID, "action", st.Action, "target", st.Target,
		"source", rec.Source, "frames", rec.Frames, "succeeded", rec.Succeeded, "err", rec.Error)
	if r.cfg.Recorder != nil {
		if err := r.cfg.Recorder.RecordStep(context.WithoutCancel(ctx), rec); err != nil {
			r.log.Warn("recording a step failed", "step", st.ID, "err", err)
		}
	}
}

// inject releases the step's injects, one record per role.
func (r *Runner) inject(ctx context.Context, st *scenario.Step) {
	if r.cfg.Recorder == nil || len(st.Injects) == 0 {
		return
	}
	roles := make([]string, 0, len(st.Injects))
	for role := range st.Injects {
		roles = append(roles, role)
	}
	sort.Strings(roles)
	for _, role := range roles {
		in := st.Injects[role]
		rec := exercise.InjectRecord{Step: st.ID, Text: in.Text, Roles: []string{role}}
		if in.Attachment != nil {
			rec.Attachment = in.Attachment.Name
		}
		if err := r.cfg.Recorder.RecordInject(context.WithoutCancel(ctx), rec); err != nil {
			r.log.Warn("recording an inject failed", "step", st.ID, "role", role, "err", err)
		}
	}
}

// expectation copies the step's expectations.
func (r *Runner) expectation(st *scenario.Step) exercise.Expectation {
	var e exercise.Expectation
	if st.Expect != nil {
		for _, d := range st.Expect.Detections {
			w := d.Within.D()
			if w == 0 {
				w = scenario.DefaultWithin
			}
			e.Detections = append(e.Detections, exercise.ExpectedDetection{Rule: d.Rule, Technique: d.Technique, Within: w})
		}
		var cs []string
		for _, c := range st.Expect.Consequences {
			cs = append(cs, c.Condition)
		}
		e.Consequence = strings.Join(cs, ", ")
	}
	src := r.cfg.Scenario.StepSource(st)
	if a, ok := r.stationAddr(src); ok {
		src = a.String()
	}
	for _, p := range st.PreventedBy {
		e.PreventedBy = append(e.PreventedBy, p.Control(src).String())
	}
	return e
}
