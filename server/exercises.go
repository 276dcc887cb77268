package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/otrange/otrange/scenarios/runner"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/server/report"
	"github.com/otrange/otrange/server/store"
	"github.com/otrange/otrange/simulator/control"
)

// Who sees what by default: the SOC sees the sensor, operations the plant.
var (
	alertAudience = []string{exercise.ITSOCAnalyst, exercise.IncidentCommander}
	plantAudience = []string{exercise.Operator, exercise.OTEngineer, exercise.IncidentCommander, exercise.PlantManager}
	// groundTruth is for the facilitator only (no participant role matches it).
	groundTruth = []string{exercise.Facilitator}
)

// Roles allowed to act on the range: the OT engineer, and the facilitator.
var actionRoles = []string{exercise.OTEngineer}

// Limits of participant input, and of the events one WebSocket connection
// sends before the live ones.
const (
	maxText      = 4000
	backlogLimit = 1000
)

func (s *Server) exerciseRoutes(e *echo.Echo) {
	g := e.Group("/api/exercises")
	g.POST("", s.createExercise)
	g.GET("", s.listExercises)
	g.POST("/:id/join", s.joinExercise)
	a := g.Group("/:id", s.authenticate)
	a.GET("", s.getExercise)
	a.GET("/me", func(c echo.Context) error { return c.JSON(http.StatusOK, principal(c)) })
	a.POST("/state", s.moveExercise, facilitatorOnly)
	a.GET("/events", s.exerciseEvents)
	a.POST("/injects", s.postInject, facilitatorOnly)
	a.POST("/chat", s.postChat)
	a.POST("/decisions", s.postDecision, rolesOnly(exercise.IncidentCommander))
	a.POST("/actions", s.postAction, rolesOnly(actionRoles...))
	a.GET("/score", s.getScore, facilitatorOnly)
	a.GET("/report", s.getReport, facilitatorOnly)
	a.GET("/navigator", s.getNavigator, facilitatorOnly)
	a.GET("/journal", s.getJournal, facilitatorOnly)
	e.GET("/ws/exercises/:id", s.exerciseWS, s.authenticate)
}

// authenticate resolves the bearer token (or ?token= for WebSockets, which
// cannot set headers) to a principal of the exercise in the path.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token := strings.TrimPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
		if token == "" {
			token = c.QueryParam("token")
		}
		id := c.Param("id")
		if _, err := s.engine.Get(id); err != nil {
			return apiErr(err)
		}
		p, err := s.engine.Authenticate(id, token)
		if err != nil {
			return echo.NewHTTPError(http.StatusUnauthorized, "a valid token for this exercise is required")
		}
		c.Set("principal", p)
		return next(c)
	}
}

func principal(c echo.Context) exercise.Principal {
	p, _ := c.Get("principal").(exercise.Principal)
	return p
}

func facilitatorOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !principal(c).IsFacilitator() {
			return echo.NewHTTPError(http.StatusForbidden, "only the facilitator may do this")
		}
		return next(c)
	}
}

func rolesOnly(roles ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := principal(c)
			if !p.IsFacilitator() && !slices.Contains(roles, p.Role) {
				return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("only %s may do this", strings.Join(append(roles, "the facilitator"), ", ")))
			}
			return next(c)
		}
	}
}

// apiErr maps engine errors to HTTP errors.
func apiErr(err error) error {
	switch {
	case errors.Is(err, exercise.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "no such exercise")
	case errors.Is(err, exercise.ErrForbidden):
		return echo.NewHTTPError(http.StatusForbidden, err.Error())
	case errors.Is(err, exercise.ErrBadToken):
		return echo.NewHTTPError(http.StatusUnauthorized, err.Error())
	case errors.Is(err, exercise.ErrConflict):
		return echo.NewHTTPError(http.StatusConflict, err.Error())
	case errors.Is(err, exercise.ErrInvalid), errors.Is(err, control.ErrInvalid):
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	case errors.Is(err, exercise.ErrTooMany):
		return echo.NewHTTPError(http.StatusTooManyRequests, err.Error())
	}
	return err
}

