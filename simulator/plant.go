// Package simulator is the virtual plant: a drinking-water process with
// physics (simulator/water) stepped on a fixed tick, its PLC programs and
// safety system (simulator/logic) served as real Modbus/TCP servers and a
// DNP3 outstation, each on its own loopback address, the HMI polling them
// (simulator/scada), the engineering workstation's maintenance traffic
// (simulator/ews), the historian (simulator/historian) and the range
// controls (block a host, change a mode, restore, restart, faults, reset).
// A plant definition (simulator/plantdef) says which devices exist where.
package simulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/otrange/otrange/internal/group"
	"github.com/otrange/otrange/internal/rangenet"
	"github.com/otrange/otrange/protocol/dnp3/outstation"
	"github.com/otrange/otrange/simulator/ews"
	"github.com/otrange/otrange/simulator/firewall"
	"github.com/otrange/otrange/simulator/historian"
	"github.com/otrange/otrange/simulator/logic"
	"github.com/otrange/otrange/simulator/plantdef"
	"github.com/otrange/otrange/simulator/scada"
	"github.com/otrange/otrange/simulator/station"
	"github.com/otrange/otrange/simulator/water"
)

// Addresses of the default plant's masters (the sensor's authorized masters
// when it watches the default plant from outside).
var (
	DefaultHMIAddr = netip.MustParseAddr("127.10.2.10")
	DefaultEWSAddr = netip.MustParseAddr("127.10.2.20")
)

// Config configures a plant.
type Config struct {
	// Def is the plant definition; nil means the embedded default.
	Def *plantdef.Plant
	// EphemeralPorts binds every device to a free port (tests run several
	// plants at once); Addr tells where each one listens.
	EphemeralPorts bool
	// Speed is simulated process seconds per wall second (default 1): an
	// accelerated exercise runs the physics faster, the network as it is.
	Speed float64
	// Relocate, if set, moves every device's address (tests run several
	// plants at once on addresses of their own; see Subnet).
	Relocate func(netip.Addr) netip.Addr
	// Process, if set, replaces the definition's process section (a scaled
	// plant for benchmarks).
	Process *water.Config
	// DataDir holds the historian's database; "" keeps no historian.
	DataDir string
	// OnEvent receives alarms and consequences as they begin and end.
	OnEvent func(Event)
	// OnHMI receives the HMI's view after each poll.
	OnHMI  func(scada.Update)
	Logger *slog.Logger
}

// Event is a plant alarm or consequence beginning (Active) or ending.
type Event struct {
	Kind   string    `json:"kind"` // "alarm" or "consequence"
	Device string    `json:"device,omitempty"`
	Name   string    `json:"name"`
	Active bool      `json:"active"`
	Detail string    `json:"detail,omitempty"`
	Time   time.Time `json:"time"`
}

// Plant is a running plant.
type Plant struct {
	cfg   Config
	def   *plantdef.Plant
	log   *slog.Logger
	guard *rangenet.Guard
	fw    *firewall.Firewall

	mu     sync.Mutex // guards water, the programs and the banks' writes
	water  *water.Plant
	fields []*field
	byName map[string]*field

	scada    *scada.Station
	ews      *ews.Workstation
	hist     *historian.Historian
	histTags []water.TagID
	tick     time.Duration
	steps    int // process steps per tick (Speed)
	boosters int

	states    eventState
	hostDowns hostDowns
	jitter    jitter
}

// jitter keeps the last tick intervals' deviations from the tick.
type jitter struct {
	mu   sync.Mutex
	ring [4096]time.Duration
	n    int
}

func (j *jitter) add(d time.Duration) {
	if d < 0 {
		d = -d
	}
	j.mu.Lock()
	j.ring[j.n%len(j.ring)] = d
	j.n++
	j.mu.Unlock()
}

// TickJitter returns the median, 99th percentile and largest deviation of
// the process tick's interval from its nominal value, over the last ticks.
func (p *Plant) TickJitter() (p50, p99, worst time.Duration) {
	p.jitter.mu.Lock()
	n := min(p.jitter.n, len(p.jitter.ring))
	d := slices.Clone(p.jitter.ring[:n])
	p.jitter.mu.Unlock()
	if n == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	return d[n/2], d[min(n-1, n*99/100)], d[n-1]
}

