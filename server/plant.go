package server

import (
	"context"
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/otrange/otrange/server/exercise"
)

// Plant is what the server needs of the running plant: its live view (for
// the HMI and the device view), operator commands sent from the HMI's
// address, and historian trends.
type Plant interface {
	View() any
	Command(ctx context.Context, tag string, value float64) error
	Trend(ctx context.Context, tag string, from, to time.Time, step time.Duration) (any, error)
}

// ErrUnknownTag is returned by Plant implementations for a tag they do not
// know (the API answers 404).
var ErrUnknownTag = errors.New("unknown tag")

// Roles that may send operator commands.
var commandRoles = []string{exercise.Operator, exercise.OTEngineer}

func (s *Server) plantRoutes(e *echo.Echo) {
	e.GET("/api/plant", s.getPlant)
	e.GET("/api/plant/trend", s.getTrend)
	g := e.Group("/api/exercises/:id", s.authenticate)
	g.POST("/commands", s.postCommand, rolesOnly(commandRoles...))
}

func (s *Server) needPlant() error {
	if s.plant == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "no plant is attached to this server")
	}
	return nil
}

func (s *Server) getPlant(c echo.Context) error {
	if err := s.needPlant(); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.plant.View())
}

func (s *Server) getTrend(c echo.Context) error {
	if err := s.needPlant(); err != nil {
		return err
	}
	tag := c.QueryParam("tag")
	if tag == "" {
		return echo.NewHTTPError(http.StatusBadRequest, "tag is required")
	}
	now := time.Now()
	from, to := now.Add(-time.Hour), now
	var err error
	if v := c.QueryParam("from"); v != "" {
		if from, err = time.Parse(time.RFC3339, v); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "from must be an RFC 3339 time")
		}
	}
	if v := c.QueryParam("to"); v != "" {
		if to, err = time.Parse(time.RFC3339, v); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "to must be an RFC 3339 time")
		}
	}
	step := time.Duration(0)
	if v := c.QueryParam("step"); v != "" {
		if step, err = time.ParseDuration(v); err != nil || step <= 0 {
			return echo.NewHTTPError(http.StatusBadRequest, "step must be a positive duration such as 10s")
		}
	}
	if !to.After(from) {
		return echo.NewHTTPError(http.StatusBadRequest, "to must be after from")
	}
	if step == 0 {
		step = max(time.Second, to.Sub(from)/300)
	}
	res, err := s.plant.Trend(c.Request().Context(), tag, from, to, step)
	if errors.Is(err, ErrUnknownTag) {
		return echo.NewHTTPError(http.StatusNotFound, "no trend for tag "+tag)
	}
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	return c.JSON(http.StatusOK, res)
}

func (s *Server) postCommand(c echo.Context) error {
	if err := s.needPlant(); err != nil {
		return err
	}
	var req struct {
		Tag   string  `json:"tag"`
		Value float64 `json:"value"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.Tag == "" || math.IsNaN(req.Value) || math.IsInf(req.Value, 0) {
		return echo.NewHTTPError(http.StatusBadRequest, "a tag and a finite value are required")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	err := s.plant.Command(ctx, req.Tag, req.Value)
	if errors.Is(err, ErrUnknownTag) {
		return echo.NewHTTPError(http.StatusNotFound, err.Error())
	}
	rec := map[string]any{"tag": req.Tag, "value": req.Value, "by": principal(c).Role}
	if err != nil {
		rec["error"] = err.Error()
	}
	return s.appendFrom(c, exercise.KindCommand, nil, rec)
}
