// Package app assembles the whole range in one process: the plant, the sensor
// capturing on loopback, and the exercise server with its UI. It is what
// `otrange run` starts; every part also runs alone from its own package.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/otrange/otrange/internal/group"
	"github.com/otrange/otrange/sensor"
	"github.com/otrange/otrange/sensor/capture"
	"github.com/otrange/otrange/server"
	"github.com/otrange/otrange/server/store"
	"github.com/otrange/otrange/simulator"
	"github.com/otrange/otrange/simulator/hmi"
)

// Config configures the range.
type Config struct {
	DataDir     string // holds otrange.db
	HTTPAddr    string // listen address of the UI and API
	Plant       simulator.Config
	Sensor      bool   // capture on SensorIface
	SensorIface string // "lo" for the range itself
	Logger      *slog.Logger
}

// DefaultConfig is `otrange run` with no flags.
func DefaultConfig() Config {
	return Config{
		DataDir: "data", HTTPAddr: "127.0.0.1:8080",
		Plant: simulator.DefaultConfig(), Sensor: true, SensorIface: "lo",
	}
}

// Info tells where the running range can be reached.
type Info struct {
	URL    string
	PLC    netip.AddrPort
	DBPath string
	Sensor server.SensorStatus
}

// Run starts the range and blocks until ctx is cancelled or a part fails.
// ready, if not nil, is called once everything listens.
func Run(ctx context.Context, cfg Config, ready func(Info)) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dbPath := filepath.Join(cfg.DataDir, "otrange.db")
	st, err := store.Open(dbPath)
	if err != nil {
		return err
	}
	defer st.Close()
	srv, err := server.New(server.Options{Store: st, Logger: log.With("component", "server")})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	defer ln.Close()

	pcfg := cfg.Plant
	pcfg.Logger = log.With("component", "plant")
	pcfg.Publish = func(s hmi.Snapshot) { srv.PublishHMI(s) }
	plant, err := simulator.New(pcfg)
	if err != nil {
		return err
	}

	sens, src, status := startSensor(cfg, plant, srv, log)
	srv.SetSensorStatus(status)

	g := group.New(ctx)
	g.Go("server", func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	g.Go("plant", plant.Run)
	if sens != nil {
		g.Go("sensor", func(ctx context.Context) error { return sens.Run(ctx, src) })
	}
	info := Info{URL: "http://" + ln.Addr().String() + "/", PLC: plant.PLCAddr(), DBPath: dbPath, Sensor: status}
	log.Info("range running", "url", info.URL, "plc", info.PLC, "db", dbPath, "sensor", status.Running)
	if ready != nil {
		ready(info)
	}
	return g.Wait()
}

// startSensor opens the live capture; without rights the range runs on and
// the status says why the sensor is off.
func startSensor(cfg Config, plant *simulator.Plant, srv *server.Server, log *slog.Logger) (*sensor.Sensor, capture.Source, server.SensorStatus) {
	if !cfg.Sensor {
		return nil, nil, server.SensorStatus{Reason: "disabled by configuration"}
	}
	src, err := capture.OpenLive(cfg.SensorIface, 0)
	if err != nil {
		log.Warn("sensor is off", "err", err)
		return nil, nil, server.SensorStatus{Reason: err.Error()}
	}
	ports := []uint16{plant.PLCAddr().Port()}
	if ports[0] != simulator.ModbusPort {
		ports = append(ports, simulator.ModbusPort)
	}
	sens, err := sensor.New(sensor.Config{
		Name:              "otrange-lo",
		ModbusPorts:       ports,
		AuthorizedMasters: []netip.Addr{cfg.Plant.HMIAddr, simulator.DefaultEWSAddr},
		Sink:              srv,
		Logger:            log.With("component", "sensor"),
	})
	if err != nil {
		src.Close()
		return nil, nil, server.SensorStatus{Reason: err.Error()}
	}
	return sens, src, server.SensorStatus{Running: true, Source: "live:" + cfg.SensorIface}
}
