// Package server is the exercise server: an echo HTTP API, the embedded UI,
// and a WebSocket hub that pushes live plant values and alerts to browsers.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/otrange/otrange/playbooks"
	"github.com/otrange/otrange/scenarios/runner"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/server/store"
	"github.com/otrange/otrange/simulator/control"
	"github.com/otrange/otrange/web"
)

// DefaultExercise is the exercise id of the free-running range (no exercise started).
const DefaultExercise = "live"

// SensorStatus tells the UI whether the sensor is capturing, and why not.
type SensorStatus struct {
	Running bool   `json:"running"`
	Source  string `json:"source,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Options configure a Server.
type Options struct {
	Store *store.Store // required
	// Range carries out participants' response actions; nil refuses them.
	Range control.Controller
	// Plant is the live plant (HMI view, operator commands, trends); nil
	// answers 503 on those endpoints.
	Plant Plant
	// Assets returns the sensor's asset inventory (GET /api/assets); nil
	// answers 503.
	Assets func() any
	// SensorToken, if set, is required of sensors posting alerts.
	SensorToken string
	// Scenarios is the plant an exercise's scenario attacks; nil: exercises
	// run without their scenario's attacks (tabletop only).
	Scenarios ScenarioHost
	// Objectives returns a scenario's exercise objectives for the report.
	Objectives func(scenario string) []string
	Logger     *slog.Logger // nil: discard
}

// Server serves the API, the UI and the WebSocket.
type Server struct {
	echo     *echo.Echo
	store    *store.Store
	engine   *exercise.Engine
	rangeCtl control.Controller
	plant    Plant

	scenarioObjectives func(string) []string
	pbs                checklists
	assets             func() any
	sensorToken        string
	host               ScenarioHost
	runs               runs
	hub                *hub
	log                *slog.Logger

	mu     sync.Mutex
	hmi    json.RawMessage
	sensor SensorStatus
}

var _ alert.Sink = (*Server)(nil)

// Message is what the WebSocket sends: a type and its data.
type Message struct {
	Type string `json:"type"` // "hello", "hmi", "alert", "sensor"
	Data any    `json:"data"`
}

// New builds a server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("server: a store is required")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	engine, err := exercise.Open(context.Background(), exercise.Options{Store: opts.Store, Logger: log.With("part", "exercise")})
	if err != nil {
		return nil, err
	}
	s := &Server{store: opts.Store, engine: engine, rangeCtl: opts.Range, plant: opts.Plant, scenarioObjectives: opts.Objectives, assets: opts.Assets, sensorToken: opts.SensorToken, host: opts.Scenarios, log: log, hub: newHub(log)}
	s.sensor = SensorStatus{Reason: "sensor not started"}
	s.pbs.byExer = map[string]map[string]*playbooks.Checklist{}
	s.runs.active, s.runs.hold, s.runs.finished = map[string]*run{}, map[string]bool{}, map[string]bool{}
	s.echo = s.routes()
	return s, nil
}

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(bodyLimit(1 << 20))
	e.GET("/api/health", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/api/state", s.getState)
	e.GET("/api/alerts", s.getAlerts)
	e.GET("/ws", s.serveWS)
	s.exerciseRoutes(e)
	s.plantRoutes(e)
	s.playbookRoutes(e)
	s.sensorRoutes(e)
	s.scenarioRoutes(e)
	e.Any("/api/*", func(c echo.Context) error {
		return echo.NewHTTPError(http.StatusNotFound, "no such API endpoint: "+c.Request().URL.Path)
	})
	e.GET("/*", echo.WrapHandler(http.FileServer(http.FS(web.FS))))
	return e
}

// bodyLimit refuses request bodies larger than n bytes.
func bodyLimit(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().ContentLength > n {
				return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", n))
			}
			c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, n)
			return next(c)
		}
	}
}

// apiError is the JSON body of every error.
type apiError struct {
	Error string `json:"error"`
}

func (s *Server) errorHandler(err error, c echo.Context) {
	code, msg := http.StatusInternalServerError, "internal error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code, msg = he.Code, fmt.Sprint(he.Message)
	} else {
		s.log.Error("request failed", "path", c.Path(), "err", err)
	}
	if c.Response().Committed {
		return
	}
	c.JSON(code, apiError{Error: msg})
}

type state struct {
	HMI    json.RawMessage `json:"hmi"`
	Sensor SensorStatus    `json:"sensor"`
}

func (s *Server) snapshot() state {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hmi
	if h == nil {
		h = json.RawMessage("null")
	}
	return state{HMI: h, Sensor: s.sensor}
}

func (s *Server) getState(c echo.Context) error {
	return c.JSON(http.StatusOK, s.snapshot())
}

func (s *Server) getAlerts(c echo.Context) error {
	after, err := intParam(c, "after", 0)
	if err != nil {
		return err
	}
	limit, err := intParam(c, "limit", 100)
	if err != nil {
		return err
	}
	if limit < 1 || limit > 1000 {
		return echo.NewHTTPError(http.StatusBadRequest, "limit must be between 1 and 1000")
	}
	alerts, err := s.alerts(c.Request().Context(), int64(after), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, alerts)
}

func intParam(c echo.Context, name string, def int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("%s must be a non-negative integer, got %q", name, v))
	}
	return n, nil
}

// storedAlert is an alert with the id of its event in the log.
type storedAlert struct {
	EventID int64 `json:"event_id"`
	alert.Alert
}

// alerts returns the newest limit alerts after the given event id, oldest first.
func (s *Server) alerts(ctx context.Context, after int64, limit int) ([]storedAlert, error) {
	evs, err := s.store.Events(ctx, store.Query{Exercise: DefaultExercise, Kind: "alert", AfterID: after, Limit: limit, Newest: true})
	if err != nil {
		return nil, err
	}
	out := make([]storedAlert, 0, len(evs))
	for i := len(evs) - 1; i >= 0; i-- {
		var a alert.Alert
		if err := json.Unmarshal(evs[i].Payload, &a); err != nil {
			return nil, fmt.Errorf("event %d: %w", evs[i].ID, err)
		}
		out = append(out, storedAlert{EventID: evs[i].ID, Alert: a})
	}
	return out, nil
}

func (s *Server) serveWS(c echo.Context) error {
	conn, err := upgrader.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // the upgrader has written the HTTP error
	}
	cl := &client{conn: conn, send: make(chan []byte, sendQueue)}
	recent, err := s.alerts(c.Request().Context(), 0, 100)
	if err != nil {
		conn.Close()
		return err
	}
	hello, _ := json.Marshal(Message{Type: "hello", Data: map[string]any{"state": s.snapshot(), "alerts": recent}})
	cl.send <- hello
	select {
	case s.hub.register <- cl:
	case <-s.hub.done:
		conn.Close()
		return nil
	}
	go cl.writePump()
	go cl.readPump(s.hub)
	return nil
}

func (s *Server) publish(typ string, data any) {
	msg, err := json.Marshal(Message{Type: typ, Data: data})
	if err != nil {
		s.log.Error("encode message", "type", typ, "err", err)
		return
	}
	select {
	case s.hub.broadcast <- msg:
	case <-s.hub.done:
	}
}

// PublishHMI records the latest HMI values and pushes them to every browser.
func (s *Server) PublishHMI(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode hmi", "err", err)
		return
	}
	s.mu.Lock()
	s.hmi = b
	s.mu.Unlock()
	s.publish("hmi", json.RawMessage(b))
}

// SetSensorStatus records whether the sensor runs and pushes it to browsers.
func (s *Server) SetSensorStatus(st SensorStatus) {
	s.mu.Lock()
	s.sensor = st
	s.mu.Unlock()
	s.publish("sensor", st)
}

// Emit stores an alert in the event log and pushes it to browsers.
func (s *Server) Emit(a alert.Alert) {
	payload, err := json.Marshal(a)
	if err != nil {
		s.log.Error("encode alert", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := s.store.Append(ctx, store.Event{Exercise: DefaultExercise, Kind: "alert", Time: a.Time, Source: "sensor:" + a.Sensor, Payload: payload})
	if err != nil {
		s.log.Error("store alert", "err", err)
		return
	}
	s.publish("alert", storedAlert{EventID: ev.ID, Alert: a})
	s.emitToExercises(a, payload)
	s.trigger(runner.Event{Alert: a.RuleID, Techniques: a.Techniques})
}

// Serve serves HTTP on ln until ctx is cancelled, then shuts down within 5 s.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	go s.hub.run()
	engineCtx, stopEngine := context.WithCancel(ctx)
	engineDone := make(chan struct{})
	go func() { s.engine.Run(engineCtx); close(engineDone) }()
	defer func() { stopEngine(); <-engineDone; s.runs.wg.Wait() }()
	s.startRuns(engineCtx)
	srv := &http.Server{Handler: s.echo, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		close(s.hub.done)
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	close(s.hub.done)
	err := srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	<-errc
	return err
}

// Handler exposes the HTTP handler (for tests with httptest).
func (s *Server) Handler() http.Handler { return s.echo }
