package main

import (
	"context"
	"fmt"
	"io"

	"github.com/otrange/otrange/internal/app"
	"github.com/otrange/otrange/simulator"
)

func runRange(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := app.DefaultConfig()
	fs := newFlags("run", "run [flags]\n\nStarts the plant, the sensor on loopback, and the server with its UI.", stdout)
	fs.StringVar(&cfg.DataDir, "data", envOr("OTRANGE_DATA", cfg.DataDir), "data directory for the SQLite store (env OTRANGE_DATA)")
	fs.StringVar(&cfg.HTTPAddr, "http", envOr("OTRANGE_HTTP", cfg.HTTPAddr), "listen address of the UI and API (env OTRANGE_HTTP)")
	fs.StringVar(&cfg.SensorIface, "iface", cfg.SensorIface, "interface the sensor captures on")
	fs.StringVar(&cfg.PlantFile, "plant", "", "plant definition (YAML); default: the embedded water-treatment plant")
	fs.Float64Var(&cfg.Plant.Speed, "speed", 1, "process speed: simulated seconds per second (0.1..1000)")
	fs.DurationVar(&cfg.BaselineLearn, "baseline-learn", cfg.BaselineLearn, "how long the sensor learns normal traffic before reporting deviations (0: no baseline)")
	noSensor := fs.Bool("no-sensor", false, "do not start the sensor")
	subnet := fs.Int("subnet", 0, "move the plant from 127.10.x.y to 127.N.x.y (run ranges side by side); 0: as defined")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg.Sensor = !*noSensor
	if *subnet != 0 {
		if *subnet < 1 || *subnet > 254 || *subnet == 66 {
			return usagef("bad -subnet %d: want 1..254, not 66 (the attacker's)", *subnet)
		}
		cfg.Plant.Relocate = simulator.Subnet(byte(*subnet))
		cfg.SensorFilter = fmt.Sprintf("net 127.%d.0.0/16 or net 127.66.0.0/16", *subnet)
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	cfg.Logger = log
	return app.Run(ctx, cfg, func(info app.Info) {
		fmt.Fprintf(stdout, "otrange is running. Open %s\n", info.URL)
		fmt.Fprintf(stdout, "  plant: %s   store: %s\n", info.Plant.Def().Meta.Name, info.DBPath)
		for _, d := range info.Plant.Def().Devices {
			if a, ok := info.Plant.Addr(d.Name); ok {
				fmt.Fprintf(stdout, "  %-18s %-4s %s\n", d.Name, d.Kind, a)
			}
		}
		if !info.Sensor.Running {
			fmt.Fprintf(stdout, "  sensor is OFF: %s\n", info.Sensor.Reason)
		}
	})
}
