package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/otrange/otrange/playbooks"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/server/store"
	"github.com/otrange/otrange/simulator/control"
)

// KindPlaybookActivated is logged when a playbook is opened in an exercise.
const KindPlaybookActivated = "playbook.activated"

// activation is the payload of a playbook.activated event.
type activation struct {
	Playbook string             `json:"playbook"`
	Bindings playbooks.Bindings `json:"bindings,omitempty"`
	Start    time.Time          `json:"start"`
	By       string             `json:"by"`
}

// checklists holds the open checklists of every exercise, rebuilt from the
// log on first use after a restart.
type checklists struct {
	mu     sync.Mutex
	lib    []*playbooks.Playbook
	byExer map[string]map[string]*playbooks.Checklist
}

// rangeExecutor runs playbook range actions on the range controls.
type rangeExecutor struct{ c control.Controller }

func (r rangeExecutor) Do(ctx context.Context, a playbooks.Action) error {
	if r.c == nil {
		return errors.New("no plant is attached to this server")
	}
	_, err := r.c.Do(ctx, control.Action{Kind: control.Kind(a.Kind), Device: a.Device, Source: a.Source, Mode: a.Mode,
		Reason: "playbook step"})
	return err
}

func (s *Server) playbookRoutes(e *echo.Echo) {
	g := e.Group("/api/exercises/:id/playbooks", s.authenticate)
	g.GET("", s.listPlaybooks)
	g.POST("", s.activatePlaybook, rolesOnly(exercise.IncidentCommander))
	g.GET("/:pb", s.getChecklist)
	g.POST("/:pb/steps/:step", s.stepChecklist)
	e.GET("/api/playbooks/:pb/handout", s.playbookHandout)
}

// library returns the built-in playbooks.
func (s *Server) library() ([]*playbooks.Playbook, error) {
	s.pbs.mu.Lock()
	defer s.pbs.mu.Unlock()
	if s.pbs.lib == nil {
		lib, err := playbooks.Library(playbooks.Options{})
		if err != nil {
			return nil, err
		}
		s.pbs.lib = lib
	}
	return s.pbs.lib, nil
}

// seen gathers what happened in an exercise: alert techniques and rules,
// and process conditions, to match playbooks with.
func (s *Server) seen(ctx context.Context, p exercise.Principal) (techniques, rules, conditions []string, err error) {
	evs, err := s.allEvents(ctx, exercise.Principal{Exercise: p.Exercise, Role: exercise.Facilitator})
	if err != nil {
		return nil, nil, nil, err
	}
	add := func(l []string, v string) []string {
		if v != "" && !slices.Contains(l, v) {
			l = append(l, v)
		}
		return l
	}
	for _, ev := range evs {
		switch ev.Kind {
		case exercise.KindAlert:
			var a alert.Alert
			if json.Unmarshal(ev.Payload, &a) == nil {
				rules = add(rules, a.RuleID)
				for _, t := range a.Techniques {
					techniques = add(techniques, t)
				}
			}
		case exercise.KindConsequence:
			var c exercise.ConsequenceRecord
			if json.Unmarshal(ev.Payload, &c) == nil && c.Active {
				conditions = add(conditions, c.Condition)
			}
		}
	}
	return techniques, rules, conditions, nil
}

// listPlaybooks returns the playbooks that match what happened so far,
// ranked, and those already open.
func (s *Server) listPlaybooks(c echo.Context) error {
	lib, err := s.library()
	if err != nil {
		return err
	}
	p := principal(c)
	tech, rules, cond, err := s.seen(c.Request().Context(), p)
	if err != nil {
		return err
	}
	open, err := s.checklistsOf(c.Request().Context(), p.Exercise)
	if err != nil {
		return err
	}
	var active []string
	for id := range open {
		active = append(active, id)
	}
	slices.Sort(active)
	all := make([]map[string]string, 0, len(lib))
	for _, pb := range lib {
		all = append(all, map[string]string{"id": pb.ID, "title": pb.Title})
	}
	matched := playbooks.Match(lib, tech, rules, cond)
	if matched == nil {
		matched = []playbooks.Matched{}
	}
	return c.JSON(http.StatusOK, map[string]any{"matched": matched, "active": active, "library": all})
}