// bind decodes a JSON body strictly into v.
func bind(c echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "bad JSON body: "+err.Error())
	}
	if dec.More() {
		return echo.NewHTTPError(http.StatusBadRequest, "bad JSON body: trailing data")
	}
	return nil
}

func (s *Server) createExercise(c echo.Context) error {
	var req exercise.CreateRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	x, creds, err := s.engine.Create(c.Request().Context(), req)
	if err != nil {
		return apiErr(err)
	}
	return c.JSON(http.StatusCreated, map[string]any{"exercise": x, "credentials": creds})
}

// listing is what anyone may know of an exercise.
type listing struct {
	ID    string         `json:"id"`
	Title string         `json:"title"`
	State exercise.State `json:"state"`
}

func (s *Server) listExercises(c echo.Context) error {
	var out []listing
	for _, x := range s.engine.List() {
		out = append(out, listing{x.ID, x.Title, x.State})
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getExercise(c echo.Context) error {
	x, err := s.engine.Get(c.Param("id"))
	if err != nil {
		return apiErr(err)
	}
	return c.JSON(http.StatusOK, x)
}

func (s *Server) joinExercise(c echo.Context) error {
	var req struct {
		Invite string `json:"invite"`
		Name   string `json:"name"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	p, token, err := s.engine.Join(c.Request().Context(), c.Param("id"), req.Invite, req.Name)
	if err != nil {
		return apiErr(err)
	}
	return c.JSON(http.StatusCreated, map[string]any{"principal": p, "token": token})
}

func (s *Server) moveExercise(c echo.Context) error {
	var req struct {
		State   exercise.State `json:"state"`
		StartAt time.Time      `json:"start_at"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	x, err := s.engine.Move(c.Request().Context(), c.Param("id"), req.State, req.StartAt, principal(c))
	if err != nil {
		return apiErr(err)
	}
	switch x.State {
	case exercise.Running:
		s.startRun(x.ID)
	case exercise.Finished, exercise.Cancelled:
		s.stopRun(x.ID)
	}
	return c.JSON(http.StatusOK, x)
}

func (s *Server) exerciseEvents(c echo.Context) error {
	after, err := intParam(c, "after", 0)
	if err != nil {
		return err
	}
	limit, err := intParam(c, "limit", 1000)
	if err != nil {
		return err
	}
	if limit < 1 || limit > 1000 {
		return echo.NewHTTPError(http.StatusBadRequest, "limit must be between 1 and 1000")
	}
	evs, err := s.engine.Events(c.Request().Context(), principal(c), int64(after), limit)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []store.Event{}
	}
	return c.JSON(http.StatusOK, evs)
}

// appendFrom appends an event on behalf of the request's principal.
func (s *Server) appendFrom(c echo.Context, kind string, audience []string, payload any) error {
	p := principal(c)
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	ev, err := s.engine.Append(c.Request().Context(), store.Event{
		Exercise: p.Exercise, Kind: kind, Source: "participant:" + p.Role, Audience: audience, Payload: b,
	})
	if err != nil {
		return apiErr(err)
	}
	return c.JSON(http.StatusCreated, ev)
}

func text(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > maxText {
		return "", echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("text must be 1 to %d characters", maxText))
	}
	return v, nil
}

func (s *Server) postInject(c echo.Context) error {
	var req struct {
		Text  string   `json:"text"`
		Roles []string `json:"roles"` // empty: everyone
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	t, err := text(req.Text)
	if err != nil {
		return err
	}
	x, _ := s.engine.Get(c.Param("id"))
	for _, r := range req.Roles {
		if !x.HasRole(r) {
			return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("role %q does not take part in this exercise", r))
		}
	}
	return s.appendFrom(c, exercise.KindInject, req.Roles, exercise.InjectRecord{Text: t, Roles: req.Roles, Adhoc: true})
}

func (s *Server) postChat(c echo.Context) error {
	var req struct {
		Text string `json:"text"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	t, err := text(req.Text)
	if err != nil {
		return err
	}
	p := principal(c)
	return s.appendFrom(c, exercise.KindChat, nil, map[string]any{"text": t, "name": p.Name, "role": p.Role})
}

func (s *Server) postDecision(c echo.Context) error {
	var req struct {
		Text      string `json:"text"`
		Rationale string `json:"rationale"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	t, err := text(req.Text)
	if err != nil {
		return err
	}
	if len(req.Rationale) > maxText {
		return echo.NewHTTPError(http.StatusBadRequest, "rationale too long")
	}
	p := principal(c)
	return s.appendFrom(c, exercise.KindDecision, nil, exercise.DecisionRecord{Text: t, Rationale: req.Rationale, Name: p.Name})
}

func (s *Server) postAction(c echo.Context) error {
	var a control.Action
	if err := bind(c, &a); err != nil {
		return err
	}
	if err := a.Validate(); err != nil {
		return apiErr(err)
	}
	if s.rangeCtl == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "no plant is attached to this server")
	}
	p := principal(c)
	if a.Kind == control.ResetPlant && !p.IsFacilitator() {
		return echo.NewHTTPError(http.StatusForbidden, "only the facilitator may reset the plant")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	res, err := s.rangeCtl.Do(ctx, a)
	if err == nil {
		s.trigger(runner.Event{Action: string(a.Kind)})
	}
	rec := exercise.ActionRecord{Action: a, By: p.Role, Result: res.Message}
	if err != nil {
		rec.Error = err.Error()
	}
	if aerr := s.appendFrom(c, exercise.KindAction, nil, rec); aerr != nil {
		return aerr
	}
	return nil
}

// exerciseWS streams the events the principal may see: first those after
// ?after=ID (a reconnecting client resumes there), then live ones.
func (s *Server) exerciseWS(c echo.Context) error {
	after, err := intParam(c, "after", 0)
	if err != nil {
		return err
	}
	p := principal(c)
	backlog, sub, err := s.engine.Subscribe(c.Request().Context(), p, int64(after), backlogLimit)
	if err != nil {
		return apiErr(err)
	}
	conn, err := upgrader.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		sub.Close()
		return nil
	}
	go s.streamEvents(conn, backlog, sub)
	return nil
}

