package main

import (
	"context"
	"fmt"
	"io"

	"github.com/otrange/otrange/internal/app"
)

func runRange(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := app.DefaultConfig()
	fs := newFlags("run", "run [flags]\n\nStarts the plant, the sensor on loopback, and the server with its UI.", stdout)
	fs.StringVar(&cfg.DataDir, "data", envOr("OTRANGE_DATA", cfg.DataDir), "data directory for the SQLite store (env OTRANGE_DATA)")
	fs.StringVar(&cfg.HTTPAddr, "http", envOr("OTRANGE_HTTP", cfg.HTTPAddr), "listen address of the UI and API (env OTRANGE_HTTP)")
	fs.StringVar(&cfg.SensorIface, "iface", cfg.SensorIface, "interface the sensor captures on")
	noSensor := fs.Bool("no-sensor", false, "do not start the sensor")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg.Sensor = !*noSensor
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	cfg.Logger = log
	return app.Run(ctx, cfg, func(info app.Info) {
		fmt.Fprintf(stdout, "otrange is running. Open %s\n", info.URL)
		fmt.Fprintf(stdout, "  tank PLC (Modbus/TCP): %s   store: %s\n", info.PLC, info.DBPath)
		if !info.Sensor.Running {
			fmt.Fprintf(stdout, "  sensor is OFF: %s\n", info.Sensor.Reason)
		}
	})
}
