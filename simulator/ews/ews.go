// Package ews is the plant's engineering workstation: on a schedule it does
// the occasional legitimate maintenance an engineer does, from its own
// address: it reads each PLC's device identification (FC 43/14) and its
// registers, and now and then writes a register back with the value it holds
// (a harmless write, as a tuning session leaves on the wire). The sensor must
// learn this traffic as benign.
package ews

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/otrange/otrange/protocol/modbus"
)

// Target is a PLC the workstation maintains.
type Target struct {
	Name string
	Addr netip.AddrPort
	Unit uint8
	// Registers is how many holding registers from 0 a visit reads (1..125).
	Registers uint16
	// Write enables writing WriteRegister back with the value it holds on
	// write visits.
	Write         bool
	WriteRegister uint16
}

// Config configures the workstation.
type Config struct {
	Source  netip.Addr
	Targets []Target
	// Interval between visits; each visit maintains the next target in turn.
	Interval time.Duration
	// WriteEvery makes the visits of the first round of targets, and of every
	// n-th round after it, also write a register back; 0: never. (Every
	// target is written in the first round, so a sensor learning the plant
	// sees the workstation's writes early.)
	WriteEvery int
	Timeout    time.Duration // per request; <= 0: 2 s
	// OnVisit receives what each visit did (ground truth for the validation
	// harness). It must not block for long.
	OnVisit func(Visit)
	// Paused, if set, skips visits while it returns true (the host is down).
	Paused func() bool
	Logger *slog.Logger
}

// Visit is one maintenance visit to one PLC.
type Visit struct {
	Time     time.Time        `json:"time"`
	Device   string           `json:"device"`
	Identity map[uint8]string `json:"identity,omitempty"` // device identification objects
	Read     int              `json:"read"`               // registers read
	Wrote    *uint16          `json:"wrote,omitempty"`    // the register written back
	Error    string           `json:"error,omitempty"`
}

// Workstation runs the maintenance schedule.
type Workstation struct {
	cfg    Config
	log    *slog.Logger
	visits int
}

// New checks cfg.
func New(cfg Config) (*Workstation, error) {
	if cfg.Interval <= 0 {
		return nil, errors.New("ews: interval must be positive")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	for _, t := range cfg.Targets {
		if !t.Addr.IsValid() || t.Registers == 0 || t.Registers > 125 {
			return nil, fmt.Errorf("ews: target %q: needs an address and 1..125 registers", t.Name)
		}
	}
	if cfg.OnVisit == nil {
		cfg.OnVisit = func(Visit) {}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Workstation{cfg: cfg, log: log}, nil
}

// Run visits one target per interval until ctx is done.
func (w *Workstation) Run(ctx context.Context) error {
	if len(w.cfg.Targets) == 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if w.cfg.Paused != nil && w.cfg.Paused() {
			continue
		}
		v := w.Visit(ctx, w.cfg.Targets[w.visits%len(w.cfg.Targets)])
		if v.Error != "" && ctx.Err() == nil {
			w.log.Info("maintenance visit failed", "device", v.Device, "err", v.Error)
		}
		w.cfg.OnVisit(v)
	}
}

// Visit maintains one target now: identification, a read, and on every
// WriteEvery-th visit a write back of the value read.
func (w *Workstation) Visit(ctx context.Context, t Target) Visit {
	w.visits++
	v := Visit{Time: time.Now(), Device: t.Name}
	err := w.visit(ctx, t, &v)
	if err != nil {
		v.Error = err.Error()
	}
	return v
}

func (w *Workstation) visit(ctx context.Context, t Target, v *Visit) error {
	c, err := modbus.Dial(ctx, modbus.DialConfig{Address: t.Addr.String(), Timeout: w.cfg.Timeout, Dial: w.dial})
	if err != nil {
		return err
	}
	defer c.Close()
	p, err := c.Do(ctx, t.Unit, modbus.ReadDeviceIdentification(1, 0))
	if err != nil {
		return fmt.Errorf("device identification: %w", err)
	}
	var r modbus.Response
	if err := modbus.ParseResponse(p, &r); err != nil {
		return fmt.Errorf("device identification: %w", err)
	}
	v.Identity = map[uint8]string{}
	for id, val := range r.DeviceObjects {
		v.Identity[id] = string(val)
	}
	p, err = c.Do(ctx, t.Unit, modbus.ReadHoldingRegisters(0, t.Registers))
	if err != nil {
		return fmt.Errorf("read registers: %w", err)
	}
	if err := modbus.ParseResponse(p, &r); err != nil {
		return fmt.Errorf("read registers: %w", err)
	}
	v.Read = int(t.Registers)
	round := (w.visits - 1) / max(len(w.cfg.Targets), 1)
	if !t.Write || w.cfg.WriteEvery <= 0 || round%w.cfg.WriteEvery != 0 || t.WriteRegister >= t.Registers {
		return nil
	}
	if len(r.Values) < 2*int(t.Registers) {
		return fmt.Errorf("read registers: %d bytes for %d registers", len(r.Values), t.Registers)
	}
	val := uint16(r.Values[2*t.WriteRegister])<<8 | uint16(r.Values[2*t.WriteRegister+1])
	if _, err := c.Do(ctx, t.Unit, modbus.WriteSingleRegister(t.WriteRegister, val)); err != nil {
		return fmt.Errorf("write back register %d: %w", t.WriteRegister, err)
	}
	reg := t.WriteRegister
	v.Wrote = &reg
	return nil
}

func (w *Workstation) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: w.cfg.Timeout}
	if w.cfg.Source.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(w.cfg.Source, 0))
	}
	return d.DialContext(ctx, network, addr)
}
