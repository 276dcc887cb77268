package main

import (
	"context"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/otrange/otrange/sensor"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/capture"
	"github.com/otrange/otrange/simulator"
)

func runSensor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sensor", "sensor (-i IFACE | -r FILE) [flags]\n\nPassive OT monitor: decodes Modbus/TCP and writes alerts as JSON lines.", stdout)
	iface := fs.String("i", "", "capture live on this interface (needs CAP_NET_RAW)")
	file := fs.String("r", "", "read a pcap or pcapng file ('-' for standard input)")
	out := fs.String("o", "-", "write alerts as JSON lines to this file ('-' for standard output)")
	ports := fs.String("modbus-ports", "502,5020", "TCP ports carrying Modbus/TCP, comma-separated")
	masters := []netip.Addr{simulator.DefaultHMIAddr, simulator.DefaultEWSAddr}
	fs.Var(addrListFlag{&masters}, "authorized", "hosts allowed to write to PLCs, comma-separated")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*iface == "") == (*file == "") {
		return usagef("give exactly one of -i IFACE or -r FILE")
	}
	portList, err := parsePorts(*ports)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	w := stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	jl := alert.NewJSONLines(w)
	s, err := sensor.New(sensor.Config{ModbusPorts: portList, AuthorizedMasters: masters, Sink: jl, Logger: log})
	if err != nil {
		return err
	}
	var src capture.Source
	if *iface != "" {
		src, err = capture.OpenLive(*iface, 0)
	} else {
		src, err = capture.OpenFile(*file)
	}
	if err != nil {
		return err
	}
	defer src.Close()
	if err := s.Run(ctx, src); err != nil {
		return err
	}
	st := s.Stats()
	log.Info("sensor done", "packets", st.Packets, "modbus_adus", st.ModbusADUs, "alerts", st.Alerts,
		"decode_errors", st.DecodeErrors, "flows_dropped", st.FlowsDropped)
	return jl.Err()
}

func parsePorts(s string) ([]uint16, error) {
	var out []uint16
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16)
		if err != nil || n == 0 {
			return nil, usagef("bad port %q in -modbus-ports", f)
		}
		out = append(out, uint16(n))
	}
	return out, nil
}