func (s *Server) streamEvents(conn *websocket.Conn, backlog []store.Event, sub *exercise.Subscription) {
	defer sub.Close()
	defer conn.Close()
	closed := make(chan struct{})
	go func() { // reader: pongs and close
		defer close(closed)
		conn.SetReadLimit(maxMessageSize)
		conn.SetReadDeadline(time.Now().Add(pongWait))
		conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	write := func(ev store.Event) bool {
		conn.SetWriteDeadline(time.Now().Add(writeWait))
		return conn.WriteJSON(Message{Type: "event", Data: ev}) == nil
	}
	for _, ev := range backlog {
		if !write(ev) {
			return
		}
	}
	if len(backlog) == backlogLimit {
		// More may follow the backlog than one answer holds: the client
		// resumes from the last event it got, and misses nothing.
		conn.SetWriteDeadline(time.Now().Add(writeWait))
		conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "resume from your last event"))
		return
	}
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	for {
		select {
		case ev, ok := <-sub.C:
			if !ok {
				// Cut off for lagging (or closed): the client resumes from its last id.
				conn.SetWriteDeadline(time.Now().Add(writeWait))
				conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "resume from your last event"))
				return
			}
			if !write(ev) {
				return
			}
		case <-ping.C:
			conn.SetWriteDeadline(time.Now().Add(writeWait))
			if conn.WriteMessage(websocket.PingMessage, nil) != nil {
				return
			}
		case <-closed:
			return
		case <-s.hub.done:
			return
		}
	}
}