// checklistsOf returns the exercise's open checklists, rebuilding them from
// the log the first time.
func (s *Server) checklistsOf(ctx context.Context, id string) (map[string]*playbooks.Checklist, error) {
	s.pbs.mu.Lock()
	m, ok := s.pbs.byExer[id]
	s.pbs.mu.Unlock()
	if ok {
		return m, nil
	}
	lib, err := s.library()
	if err != nil {
		return nil, err
	}
	evs, err := s.allEvents(ctx, exercise.Principal{Exercise: id, Role: exercise.Facilitator})
	if err != nil {
		return nil, err
	}
	acts := map[string]activation{}
	steps := map[string][]playbooks.Event{}
	var order []string
	for _, ev := range evs {
		switch ev.Kind {
		case KindPlaybookActivated:
			var a activation
			if json.Unmarshal(ev.Payload, &a) == nil {
				if _, dup := acts[a.Playbook]; !dup {
					order = append(order, a.Playbook)
				}
				acts[a.Playbook] = a
			}
		case exercise.KindPlaybook:
			var pe playbooks.Event
			if json.Unmarshal(ev.Payload, &pe) == nil {
				steps[pe.Playbook] = append(steps[pe.Playbook], pe)
			}
		}
	}
	m = map[string]*playbooks.Checklist{}
	for _, pbID := range order {
		pb, ok := playbooks.Find(lib, pbID)
		if !ok {
			continue
		}
		a := acts[pbID]
		cl, err := playbooks.Restore(pb, s.checklistConfig(id, a), steps[pbID])
		if err != nil {
			return nil, fmt.Errorf("playbook %s: %w", pbID, err)
		}
		m[pbID] = cl
	}
	s.pbs.mu.Lock()
	defer s.pbs.mu.Unlock()
	if existing, ok := s.pbs.byExer[id]; ok {
		return existing, nil
	}
	s.pbs.byExer[id] = m
	return m, nil
}

func (s *Server) checklistConfig(id string, a activation) playbooks.ChecklistConfig {
	return playbooks.ChecklistConfig{Exercise: id, Start: a.Start, Executor: rangeExecutor{s.rangeCtl}, Bindings: a.Bindings}
}

