// Package simulator is the virtual plant: process physics stepped on a fixed
// tick, PLCs serving real Modbus/TCP on their own loopback addresses, and the
// HMI polling them. Every device is a distinct host on the wire.
package simulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/otrange/otrange/internal/group"
	"github.com/otrange/otrange/internal/rangenet"
	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/simulator/hmi"
	"github.com/otrange/otrange/simulator/plc"
	"github.com/otrange/otrange/simulator/process"
)

// Default addresses of the plant's hosts (all of 127.0.0.0/8 routes to lo).
var (
	DefaultPLCAddr = netip.MustParseAddr("127.10.1.10")
	DefaultHMIAddr = netip.MustParseAddr("127.10.2.10")
	DefaultEWSAddr = netip.MustParseAddr("127.10.2.20")
)

// Modbus ports: the standard one when the process may bind it, else the fallback.
const (
	ModbusPort         = 502
	ModbusFallbackPort = 5020
)

// Config configures the plant.
type Config struct {
	PLCAddr    netip.Addr
	ModbusPort int // 0: an ephemeral port (tests)
	// FallbackPort is tried when ModbusPort may not be bound (no root). 0: none.
	FallbackPort int
	HMIAddr      netip.Addr
	PollInterval time.Duration
	Tick         time.Duration
	Tank         process.TankConfig
	Control      plc.TankConfig
	Publish      func(hmi.Snapshot) // HMI values, after every poll
	Logger       *slog.Logger
}

// DefaultConfig is the embedded default plant.
func DefaultConfig() Config {
	return Config{
		PLCAddr: DefaultPLCAddr, ModbusPort: ModbusPort, FallbackPort: ModbusFallbackPort,
		HMIAddr: DefaultHMIAddr, PollInterval: time.Second, Tick: 100 * time.Millisecond,
		Tank: process.DefaultTank(), Control: plc.DefaultTankConfig(),
	}
}

// Plant is a running plant.
type Plant struct {
	cfg    Config
	log    *slog.Logger
	guard  *rangenet.Guard
	mu     sync.Mutex // guards tank and ctl between the tick and range controls
	tank   *process.Tank
	ctl    *plc.Tank
	ln     net.Listener
	server *modbus.Server
	hmi    *hmi.HMI
}

// New builds the plant and binds its devices' listeners, so that Addr is
// known and a busy or forbidden port fails here rather than later.
func New(cfg Config) (*Plant, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	guard := rangenet.New(nil)
	for _, a := range []netip.Addr{cfg.PLCAddr, cfg.HMIAddr} {
		if err := guard.CheckAddr(a); err != nil {
			return nil, fmt.Errorf("plant: %w", err)
		}
	}
	if cfg.Tick <= 0 {
		return nil, errors.New("plant: tick must be positive")
	}
	p := &Plant{cfg: cfg, log: log, guard: guard}
	p.tank = process.NewTank(cfg.Tank)
	p.ctl = plc.NewTank(cfg.Control, p.tank)
	ln, err := listen(cfg.PLCAddr, cfg.ModbusPort, cfg.FallbackPort)
	if err != nil {
		return nil, fmt.Errorf("plant: PLC: %w", err)
	}
	p.ln = ln
	p.server, err = modbus.NewServer(modbus.ServerConfig{Handler: p.ctl.Bank(), Logger: log.With("device", "plc-tank")})
	if err != nil {
		ln.Close()
		return nil, err
	}
	p.hmi, err = hmi.New(hmi.Config{
		Source: cfg.HMIAddr, PLC: p.PLCAddr(), Interval: cfg.PollInterval,
		Publish: cfg.Publish, Logger: log.With("device", "hmi"),
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	return p, nil
}

// listen binds addr:port, or addr:fallback when port is refused for lack of rights.
func listen(addr netip.Addr, port, fallback int) (net.Listener, error) {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, uint16(port)).String())
	if err != nil && fallback != 0 && errors.Is(err, syscall.EACCES) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, uint16(fallback)).String())
	}
	return ln, err
}

// PLCAddr is the address the tank PLC listens on.
func (p *Plant) PLCAddr() netip.AddrPort {
	return p.ln.Addr().(*net.TCPAddr).AddrPort()
}

// Run runs the process, the PLC's server and the HMI until ctx is cancelled.
func (p *Plant) Run(ctx context.Context) error {
	g := group.New(ctx)
	g.Go("process", p.runProcess)
	g.Go("plc server", func(ctx context.Context) error { return p.server.Serve(ctx, p.ln) })
	g.Go("hmi", p.hmi.Run)
	p.log.Info("plant running", "plc", p.PLCAddr(), "hmi", p.cfg.HMIAddr)
	return g.Wait()
}

// runProcess steps the physics and scans the PLC on a fixed tick.
func (p *Plant) runProcess(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			p.mu.Lock()
			p.ctl.Scan()
			p.tank.Step(p.cfg.Tick)
			p.mu.Unlock()
		}
	}
}
