// Package hmi is the plant's operator station: it polls the PLCs over real
// Modbus/TCP from its own address (with goburrow/modbus, as a commercial HMI
// driver would) and hands each scan's values to the UI.
package hmi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	gmodbus "github.com/goburrow/modbus"

	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/simulator/plc"
)

// Snapshot is what the operator sees of the tank after one poll.
type Snapshot struct {
	Time       time.Time `json:"time"`
	Online     bool      `json:"online"`
	Error      string    `json:"error,omitempty"`
	LevelMM    uint16    `json:"level_mm"`
	SetpointMM uint16    `json:"setpoint_mm"`
	PumpOn     bool      `json:"pump_on"`
	Alarms     uint16    `json:"alarms"`
	Alarm      string    `json:"alarm,omitempty"`
	CapacityMM uint16    `json:"capacity_mm"`
}

// Config configures the HMI.
type Config struct {
	Source   netip.Addr     // the HMI's own address; invalid: any
	PLC      netip.AddrPort // the tank PLC
	Unit     uint8
	Interval time.Duration // poll period; <= 0: 1 s
	Timeout  time.Duration // per request; <= 0: 2 s
	Publish  func(Snapshot)
	Logger   *slog.Logger
}

// HMI polls the PLC.
type HMI struct {
	cfg Config
	log *slog.Logger
	tr  *transporter
	cl  gmodbus.Client
}

// New builds an HMI; Run starts polling.
func New(cfg Config) (*HMI, error) {
	if !cfg.PLC.IsValid() {
		return nil, errors.New("hmi: PLC address required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Publish == nil {
		cfg.Publish = func(Snapshot) {}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	handler := gmodbus.NewTCPClientHandler(cfg.PLC.String())
	handler.SlaveId = cfg.Unit
	tr := &transporter{source: cfg.Source, target: cfg.PLC, timeout: cfg.Timeout}
	return &HMI{cfg: cfg, log: log, tr: tr, cl: gmodbus.NewClient2(handler, tr)}, nil
}

// Run polls until ctx is cancelled.
func (h *HMI) Run(ctx context.Context) error {
	defer h.tr.Close()
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	online := true
	for {
		s := h.Poll()
		if s.Online != online {
			h.log.Info("PLC reachability changed", "plc", h.cfg.PLC, "online", s.Online, "err", s.Error)
			online = s.Online
		}
		h.cfg.Publish(s)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Poll reads the PLC once.
func (h *HMI) Poll() Snapshot {
	s := Snapshot{Time: time.Now()}
	b, err := h.cl.ReadHoldingRegisters(0, plc.RegHighAlarm+1)
	if err == nil && len(b) < 2*(plc.RegHighAlarm+1) {
		err = fmt.Errorf("short response: %d bytes", len(b))
	}
	if err != nil {
		h.tr.Close() // reconnect on the next poll
		s.Error = err.Error()
		return s
	}
	reg := func(i int) uint16 { return uint16(b[2*i])<<8 | uint16(b[2*i+1]) }
	s.Online = true
	s.LevelMM = reg(plc.RegLevel)
	s.SetpointMM = reg(plc.RegSetpoint)
	s.PumpOn = reg(plc.RegPump) != 0
	s.Alarms = reg(plc.RegAlarms)
	s.Alarm = alarmText(s.Alarms)
	s.CapacityMM = reg(plc.RegCapacity)
	return s
}

func alarmText(bits uint16) string {
	switch {
	case bits&plc.AlarmOverflow != 0:
		return "TANK OVERFLOW"
	case bits&plc.AlarmHighHigh != 0:
		return "LEVEL HIGH-HIGH"
	case bits&plc.AlarmHigh != 0:
		return "LEVEL HIGH"
	case bits&plc.AlarmLow != 0:
		return "LEVEL LOW"
	}
	return ""
}

// transporter is goburrow's Transporter over a connection bound to the HMI's
// own address, so the wire shows the HMI as a distinct host. goburrow's TCP
// handler still frames requests and checks responses.
type transporter struct {
	source  netip.Addr
	target  netip.AddrPort
	timeout time.Duration

	mu   sync.Mutex
	conn net.Conn
	buf  [modbus.MaxADULen]byte
}

// Send writes one request ADU and reads one response ADU.
func (t *transporter) Send(req []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		d := net.Dialer{Timeout: t.timeout}
		if t.source.IsValid() {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(t.source, 0))
		}
		c, err := d.Dial("tcp", t.target.String())
		if err != nil {
			return nil, err
		}
		t.conn = c
	}
	t.conn.SetDeadline(time.Now().Add(t.timeout))
	if _, err := t.conn.Write(req); err != nil {
		return nil, err
	}
	n := 0
	for {
		var adu modbus.ADU
		size, err := modbus.DecodeADU(t.buf[:n], &adu)
		if err == nil {
			return append([]byte(nil), t.buf[:size]...), nil
		}
		if !errors.Is(err, modbus.ErrIncomplete) {
			return nil, err
		}
		m, err := t.conn.Read(t.buf[n:])
		if err != nil {
			return nil, err
		}
		n += m
	}
}

// Close drops the connection.
func (t *transporter) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		return nil
	}
	err := t.conn.Close()
	t.conn = nil
	return err
}