// hostDowns marks hosts without a server of their own (EWS, historian) as
// off the network until a time.
type hostDowns struct {
	mu    sync.Mutex
	until map[plantdef.Kind]time.Time
}

func (h *hostDowns) set(k plantdef.Kind, until time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.until == nil {
		h.until = map[plantdef.Kind]time.Time{}
	}
	h.until[k] = until
}

func (h *hostDowns) down(k plantdef.Kind) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Now().Before(h.until[k])
}

// hostDown reports whether the HMI, EWS or historian is off the network.
func (p *Plant) hostDown(k plantdef.Kind) bool {
	if k == plantdef.KindHMI {
		return p.scada != nil && p.scada.Suspended()
	}
	return p.hostDowns.down(k)
}

// LoadDef reads a plant definition from a file, checked against the real
// process model and programs; "" loads the embedded default.
func LoadDef(path string) (*plantdef.Plant, error) {
	var data []byte
	name := "default.yaml"
	if path == "" {
		data = plantdef.DefaultYAML()
	} else {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		data, name = b, path
	}
	guard := rangenet.New(nil).CheckAddr
	// First pass: structure, and the process section, which decides which
	// tags exist (pumps, filters, stations); then the full check.
	pre, err := plantdef.Parse(name, data, nil, guard)
	if err != nil {
		return nil, err
	}
	wcfg, err := processConfig(pre)
	if err != nil {
		return nil, err
	}
	cat, err := Catalog(wcfg)
	if err != nil {
		return nil, err
	}
	return plantdef.Parse(name, data, cat, guard)
}

func processConfig(def *plantdef.Plant) (water.Config, error) {
	cfg := water.DefaultConfig()
	cfg.Seed = uint64(def.Meta.Seed)
	if err := def.DecodeProcess(&cfg); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%s: process: %w", def.File, err)
	}
	return cfg, nil
}

