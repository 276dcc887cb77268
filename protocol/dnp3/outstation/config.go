package outstation

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
)

// Op says what a control request asks for.
type Op uint8

// Control operations.
const (
	OpSelect          Op = iota // check only: the operate may follow
	OpOperate                   // operate after a matching select
	OpDirectOperate             // operate without select
	OpDirectOperateNR           // operate without select and without response
)

// String names the operation.
func (o Op) String() string {
	return [...]string{"SELECT", "OPERATE", "DIRECT_OPERATE", "DIRECT_OPERATE_NR"}[o]
}

// Controls is implemented by the device model. On OpSelect it only checks
// that the control could be done; otherwise it acts. It returns the status
// the master sees (dnp3.StatusSuccess when accepted). It is called with no
// outstation lock held and must not block for long.
type Controls interface {
	OperateCROB(op Op, index uint16, c dnp3.CROB) dnp3.CommandStatus
	OperateAnalog(op Op, index uint16, a dnp3.AnalogOutput) dnp3.CommandStatus
}

// Lifecycle is optionally implemented by the Controls value to learn of
// restarts and application stop/start requests.
type Lifecycle interface {
	Restart(cold bool)
	ApplicationStopped(stopped bool)
}

// PointConfig configures one point: its event class (0 = static only, no
// events; 1-3) and, for analogs, the deadband an update must exceed to make
// an event.
type PointConfig struct {
	Class    uint8
	Deadband float64
}

// Points lists the points of each type; the index is the position. Each
// counter also has a frozen counter (g21) of the same index and class.
type Points struct {
	BinaryInputs  []PointConfig
	BinaryOutputs []PointConfig
	Counters      []PointConfig
	AnalogInputs  []PointConfig
	AnalogOutputs []PointConfig
}

// Config configures an Outstation. Zero fields take the defaults shown.
type Config struct {
	Address       uint16 // link address (default 10)
	MasterAddress uint16 // destination of unsolicited responses before a master speaks (default 1)
	Points        Points

	EventBufferSize int           // events kept, all classes (default 100); oldest dropped on overflow
	MaxFragment     int           // largest response fragment (default 2048)
	SelectTimeout   time.Duration // select-to-operate limit (default 5s)

	ColdRestartDelay time.Duration // time the device is away after COLD_RESTART (default 5s)
	WarmRestartDelay time.Duration // after WARM_RESTART (default 2s)

	Unsolicited          bool          // send unsolicited responses (null at start, events once enabled)
	UnsolConfirmTimeout  time.Duration // wait for a confirm (default 2s)
	UnsolRetries         int           // retries after the first try (default 3; -1 for none)
	UnsolOfflineInterval time.Duration // pause after retries run out (default 30s)

	NeedTimeInterval time.Duration // raise NEED_TIME again this long after a sync (0: only after restarts)

	MaxClients  int           // concurrent connections (default 4)
	IdleTimeout time.Duration // close a connection idle this long (default 5m)
	Allow       func(remote netip.Addr) bool
	Controls    Controls
	Logger      *slog.Logger
	Now         func() time.Time // clock (default time.Now); tests move it
}

// withDefaults returns c with defaults applied.
func (c Config) withDefaults() Config {
	setDur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Address == 0 {
		c.Address = 10
	}
	if c.MasterAddress == 0 {
		c.MasterAddress = 1
	}
	if c.EventBufferSize == 0 {
		c.EventBufferSize = 100
	}
	if c.MaxFragment == 0 {
		c.MaxFragment = dnp3.DefaultMaxFragment
	}
	setDur(&c.SelectTimeout, 5*time.Second)
	setDur(&c.ColdRestartDelay, 5*time.Second)
	setDur(&c.WarmRestartDelay, 2*time.Second)
	setDur(&c.UnsolConfirmTimeout, 2*time.Second)
	setDur(&c.UnsolOfflineInterval, 30*time.Second)
	setDur(&c.IdleTimeout, 5*time.Minute)
	if c.UnsolRetries == 0 {
		c.UnsolRetries = 3
	}
	if c.MaxClients == 0 {
		c.MaxClients = 4
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// validate checks limits after defaults.
func (c Config) validate() error {
	var errs []error
	if dnp3.IsBroadcast(c.Address) || c.Address >= 0xFFF0 {
		errs = append(errs, fmt.Errorf("address %#04x is reserved", c.Address))
	}
	if c.EventBufferSize < 1 || c.EventBufferSize > 100000 {
		errs = append(errs, fmt.Errorf("event buffer size %d out of 1..100000", c.EventBufferSize))
	}
	if c.MaxFragment < 249 || c.MaxFragment > dnp3.MaxFragmentLimit {
		errs = append(errs, fmt.Errorf("max fragment %d out of 249..%d", c.MaxFragment, dnp3.MaxFragmentLimit))
	}
	if c.MaxClients < 1 {
		errs = append(errs, fmt.Errorf("max clients %d < 1", c.MaxClients))
	}
	for t, pts := range c.Points.all() {
		if PointType(t) == FrozenCounter { // the counters' own list, checked once
			continue
		}
		if len(pts) > 65536 {
			errs = append(errs, fmt.Errorf("%v: %d points, at most 65536", PointType(t), len(pts)))
		}
		for i, p := range pts {
			if p.Class > 3 {
				errs = append(errs, fmt.Errorf("%v %d: class %d out of 0..3", PointType(t), i, p.Class))
			}
		}
	}
	if n := class0Size(c.Points); n > c.MaxFragment {
		errs = append(errs, fmt.Errorf("a class 0 response needs %d octets, more than max fragment %d", n, c.MaxFragment))
	}
	return errors.Join(errs...)
}

// all returns the point lists indexed by PointType; frozen counters share
// the counters' list.
func (p Points) all() [numTypes][]PointConfig {
	return [numTypes][]PointConfig{p.BinaryInputs, p.BinaryOutputs, p.Counters, p.Counters, p.AnalogInputs, p.AnalogOutputs}
}

// class0Size returns the size of a class 0 response with all points.
func class0Size(p Points) int {
	n := 4
	for t, pts := range p.all() {
		if len(pts) == 0 {
			continue
		}
		g := staticGV[t]
		size, _, _ := dnp3.ObjectSize(g[0], g[1])
		n += 7 + size*len(pts)
	}
	return n
}
