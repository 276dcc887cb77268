package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/otrange/otrange/internal/rangenet"
	scenario "github.com/otrange/otrange/scenarios"
	"github.com/otrange/otrange/scenarios/runner"
	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/server/store"
	"github.com/otrange/otrange/simulator/plantdef"
)

// ScenarioHost is the plant an exercise's scenario attacks: its definition
// and where each device listens.
type ScenarioHost interface {
	Def() *plantdef.Plant
	Addr(device string) (netip.AddrPort, bool)
}

// Event kinds of the scenario runner's injects held by the facilitator.
const (
	KindInjectHeld     = "inject.held"
	KindInjectReleased = "inject.released"
	KindInjectMode     = "inject.mode"
)

// runs tracks the scenario runners of running exercises.
type runs struct {
	mu       sync.Mutex
	ctx      context.Context // the server's; set by Serve
	active   map[string]*run
	hold     map[string]bool // exercise → injects held for the facilitator
	finished map[string]bool
	wg       sync.WaitGroup
}

type run struct {
	cancel   context.CancelFunc
	triggers chan runner.Event
}

func (s *Server) scenarioRoutes(e *echo.Echo) {
	g := e.Group("/api/exercises/:id/injects", s.authenticate, facilitatorOnly)
	g.POST("/hold", s.holdInjects)
	g.GET("/pending", s.pendingInjects)
	g.POST("/pending/:event", s.releaseInject)
}