// New builds the plant and binds every device's address, so that a busy or
// forbidden port fails here rather than later.
func New(cfg Config) (*Plant, error) {
	if cfg.Def == nil {
		def, err := LoadDef("")
		if err != nil {
			return nil, fmt.Errorf("plant: embedded default: %w", err)
		}
		cfg.Def = def
	}
	if cfg.Speed == 0 {
		cfg.Speed = 1
	}
	if cfg.Speed < 0.1 || cfg.Speed > 1000 {
		return nil, fmt.Errorf("plant: speed %g out of 0.1..1000", cfg.Speed)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.OnEvent == nil {
		cfg.OnEvent = func(Event) {}
	}
	def := cfg.Def
	if cfg.Relocate != nil {
		moved := *def
		moved.Devices = slices.Clone(def.Devices)
		for i := range moved.Devices {
			moved.Devices[i].Address = cfg.Relocate(moved.Devices[i].Address)
		}
		def = &moved
	}
	p := &Plant{cfg: cfg, def: def, log: log, guard: rangenet.New(nil), byName: map[string]*field{}}
	p.fw = firewall.New(func(d string) bool { _, ok := def.Device(d); return ok }, nil)
	for _, d := range def.Devices {
		if err := p.guard.CheckAddr(d.Address); err != nil {
			return nil, fmt.Errorf("plant: device %s: %w", d.Name, err)
		}
	}
	wcfg, err := processConfig(def)
	if err != nil {
		return nil, err
	}
	if cfg.Process != nil {
		wcfg = *cfg.Process
	}
	if p.water, err = water.New(wcfg); err != nil {
		return nil, err
	}
	// A fixed process step: Speed > 1 takes several per tick.
	p.tick = def.Meta.Tick
	p.steps = max(1, int(cfg.Speed+0.5))
	if cfg.Speed < 1 {
		p.tick = time.Duration(float64(p.tick) / cfg.Speed)
	}
	ok := false
	defer func() {
		if !ok {
			p.closeStations()
		}
	}()
	for i := range def.Devices {
		d := &def.Devices[i]
		if !d.Kind.Field() {
			continue
		}
		if err := p.addField(d); err != nil {
			return nil, fmt.Errorf("plant: %w", err)
		}
	}
	if err := p.buildSCADA(); err != nil {
		return nil, err
	}
	if err := p.buildEWS(); err != nil {
		return nil, err
	}
	if err := p.buildHistorian(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	for _, f := range p.fields {
		f.publish()
	}
	p.mu.Unlock()
	ok = true
	return p, nil
}

func (p *Plant) closeStations() {
	for _, f := range p.fields {
		if f.station != nil {
			f.station.Close()
		}
	}
	if p.hist != nil {
		p.hist.Close()
	}
}

func (p *Plant) addField(d *plantdef.Device) error {
	opts := logic.Options{Name: d.Name, Defaults: map[string]float64{}}
	for k, v := range d.Parameters {
		opts.Defaults[k] = float64(v)
	}
	if d.Program == "booster" {
		p.boosters++ // each booster RTU runs its own station, in file order
		opts.Unit = p.boosters
	}
	if d.Mode != "" {
		m, err := logic.ParseMode(string(d.Mode))
		if err != nil {
			return err
		}
		opts.Mode = m
	}
	prog, err := logic.New(d.Program, p.water, opts)
	if err != nil {
		return err
	}
	f := &field{p: p, def: d, prog: prog, knownSum: prog.Checksum()}
	var serve station.ServeFunc
	port, fallback := 0, 0
	switch {
	case d.Modbus != nil:
		if err := f.buildModbus(); err != nil {
			return err
		}
		serve = f.srv.Serve
		port, fallback = d.Modbus.Port, d.Modbus.FallbackPort
	case d.DNP3 != nil:
		if err := f.buildDNP3(); err != nil {
			return err
		}
		serve = f.out.Serve
		port, fallback = d.DNP3.Port, d.DNP3.FallbackPort
	default:
		return fmt.Errorf("%s: a field device needs a modbus or dnp3 section", d.Name)
	}
	if p.cfg.EphemeralPorts {
		port, fallback = 0, 0
	}
	f.station, err = station.New(station.Config{Name: d.Name, Addr: d.Address, Port: port, FallbackPort: fallback,
		Serve: serve, Logger: p.log})
	if err != nil {
		return err
	}
	p.fields = append(p.fields, f)
	p.byName[d.Name] = f
	return nil
}

// Subnet returns a Relocate function that moves the plant from 127.10.x.y
// to 127.N.x.y (and any other 127.A.x.y to 127.N.x.y), so tests can run
// plants side by side, each on hosts of its own.
func Subnet(n byte) func(netip.Addr) netip.Addr {
	return func(a netip.Addr) netip.Addr {
		b := a.As4()
		b[1] = n
		return netip.AddrFrom4(b)
	}
}

// Def returns the plant definition.
func (p *Plant) Def() *plantdef.Plant { return p.def }

// Addr returns where a field device listens.
func (p *Plant) Addr(device string) (netip.AddrPort, bool) {
	f, ok := p.byName[device]
	if !ok {
		return netip.AddrPort{}, false
	}
	return f.station.AddrPort(), true
}

// Firewall is the range's firewall.
func (p *Plant) Firewall() *firewall.Firewall { return p.fw }

// hostOf returns the address of a device of the given kind (the first one).
func (p *Plant) hostOf(kind plantdef.Kind) (*plantdef.Device, bool) {
	for i := range p.def.Devices {
		if p.def.Devices[i].Kind == kind {
			return &p.def.Devices[i], true
		}
	}
	return nil, false
}

// Masters returns the addresses of the plant's legitimate masters (HMI and
// engineering workstation): the sensor's policy.
func (p *Plant) Masters() []netip.Addr {
	var out []netip.Addr
	for _, d := range p.def.Devices {
		if d.Kind == plantdef.KindHMI || d.Kind == plantdef.KindEWS {
			out = append(out, d.Address)
		}
	}
	return out
}

// Ports returns the Modbus and DNP3 ports the field devices listen on.
func (p *Plant) Ports() (modbusPorts, dnp3Ports []uint16) {
	for _, f := range p.fields {
		port := f.station.AddrPort().Port()
		if f.def.Modbus != nil && !slices.Contains(modbusPorts, port) {
			modbusPorts = append(modbusPorts, port)
		}
		if f.def.DNP3 != nil && !slices.Contains(dnp3Ports, port) {
			dnp3Ports = append(dnp3Ports, port)
		}
	}
	return modbusPorts, dnp3Ports
}

func (p *Plant) buildSCADA() error {
	h, ok := p.hostOf(plantdef.KindHMI)
	if !ok {
		return nil
	}
	cfg := scada.Config{Source: h.Address, Logger: p.log.With("device", h.Name), OnUpdate: p.onHMI}
	for _, name := range h.Polls {
		f, ok := p.byName[name]
		if !ok {
			continue
		}
		if f.def.Modbus != nil {
			dev := scada.ModbusDevice{Name: name, Addr: f.station.AddrPort(), Unit: uint8(f.def.Modbus.Unit), Interval: h.PollInterval}
			for _, r := range f.regs {
				dev.Tags = append(dev.Tags, scada.ModbusTag{Name: name + ":" + r.src.name, Table: scadaTable[r.table],
					Address: r.addr, Scale: r.scale, Signed: r.signed, Words: r.words})
			}
			cfg.Modbus = append(cfg.Modbus, dev)
		} else {
			dev := scada.DNP3Device{Name: name, Addr: f.station.AddrPort(), Link: uint16(f.def.DNP3.Address),
				Master: uint16(f.def.DNP3.Master), IntegrityInterval: h.IntegrityInterval, EventInterval: h.EventInterval,
				Unsolicited: f.def.DNP3.Unsolicited}
			for _, b := range f.pts {
				dev.Tags = append(dev.Tags, scada.DNP3Tag{Name: name + ":" + b.src.name, Type: scadaPoint[b.ptype], Index: uint16(b.index), Scale: b.scale})
			}
			cfg.DNP3 = append(cfg.DNP3, dev)
		}
	}
	var err error
	p.scada, err = scada.New(cfg)
	return err
}

var scadaTable = map[plantdef.Table]scada.Table{
	plantdef.Coil: scada.Coil, plantdef.Discrete: scada.Discrete, plantdef.Input: scada.Input, plantdef.Holding: scada.Holding,
}

var scadaPoint = map[outstation.PointType]scada.PointType{
	outstation.BinaryInput: scada.BinaryInput, outstation.BinaryOutput: scada.BinaryOutput, outstation.Counter: scada.Counter,
	outstation.AnalogInput: scada.AnalogInput, outstation.AnalogOutput: scada.AnalogOutput,
}

func (p *Plant) buildEWS() error {
	e, ok := p.hostOf(plantdef.KindEWS)
	if !ok {
		return nil
	}
	cfg := ews.Config{Source: e.Address, Interval: e.MaintenanceInterval, WriteEvery: 3, Logger: p.log.With("device", e.Name),
		Paused: func() bool { return p.hostDowns.down(plantdef.KindEWS) }}
	for _, name := range e.Targets {
		f, ok := p.byName[name]
		if !ok || f.def.Modbus == nil {
			continue
		}
		t := ews.Target{Name: name, Addr: f.station.AddrPort(), Unit: uint8(f.def.Modbus.Unit)}
		// Read the holding registers; write back the first operator
		// setpoint (never the mode).
		for _, r := range f.regs {
			if r.table != plantdef.Holding {
				continue
			}
			t.Registers = max(t.Registers, min(uint16(int(r.addr)+r.words), 125))
			if !t.Write && r.writable && r.src.name != "mode" && r.words == 1 && f.varInfo(r.src.v).Access == logic.Operator {
				t.Write, t.WriteRegister = true, r.addr
			}
		}
		if t.Registers > 0 {
			cfg.Targets = append(cfg.Targets, t)
		}
	}
	var err error
	p.ews, err = ews.New(cfg)
	return err
}

func (p *Plant) buildHistorian() error {
	h, ok := p.hostOf(plantdef.KindHistorian)
	if !ok || p.cfg.DataDir == "" {
		return nil
	}
	for _, tag := range h.Tags {
		id, ok := p.water.Lookup(tag)
		if !ok {
			return fmt.Errorf("plant: historian: no tag %q", tag)
		}
		p.histTags = append(p.histTags, id)
	}
	if err := os.MkdirAll(p.cfg.DataDir, 0o755); err != nil {
		return err
	}
	var err error
	p.hist, err = historian.Open(filepath.Join(p.cfg.DataDir, "historian.db"), historian.Options{
		Interval: h.Interval, Retention: h.Retention, Logger: p.log.With("device", h.Name)})
	return err
}

// Run runs the process and every device until ctx is done.
func (p *Plant) Run(ctx context.Context) error {
	defer func() {
		if p.hist != nil {
			p.hist.Close()
		}
	}()
	g := group.New(ctx)
	g.Go("process", p.runProcess)
	for _, f := range p.fields {
		g.Go(f.def.Name, f.station.Run)
	}
	if p.scada != nil {
		g.Go("hmi", p.scada.Run)
	}
	if p.ews != nil {
		g.Go("ews", p.ews.Run)
	}
	if p.hist != nil {
		g.Go("historian", func(ctx context.Context) error { return p.hist.Run(ctx, p.sample) })
	}
	return g.Wait()
}

// runProcess steps the process and scans the programs on the plant's tick.
func (p *Plant) runProcess(ctx context.Context) error {
	t := time.NewTicker(p.tick)
	defer t.Stop()
	step := p.def.Meta.Tick
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			now := time.Now() // when the process goroutine really runs
			p.jitter.add(now.Sub(last) - p.tick)
			last = now
		}
		p.mu.Lock()
		for range p.steps {
			for _, f := range p.fields {
				if !f.down.Load() {
					f.prog.Scan(step)
				}
			}
			p.water.Step(step)
		}
		for _, f := range p.fields {
			f.publish()
		}
		evs := p.states.update(p)
		p.mu.Unlock()
		for _, ev := range evs {
			p.cfg.OnEvent(ev)
		}
	}
}

