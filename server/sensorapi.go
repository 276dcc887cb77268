package server

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/otrange/otrange/sensor/alert"
)

// maxAlertBatch bounds one POST /api/alerts.
const maxAlertBatch = 1024

func (s *Server) sensorRoutes(e *echo.Echo) {
	e.POST("/api/alerts", s.postAlerts)
	e.GET("/api/assets", s.getAssets)
}

// postAlerts takes alerts from a standalone sensor (`otrange sensor -server
// URL`): a JSON array of alerts. With a sensor token configured the request
// must carry it; without one only loopback clients may post.
func (s *Server) postAlerts(c echo.Context) error {
	if s.sensorToken != "" {
		got := strings.TrimPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.sensorToken)) != 1 {
			return echo.NewHTTPError(http.StatusUnauthorized, "a valid sensor token is required")
		}
	} else if ap, err := netip.ParseAddrPort(c.Request().RemoteAddr); err != nil || !ap.Addr().Unmap().IsLoopback() {
		return echo.NewHTTPError(http.StatusForbidden, "alerts are accepted from loopback only unless a sensor token is configured")
	}
	var batch []alert.Alert
	if err := bind(c, &batch); err != nil {
		return err
	}
	if len(batch) > maxAlertBatch {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "at most 1024 alerts per request")
	}
	for i, a := range batch {
		if a.RuleID == "" || a.Time.IsZero() {
			return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("alert %d: rule_id and time are required", i))
		}
	}
	for _, a := range batch {
		s.Emit(a)
	}
	return c.JSON(http.StatusAccepted, map[string]int{"accepted": len(batch)})
}

// getAssets returns the sensor's asset inventory.
func (s *Server) getAssets(c echo.Context) error {
	if s.assets == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "no sensor inventory is attached to this server")
	}
	return c.JSON(http.StatusOK, s.assets())
}