// startRuns starts the runners of exercises already running (after a
// restart, the steps already in the log are not run again).
// It keeps watching, so exercises the engine starts on schedule get theirs.
func (s *Server) startRuns(ctx context.Context) {
	s.runs.mu.Lock()
	s.runs.ctx = ctx
	s.runs.mu.Unlock()
	s.runs.wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			for _, id := range s.engine.Running() {
				s.startRun(id)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// startRun starts the scenario of a running exercise, if it has one and no
// runner yet.
func (s *Server) startRun(id string) {
	if s.host == nil {
		return
	}
	x, err := s.engine.Get(id)
	if err != nil || x.Scenario == "" {
		return
	}
	s.runs.mu.Lock()
	defer s.runs.mu.Unlock()
	if s.runs.ctx == nil || s.runs.active[id] != nil || s.runs.finished[id] {
		return
	}
	sc, err := scenario.Get(x.Scenario)
	if err != nil {
		s.log.Error("exercise scenario", "exercise", id, "err", err)
		return
	}
	done := map[string]bool{}
	evs, _ := s.allEvents(s.runs.ctx, exercise.Principal{Exercise: id, Role: exercise.Facilitator})
	for _, ev := range evs {
		if ev.Kind == exercise.KindStep {
			var r exercise.StepRecord
			if json.Unmarshal(ev.Payload, &r) == nil {
				done[r.Step] = true
			}
		}
	}
	ctx, cancel := context.WithCancel(s.runs.ctx)
	rn := &run{cancel: cancel, triggers: make(chan runner.Event, 64)}
	r, err := runner.New(runner.Config{
		Scenario: sc, Plant: s.host.Def(), Addr: s.host.Addr, Guard: rangenet.New(nil), Control: s.rangeCtl,
		Clock: exerciseClock{s.engine, id}, Recorder: recorder{s, id}, Triggers: rn.triggers, Done: done,
		Logger: s.log.With("exercise", id, "scenario", sc.ID),
	})
	if err != nil {
		cancel()
		s.log.Error("scenario runner", "exercise", id, "err", err)
		return
	}
	s.runs.active[id] = rn
	s.runs.wg.Go(func() {
		defer cancel()
		err := r.Run(ctx)
		s.log.Info("scenario finished", "exercise", id, "err", err)
		s.runs.mu.Lock()
		delete(s.runs.active, id)
		if ctx.Err() == nil || s.exerciseOver(id) {
			s.runs.finished[id] = true
		}
		s.runs.mu.Unlock()
	})
}

func (s *Server) exerciseOver(id string) bool {
	x, err := s.engine.Get(id)
	return err != nil || x.State == exercise.Finished || x.State == exercise.Cancelled
}

// stopRun ends an exercise's runner (finished or cancelled).
func (s *Server) stopRun(id string) {
	s.runs.mu.Lock()
	defer s.runs.mu.Unlock()
	if r := s.runs.active[id]; r != nil {
		r.cancel()
	}
	s.runs.finished[id] = true
}

// trigger hands an alert or a participant action to every runner.
func (s *Server) trigger(ev runner.Event) {
	s.runs.mu.Lock()
	defer s.runs.mu.Unlock()
	for _, r := range s.runs.active {
		select {
		case r.triggers <- ev:
		default: // a runner that does not keep up misses a trigger, never blocks the server
		}
	}
}

// exerciseClock is the runner's clock: the exercise's own, which pauses with
// the exercise and runs at its speed.
type exerciseClock struct {
	e  *exercise.Engine
	id string
}

func (c exerciseClock) Now() time.Duration {
	d, _ := c.e.Clock(c.id)
	return d
}

func (c exerciseClock) WaitUntil(ctx context.Context, t time.Duration) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for c.Now() < t {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// recorder writes the runner's ground truth and injects to the exercise's
// log; injects wait for the facilitator while injects are held.
type recorder struct {
	s  *Server
	id string
}

func (r recorder) RecordStep(ctx context.Context, rec exercise.StepRecord) error {
	return r.s.GroundTruth(r.id, rec.Step, rec)
}

func (r recorder) RecordInject(ctx context.Context, rec exercise.InjectRecord) error {
	r.s.runs.mu.Lock()
	hold := r.s.runs.hold[r.id]
	r.s.runs.mu.Unlock()
	kind, audience := exercise.KindInject, rec.Roles
	if hold {
		kind, audience = KindInjectHeld, groundTruth
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = r.s.engine.Append(ctx, store.Event{Exercise: r.id, Kind: kind, Source: "step:" + rec.Step, Audience: audience, Cause: rec.Step, Payload: b})
	return err
}

func (s *Server) holdInjects(c echo.Context) error {
	var req struct {
		Hold bool `json:"hold"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	id := principal(c).Exercise
	s.runs.mu.Lock()
	s.runs.hold[id] = req.Hold
	s.runs.mu.Unlock()
	return s.appendFrom(c, KindInjectMode, groundTruth, req)
}

// pendingInject is a held inject awaiting the facilitator.
type pendingInject struct {
	EventID int64 `json:"event_id"`
	exercise.InjectRecord
	Clock time.Duration `json:"clock"`
}

func (s *Server) pending(ctx context.Context, id string) ([]pendingInject, error) {
	evs, err := s.allEvents(ctx, exercise.Principal{Exercise: id, Role: exercise.Facilitator})
	if err != nil {
		return nil, err
	}
	var held []pendingInject
	settled := map[int64]bool{}
	for _, ev := range evs {
		switch ev.Kind {
		case KindInjectHeld:
			var r exercise.InjectRecord
			if json.Unmarshal(ev.Payload, &r) == nil {
				held = append(held, pendingInject{EventID: ev.ID, InjectRecord: r, Clock: ev.Clock})
			}
		case KindInjectReleased:
			var m struct {
				Held int64 `json:"held"`
			}
			if json.Unmarshal(ev.Payload, &m) == nil {
				settled[m.Held] = true
			}
		}
	}
	out := []pendingInject{}
	for _, p := range held {
		if !settled[p.EventID] {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *Server) pendingInjects(c echo.Context) error {
	p, err := s.pending(c.Request().Context(), principal(c).Exercise)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// releaseInject releases a held inject to its roles, or drops it.
func (s *Server) releaseInject(c echo.Context) error {
	var req struct {
		Action string `json:"action"` // release or drop
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.Action != "release" && req.Action != "drop" {
		return echo.NewHTTPError(http.StatusBadRequest, "action must be release or drop")
	}
	eid, err := strconv.ParseInt(c.Param("event"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "the event id must be a number")
	}
	id := principal(c).Exercise
	pend, err := s.pending(c.Request().Context(), id)
	if err != nil {
		return err
	}
	for _, p := range pend {
		if p.EventID != eid {
			continue
		}
		if req.Action == "release" {
			b, _ := json.Marshal(p.InjectRecord)
			if _, err := s.engine.Append(c.Request().Context(), store.Event{Exercise: id, Kind: exercise.KindInject,
				Source: "facilitator", Audience: p.Roles, Cause: p.Step, Payload: b}); err != nil {
				return apiErr(err)
			}
		}
		return s.appendFrom(c, KindInjectReleased, groundTruth, map[string]any{"held": eid, "action": req.Action})
	}
	return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no held inject %d", eid))
}