// emitToExercises appends an alert to every running exercise's log.
func (s *Server) emitToExercises(a alert.Alert, payload json.RawMessage) {
	s.appendRunning(exercise.KindAlert, "rule:"+a.RuleID, alertAudience, "", payload)
}

// PlantEvent appends a plant alarm or consequence (kind KindPlantAlarm or
// KindConsequence) to every running exercise, for operations' eyes.
func (s *Server) PlantEvent(kind string, payload any) {
	s.appendRunning(kind, "plant", plantAudience, "", payload)
}

// GroundTruth appends what a scenario step really did to an exercise's log,
// for the facilitator, the scoring and the report only.
func (s *Server) GroundTruth(exerciseID, step string, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = s.engine.Append(ctx, store.Event{Exercise: exerciseID, Kind: exercise.KindStep, Source: "step:" + step,
		Audience: groundTruth, Cause: step, Payload: b})
	return err
}

func (s *Server) appendRunning(kind, source string, audience []string, cause string, payload any) {
	b, err := json.Marshal(payload)
	if err != nil {
		s.log.Error("encode event", "kind", kind, "err", err)
		return
	}
	for _, id := range s.engine.Running() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s.engine.Append(ctx, store.Event{Exercise: id, Kind: kind, Source: source, Audience: audience, Cause: cause, Payload: b})
		cancel()
		if err != nil {
			s.log.Error("append to exercise", "exercise", id, "kind", kind, "err", err)
		}
	}
}

// allEvents reads an exercise's whole log (bounded).
func (s *Server) allEvents(ctx context.Context, p exercise.Principal) ([]store.Event, error) {
	const maxEvents = 1_000_000
	var out []store.Event
	var after int64
	for len(out) < maxEvents {
		evs, err := s.engine.Events(ctx, p, after, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
		if len(evs) < 1000 {
			return out, nil
		}
		after = evs[len(evs)-1].ID
	}
	return nil, echo.NewHTTPError(http.StatusInsufficientStorage, "the log is too large to report on at once")
}

func (s *Server) score(c echo.Context) (*report.Score, []store.Event, error) {
	p := principal(c)
	x, err := s.engine.Get(p.Exercise)
	if err != nil {
		return nil, nil, apiErr(err)
	}
	evs, err := s.allEvents(c.Request().Context(), p)
	if err != nil {
		return nil, nil, err
	}
	sc, err := report.Compute(x, evs)
	return sc, evs, err
}

func (s *Server) getScore(c echo.Context) error {
	sc, _, err := s.score(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sc)
}

func (s *Server) getReport(c echo.Context) error {
	sc, _, err := s.score(c)
	if err != nil {
		return err
	}
	r := report.New(sc, s.objectives(sc.Exercise.Scenario), time.Now())
	switch c.QueryParam("format") {
	case "", "html":
		c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
		c.Response().WriteHeader(http.StatusOK)
		return r.HTML(c.Response())
	case "md", "markdown":
		c.Response().Header().Set(echo.HeaderContentType, "text/markdown; charset=utf-8")
		c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="after-action-report.md"`)
		c.Response().WriteHeader(http.StatusOK)
		return r.Markdown(c.Response())
	}
	return echo.NewHTTPError(http.StatusBadRequest, "format must be html or md")
}

func (s *Server) getNavigator(c echo.Context) error {
	sc, _, err := s.score(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="navigator-layer.json"`)
	return c.JSONPretty(http.StatusOK, sc.Navigator(), "  ")
}

func (s *Server) getJournal(c echo.Context) error {
	evs, err := s.allEvents(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/x-ndjson")
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="journal.jsonl"`)
	c.Response().WriteHeader(http.StatusOK)
	return report.Journal(c.Response(), evs)
}

// objectives returns the exercise objectives of a scenario, if the server
// knows its scenarios.
func (s *Server) objectives(scenario string) []string {
	if s.scenarioObjectives == nil || scenario == "" {
		return nil
	}
	return s.scenarioObjectives(scenario)
}