// sample reads the historian's tags.
func (p *Plant) sample() []historian.Sample {
	if p.hostDowns.down(plantdef.KindHistorian) {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]historian.Sample, len(p.histTags))
	for i, id := range p.histTags {
		info, _ := p.water.Info(id)
		out[i] = historian.Sample{Tag: info.Name, Value: p.water.Get(id)}
	}
	p.mu.Unlock()
	// What the operators saw, as the SCADA server fed it to the historian.
	if p.scada != nil && !p.scada.Suspended() {
		for k, v := range p.scada.Values() {
			out = append(out, historian.Sample{Tag: k, Value: v})
		}
	}
	p.mu.Lock()
	return out
}

// Trend returns a historian trend: of a process tag ("raw.level"), or of
// a value as the HMI polled it ("plc-intake:level"), since the historian
// records both.
func (p *Plant) Trend(ctx context.Context, tag string, from, to time.Time, step time.Duration) ([]historian.Point, error) {
	if p.hist == nil {
		return nil, errors.New("plant: no historian")
	}
	return p.hist.Query(ctx, tag, from, to, step)
}

// Read returns the true value of a device's program variable or a process
// tag ("" device), bypassing the network.
func (p *Plant) Read(device, name string) (float64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if device == "" {
		return p.water.Read(name)
	}
	f, ok := p.byName[device]
	if !ok {
		return 0, false
	}
	return f.prog.Read(name)
}

// Consequences reports what the process has suffered.
func (p *Plant) Consequences() water.Consequences {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.water.Consequences()
}

// Command sends an operator command from the HMI: key is "device:name".
func (p *Plant) Command(ctx context.Context, key string, v float64) error {
	if p.scada == nil || p.scada.Suspended() {
		return errors.New("plant: the HMI is not running")
	}
	return p.scada.Command(ctx, key, v)
}

func (p *Plant) onHMI(u scada.Update) {
	if p.cfg.OnHMI != nil {
		p.cfg.OnHMI(u)
	}
}
