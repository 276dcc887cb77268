package main

import (
	"context"
	"fmt"
	"io"

	"github.com/otrange/otrange/simulator"
	"github.com/otrange/otrange/simulator/hmi"
)

func runPlant(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := simulator.DefaultConfig()
	fs := newFlags("plant", "plant [flags]\n\nRuns the virtual plant alone: process, PLC (Modbus/TCP) and HMI polling.", stdout)
	fs.Var(addrFlag{&cfg.PLCAddr}, "plc-addr", "tank PLC address (within 127.0.0.0/8)")
	fs.IntVar(&cfg.ModbusPort, "modbus-port", cfg.ModbusPort, "Modbus/TCP port (falls back to 5020 when 502 may not be bound)")
	fs.Var(addrFlag{&cfg.HMIAddr}, "hmi-addr", "HMI address (within 127.0.0.0/8)")
	fs.DurationVar(&cfg.PollInterval, "poll", cfg.PollInterval, "HMI poll interval")
	verbose := fs.Bool("v", false, "print every HMI poll")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return err
	}
	if cfg.ModbusPort < 0 || cfg.ModbusPort > 65535 {
		return usagef("bad -modbus-port %d", cfg.ModbusPort)
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	cfg.Logger = log
	if *verbose {
		cfg.Publish = func(s hmi.Snapshot) {
			fmt.Fprintf(stdout, "%s level=%dmm setpoint=%dmm pump=%v alarm=%q online=%v\n",
				s.Time.Format("15:04:05"), s.LevelMM, s.SetpointMM, s.PumpOn, s.Alarm, s.Online)
		}
	}
	p, err := simulator.New(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "plant running: tank PLC on %s, HMI at %s\n", p.PLCAddr(), cfg.HMIAddr)
	return p.Run(ctx)
}
