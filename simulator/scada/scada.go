// Package scada is the plant's operator station: the SCADA server behind the
// HMI. It holds a tag database, polls every PLC over Modbus/TCP (with
// goburrow/modbus, as a commercial HMI driver would) and every outstation as
// a DNP3 master (integrity poll, event polls, unsolicited responses), all from
// its own address so the wire shows it as a distinct host, and it sends the
// operator's commands to the devices the same way.
package scada

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/otrange/otrange/internal/group"
)

// Table is a Modbus data table.
type Table uint8

// Modbus tables.
const (
	Coil Table = iota + 1
	Discrete
	Input
	Holding
)

func (t Table) String() string {
	switch t {
	case Coil:
		return "coil"
	case Discrete:
		return "discrete"
	case Input:
		return "input"
	case Holding:
		return "holding"
	}
	return fmt.Sprintf("table(%d)", uint8(t))
}

func (t Table) bits() bool { return t == Coil || t == Discrete }

// ModbusTag is one value of a PLC: Value = raw / Scale.
type ModbusTag struct {
	Name    string
	Table   Table
	Address uint16
	Scale   float64 // 0 means 1
	Signed  bool    // the register holds a two's complement int16 (int32 with Words 2)
	Words   int     // 2: a 32-bit value in two registers, high word first; 0 or 1: one register
}

// ModbusDevice is a PLC the station polls.
type ModbusDevice struct {
	Name     string
	Addr     netip.AddrPort
	Unit     uint8
	Interval time.Duration // <= 0: 1 s
	Tags     []ModbusTag
}

// PointType is a DNP3 point type.
type PointType uint8

// DNP3 point types.
const (
	BinaryInput PointType = iota + 1
	BinaryOutput
	Counter
	AnalogInput
	AnalogOutput
)

func (p PointType) String() string {
	return [...]string{"?", "binary_input", "binary_output", "counter", "analog_input", "analog_output"}[min(int(p), 5)]
}

// DNP3Tag is one point of an outstation: Value = point value / Scale.
type DNP3Tag struct {
	Name  string
	Type  PointType
	Index uint16
	Scale float64 // 0 means 1
}

// DNP3Device is an outstation the station masters.
type DNP3Device struct {
	Name                             string
	Addr                             netip.AddrPort
	Link, Master                     uint16        // outstation and master link addresses
	IntegrityInterval, EventInterval time.Duration // <= 0: 60 s and 5 s
	Unsolicited                      bool          // enable unsolicited responses at connect
	Tags                             []DNP3Tag
}

// Config configures the station.
type Config struct {
	Source  netip.Addr // the station's own address
	Modbus  []ModbusDevice
	DNP3    []DNP3Device
	Timeout time.Duration // per request; <= 0: 2 s
	// OnUpdate receives every device's values after each poll or
	// unsolicited response. It must not block for long.
	OnUpdate func(Update)
	Logger   *slog.Logger
}

// Update is what one poll of one device brought.
type Update struct {
	Device string             `json:"device"`
	Time   time.Time          `json:"time"`
	Online bool               `json:"online"`
	Error  string             `json:"error,omitempty"`
	Values map[string]float64 `json:"values,omitempty"` // tag name → value (nil when offline)
}

// DeviceStatus is the communication state of one device.
type DeviceStatus struct {
	Name     string    `json:"name"`
	Protocol string    `json:"protocol"`
	Addr     string    `json:"addr"`
	Online   bool      `json:"online"`
	Error    string    `json:"error,omitempty"`
	LastPoll time.Time `json:"last_poll"`
	Polls    uint64    `json:"polls"`
	Failures uint64    `json:"failures"`
}

// ErrUnknownTag is returned for a command to a tag the station does not know.
var ErrUnknownTag = errors.New("scada: unknown tag")

// poller is one device's driver.
type poller interface {
	run(ctx context.Context) error
	command(ctx context.Context, tag string, v float64) error
	close()
}

// Station is a running operator station.
type Station struct {
	cfg     Config
	log     *slog.Logger
	pollers map[string]poller // by device name
	owner   map[string]string // tag → device

	mu        sync.Mutex
	values    map[string]float64
	status    map[string]*DeviceStatus
	suspended time.Time // the station is off (its host lost) until then
}

