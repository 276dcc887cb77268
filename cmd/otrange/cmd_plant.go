package main

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/otrange/otrange/simulator"
	"github.com/otrange/otrange/simulator/scada"
)

func runPlant(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plant", "plant [flags]\n\nRuns the virtual plant alone: the water-treatment process, its PLCs (Modbus/TCP), SIS, RTU (DNP3),\nHMI polling, engineering workstation and historian, each device on its own loopback address.", stdout)
	config := fs.String("config", "", "plant definition (YAML); default: the embedded water-treatment plant")
	speed := fs.Float64("speed", 1, "process speed: simulated seconds per second (0.1..1000)")
	dataDir := fs.String("data", "data", "directory for the historian database (\"\" for none)")
	check := fs.Bool("check", false, "only load and check the plant definition, then exit")
	verbose := fs.Bool("v", false, "print every HMI poll")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return err
	}
	def, err := simulator.LoadDef(*config)
	if err != nil {
		return err
	}
	if *check {
		fmt.Fprintf(stdout, "%s: %d devices, valid\n", def.Meta.Name, len(def.Devices))
		return nil
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	cfg := simulator.Config{Def: def, Speed: *speed, DataDir: *dataDir, Logger: log}
	if *verbose {
		cfg.OnHMI = func(u scada.Update) {
			keys := make([]string, 0, len(u.Values))
			for k := range u.Values {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			fmt.Fprintf(stdout, "%s %s online=%v", u.Time.Format("15:04:05"), u.Device, u.Online)
			for _, k := range keys {
				fmt.Fprintf(stdout, " %s=%g", k, u.Values[k])
			}
			fmt.Fprintln(stdout)
		}
	}
	p, err := simulator.New(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "plant %q running:\n", def.Meta.Name)
	for _, d := range def.Devices {
		if a, ok := p.Addr(d.Name); ok {
			fmt.Fprintf(stdout, "  %-18s %-9s %s\n", d.Name, d.Kind, a)
		} else {
			fmt.Fprintf(stdout, "  %-18s %-9s %s\n", d.Name, d.Kind, d.Address)
		}
	}
	return p.Run(ctx)
}