func (s *Server) activatePlaybook(c echo.Context) error {
	var req struct {
		Playbook string `json:"playbook"`
		Device   string `json:"device"`
		Source   string `json:"source"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	lib, err := s.library()
	if err != nil {
		return err
	}
	pb, ok := playbooks.Find(lib, req.Playbook)
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "no playbook "+req.Playbook)
	}
	p := principal(c)
	open, err := s.checklistsOf(c.Request().Context(), p.Exercise)
	if err != nil {
		return err
	}
	s.pbs.mu.Lock()
	_, dup := open[pb.ID]
	s.pbs.mu.Unlock()
	if dup {
		return echo.NewHTTPError(http.StatusConflict, "playbook "+pb.ID+" is already open")
	}
	a := activation{Playbook: pb.ID, Bindings: playbooks.Bindings{}, Start: time.Now(), By: p.Role}
	if req.Device != "" {
		a.Bindings["device"] = req.Device
	}
	if req.Source != "" {
		a.Bindings["source"] = req.Source
	}
	cl, err := playbooks.NewChecklist(pb, s.checklistConfig(p.Exercise, a))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	if err := s.appendFrom(c, KindPlaybookActivated, nil, a); err != nil {
		return err
	}
	s.pbs.mu.Lock()
	open[pb.ID] = cl
	s.pbs.mu.Unlock()
	return nil
}

func (s *Server) checklist(c echo.Context) (*playbooks.Checklist, error) {
	p := principal(c)
	open, err := s.checklistsOf(c.Request().Context(), p.Exercise)
	if err != nil {
		return nil, err
	}
	s.pbs.mu.Lock()
	cl, ok := open[c.Param("pb")]
	s.pbs.mu.Unlock()
	if !ok {
		return nil, echo.NewHTTPError(http.StatusNotFound, "playbook "+c.Param("pb")+" is not open in this exercise")
	}
	return cl, nil
}

func (s *Server) getChecklist(c echo.Context) error {
	cl, err := s.checklist(c)
	if err != nil {
		return err
	}
	p := principal(c)
	return c.JSON(http.StatusOK, map[string]any{"playbook": cl.Playbook().ID, "title": cl.Playbook().Title,
		"steps": cl.Steps(), "todo": cl.Todo(p.Role), "adherence": cl.Adherence()})
}

// stepChecklist checks, approves, decides or skips a step, as the caller's
// role; the checklist decides what that role may do.
func (s *Server) stepChecklist(c echo.Context) error {
	cl, err := s.checklist(c)
	if err != nil {
		return err
	}
	var req struct {
		Action string `json:"action"` // check, approve, decide, skip
		Branch string `json:"branch"`
		Reason string `json:"reason"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	p := principal(c)
	step, now := c.Param("step"), time.Now()
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	var ev playbooks.Event
	switch req.Action {
	case "check":
		ev, err = cl.Check(ctx, step, p.Role, now)
	case "approve":
		ev, err = cl.Approve(ctx, step, p.Role, now)
	case "decide":
		ev, err = cl.Decide(step, req.Branch, p.Role, now)
	case "skip":
		ev, err = cl.Skip(step, p.Role, req.Reason, now)
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "action must be check, approve, decide or skip")
	}
	if ev.Kind != "" { // a failed range action is logged too
		if aerr := s.appendEvent(c, exercise.KindPlaybook, ev); aerr != nil {
			return aerr
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, playbooks.ErrNotAllowed):
			return echo.NewHTTPError(http.StatusForbidden, err.Error())
		case ev.Kind == playbooks.EventActionFailed:
			return echo.NewHTTPError(http.StatusBadGateway, err.Error())
		}
		return echo.NewHTTPError(http.StatusConflict, err.Error())
	}
	return c.JSON(http.StatusCreated, ev)
}

// appendEvent appends an event from the request's principal without
// answering the request.
func (s *Server) appendEvent(c echo.Context, kind string, payload any) error {
	p := principal(c)
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	_, err = s.engine.Append(c.Request().Context(), store.Event{Exercise: p.Exercise, Kind: kind, Source: "participant:" + p.Role, Payload: b})
	return apiErr(err)
}

// playbookHandout renders a library playbook as a printable handout.
func (s *Server) playbookHandout(c echo.Context) error {
	lib, err := s.library()
	if err != nil {
		return err
	}
	pb, ok := playbooks.Find(lib, c.Param("pb"))
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "no playbook "+c.Param("pb"))
	}
	format := c.QueryParam("format")
	switch format {
	case "", "html":
		c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
		format = "html"
	case "md":
		c.Response().Header().Set(echo.HeaderContentType, "text/markdown; charset=utf-8")
	case "json":
		return c.JSON(http.StatusOK, handoutJSON(pb))
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "format must be html, md or json")
	}
	c.Response().WriteHeader(http.StatusOK)
	return playbooks.Render(c.Response(), pb, format)
}

// handoutStep is a playbook step as the handout shows it: its fields, with
// the range action and the audience said in words.
type handoutStep struct {
	playbooks.Step
	ActionText string `json:"action_text,omitempty"`
	To         string `json:"to,omitempty"`
}

// handoutJSON is the playbook with its steps in handout order, for the UI's
// checklist details.
func handoutJSON(pb *playbooks.Playbook) map[string]any {
	var steps []handoutStep
	for _, ph := range pb.Phases {
		for _, st := range ph.Steps {
			hs := handoutStep{Step: st}
			if st.Action != nil {
				hs.ActionText = st.Action.String()
			}
			if st.Communicate != nil {
				hs.To = playbooks.AudienceName(st.Communicate.Audience)
			}
			steps = append(steps, hs)
		}
	}
	return map[string]any{"playbook": pb, "steps": steps}
}