// Suspend takes the station off the network until the given time: it polls
// nothing, drops its connections and publishes nothing (ransomware on the
// HMI host, a crashed SCADA server).
func (s *Station) Suspend(until time.Time) {
	s.mu.Lock()
	s.suspended = until
	s.mu.Unlock()
}

// Suspended reports whether the station is off the network now.
func (s *Station) Suspended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Before(s.suspended)
}

// New checks cfg (device and tag names unique, addresses valid) and builds
// the drivers; Run starts polling.
func New(cfg Config) (*Station, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.OnUpdate == nil {
		cfg.OnUpdate = func(Update) {}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Station{
		cfg: cfg, log: log, pollers: map[string]poller{}, owner: map[string]string{},
		values: map[string]float64{}, status: map[string]*DeviceStatus{},
	}
	var errs []error
	add := func(name, proto string, addr netip.AddrPort, tags []string) bool {
		if name == "" {
			errs = append(errs, errors.New("scada: a device has no name"))
			return false
		}
		if _, dup := s.status[name]; dup {
			errs = append(errs, fmt.Errorf("scada: device %q defined twice", name))
			return false
		}
		if !addr.IsValid() {
			errs = append(errs, fmt.Errorf("scada: device %q: no address", name))
			return false
		}
		s.status[name] = &DeviceStatus{Name: name, Protocol: proto, Addr: addr.String()}
		for _, t := range tags {
			if d, dup := s.owner[t]; dup || t == "" {
				errs = append(errs, fmt.Errorf("scada: device %q: tag %q empty or already defined by %q", name, t, d))
				continue
			}
			s.owner[t] = name
		}
		return true
	}
	for _, d := range cfg.Modbus {
		names := make([]string, len(d.Tags))
		for i, t := range d.Tags {
			names[i] = t.Name
		}
		if add(d.Name, "modbus", d.Addr, names) {
			p, err := newModbusPoller(s, d)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s.pollers[d.Name] = p
		}
	}
	for _, d := range cfg.DNP3 {
		names := make([]string, len(d.Tags))
		for i, t := range d.Tags {
			names[i] = t.Name
		}
		if add(d.Name, "dnp3", d.Addr, names) {
			p, err := newDNP3Poller(s, d)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s.pollers[d.Name] = p
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Run polls every device until ctx is done.
func (s *Station) Run(ctx context.Context) error {
	g := group.New(ctx)
	for _, name := range slices.Sorted(maps.Keys(s.pollers)) {
		p := s.pollers[name]
		g.Go("scada "+name, func(ctx context.Context) error {
			defer p.close()
			return p.run(ctx)
		})
	}
	return g.Wait()
}

// Command sets a tag on its device (a Modbus write or a DNP3 control) from
// the station's address, as an operator does from the HMI.
func (s *Station) Command(ctx context.Context, tag string, v float64) error {
	dev, ok := s.owner[tag]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownTag, tag)
	}
	return s.pollers[dev].command(ctx, tag, v)
}

// Values returns the last known value of every tag.
func (s *Station) Values() map[string]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.values)
}

// Status returns every device's communication state, sorted by name.
func (s *Station) Status() []DeviceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]DeviceStatus, 0, len(s.status))
	for _, st := range s.status {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b DeviceStatus) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// publish records one poll's outcome and hands it to OnUpdate.
func (s *Station) publish(dev string, values map[string]float64, err error) {
	if s.Suspended() {
		return
	}
	now := time.Now()
	s.mu.Lock()
	st := s.status[dev]
	st.LastPoll = now
	st.Polls++
	was := st.Online
	if err != nil {
		st.Failures++
		st.Online, st.Error = false, err.Error()
	} else {
		st.Online, st.Error = true, ""
		maps.Copy(s.values, values)
	}
	s.mu.Unlock()
	if was != (err == nil) {
		s.log.Info("device reachability changed", "device", dev, "online", err == nil, "err", err)
	}
	u := Update{Device: dev, Time: now, Online: err == nil, Values: values}
	if err != nil {
		u.Error, u.Values = err.Error(), nil
	}
	s.cfg.OnUpdate(u)
}

func scale(s float64) float64 {
	if s == 0 {
		return 1
	}
	return s
}
