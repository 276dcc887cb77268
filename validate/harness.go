package validate

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

	"github.com/otrange/otrange/internal/app"
	"github.com/otrange/otrange/internal/rangenet"
	scenario "github.com/otrange/otrange/scenarios"
	"github.com/otrange/otrange/scenarios/runner"
	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/simulator"
	"github.com/otrange/otrange/simulator/control"
	"github.com/otrange/otrange/simulator/plantdef"
	"github.com/otrange/otrange/simulator/scada"
)

// Bounds of a dataset.
const (
	// MaxPackets bounds the frames of one capture; further ones are
	// counted in Run.Truncated.
	MaxPackets = 4 << 20
	// MaxStepFrames bounds the frames labelled per step.
	MaxStepFrames = 1 << 16
)

// Defaults of Config.
const (
	DefaultSpeed       = 1000
	DefaultPlantSpeed  = 100
	DefaultSubnet      = 120
	DefaultMinBenign   = 10 * time.Second
	DefaultSettle      = time.Second
	DefaultMaintenance = 3 * time.Second
	DefaultRunTimeout  = 2 * time.Minute
)

// Config configures Generate.
type Config struct {
	// Scenarios to run; nil: the whole library.
	Scenarios []*scenario.Scenario
	// Dir receives the captures and labels.json; required, created.
	Dir string
	// Speed is the scenario clock's speed (default 1000); PlantSpeed the
	// process's (default 100, at most 1000).
	Speed, PlantSpeed float64
	// Subnet is the second octet of the first run's addresses: run i (the
	// benign run last) moves the plant, the attacker and the IT hosts from
	// 127.A.x.y to 127.(Subnet+i).x.y, so runs side by side never mix on
	// the wire (default 120).
	Subnet int
	// Parallel is how many scenarios run at once (default 1). The benign
	// run goes alongside all of them.
	Parallel int
	// MinBenign is the shortest benign run (default 10s); it otherwise
	// lasts as long as the scenario runs together.
	MinBenign time.Duration
	// Settle is the benign traffic kept after a scenario's last step, where
	// late alerts and trailing packets land (default 1s).
	Settle time.Duration
	// Maintenance is the engineering workstation's maintenance interval,
	// so that its routine traffic is in every capture (default 3s).
	Maintenance time.Duration
	// Retries redoes a scenario whose capture lost packets of a step (the
	// kernel dropped them under load), up to this many times (default 1;
	// negative: never). The run with the fewest incomplete steps is kept.
	Retries int
	// Setup are range controls applied before a scenario starts, by
	// scenario id: its preconditions. Nil: DefaultSetup.
	Setup map[string][]control.Action
	// RunTimeout bounds one scenario run in wall time (default 2m).
	RunTimeout time.Duration
	// Progress, if set, is called as runs start and end.
	Progress func(Progress)
	Logger   *slog.Logger
}

// Progress reports the harness's state.
type Progress struct {
	Done, Total int    // scenario runs finished, to do
	Run         string // the run that started or ended
	Phase       string // "start", "retry", "done", "benign"
}

// DefaultSetup are the library's preconditions: the SIS is left in remote
// (TRITON's controllers had their key switch left in PROGRAM), as in the
// runner's library test.
func DefaultSetup() map[string][]control.Action {
	return map[string][]control.Action{
		"triton-sis": {{Kind: control.SetMode, Device: "sis", Mode: "remote"}},
	}
}

func (c *Config) defaults() error {
	if c.Dir == "" {
		return errors.New("validate: no output folder")
	}
	if c.Scenarios == nil {
		lib, err := scenario.Library()
		if err != nil {
			return err
		}
		c.Scenarios = lib
	}
	if len(c.Scenarios) == 0 {
		return errors.New("validate: no scenario to run")
	}
	if c.Speed == 0 {
		c.Speed = DefaultSpeed
	}
	if c.PlantSpeed == 0 {
		c.PlantSpeed = DefaultPlantSpeed
	}
	if c.Subnet == 0 {
		c.Subnet = DefaultSubnet
	}
	if c.Subnet < 1 || c.Subnet+len(c.Scenarios) > 255 {
		return fmt.Errorf("validate: subnets 127.%d..127.%d are not all in 127.1..127.255", c.Subnet, c.Subnet+len(c.Scenarios))
	}
	if c.Parallel <= 0 {
		c.Parallel = 1
	}
	if c.MinBenign <= 0 {
		c.MinBenign = DefaultMinBenign
	}
	if c.Settle <= 0 {
		c.Settle = DefaultSettle
	}
	if c.Maintenance <= 0 {
		c.Maintenance = DefaultMaintenance
	}
	if c.Retries == 0 {
		c.Retries = 1
	}
	if c.Setup == nil {
		c.Setup = DefaultSetup()
	}
	if c.RunTimeout <= 0 {
		c.RunTimeout = DefaultRunTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Progress == nil {
		c.Progress = func(Progress) {}
	}
	return nil
}

// Generate runs every scenario against a fresh plant of its own, with the
// plant's benign traffic, records each run's capture and labels it, and
// records one benign-only run as long as the scenario runs together. It
// writes the captures and labels (WriteLabels) in cfg.Dir and returns the
// dataset. It needs capture rights on lo (CAP_NET_RAW).
func Generate(ctx context.Context, cfg Config) (*Dataset, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	ds := &Dataset{Version: 1, Generator: "otrange validate", Created: time.Now().UTC(),
		Speed: cfg.Speed, PlantSpeed: cfg.PlantSpeed}
	n := len(cfg.Scenarios)

	// The benign run: its own plant and subnet, alongside the scenarios.
	benignCtx, stopBenign := context.WithCancel(ctx)
	defer stopBenign()
	type result struct {
		run Run
		err error
	}
	benignDone := make(chan result, 1)
	benignStarted := time.Now()
	go func() {
		r, err := runOne(benignCtx, &cfg, nil, cfg.Subnet+n, 1)
		benignDone <- result{r, err}
	}()
	cfg.Progress(Progress{Total: n, Run: "benign", Phase: "benign"})

	runs := make([]Run, n)
	errs := make([]error, n)
	sem := make(chan struct{}, cfg.Parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, sc := range cfg.Scenarios {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			errs[i] = ctx.Err()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			mu.Lock()
			d := done
			mu.Unlock()
			cfg.Progress(Progress{Done: d, Total: n, Run: sc.ID, Phase: "start"})
			runs[i], errs[i] = runScenario(ctx, &cfg, sc, cfg.Subnet+i)
			mu.Lock()
			done++
			d = done
			mu.Unlock()
			cfg.Progress(Progress{Done: d, Total: n, Run: sc.ID, Phase: "done"})
		}()
	}
	wg.Wait()
	if rest := cfg.MinBenign - time.Since(benignStarted); rest > 0 {
		t := time.NewTimer(rest)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	stopBenign()
	b := <-benignDone
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if b.err != nil {
		return nil, fmt.Errorf("benign run: %w", b.err)
	}
	ds.Runs = append(runs, b.run)
	if err := WriteLabels(cfg.Dir, ds); err != nil {
		return nil, err
	}
	return ds, nil
}

// runScenario runs sc, again while its capture is incomplete (up to
// cfg.Retries), and keeps the most complete run as <id>.pcap.
func runScenario(ctx context.Context, cfg *Config, sc *scenario.Scenario, subnet int) (Run, error) {
	var tries []Run
	for attempt := 1; ; attempt++ {
		r, err := runOne(ctx, cfg, sc, subnet, attempt)
		if err != nil {
			for _, t := range append(tries, r) {
				os.Remove(filepath.Join(cfg.Dir, t.Capture))
			}
			return r, fmt.Errorf("%s: %w", sc.ID, err)
		}
		tries = append(tries, r)
		if incomplete(&r) == 0 || attempt > cfg.Retries || ctx.Err() != nil {
			break
		}
		cfg.Logger.Info("the capture lost packets of a step; running the scenario again", "scenario", sc.ID,
			"incomplete", incomplete(&r), "kernel_drops", r.KernelDrops)
		cfg.Progress(Progress{Run: sc.ID, Phase: "retry"})
	}
	best := 0
	for i := range tries {
		if incomplete(&tries[i]) < incomplete(&tries[best]) {
			best = i
		}
	}
	for i, t := range tries {
		if i != best {
			os.Remove(filepath.Join(cfg.Dir, t.Capture))
		}
	}
	r := tries[best]
	if want := sc.ID + ".pcap"; r.Capture != want {
		if err := os.Rename(filepath.Join(cfg.Dir, r.Capture), filepath.Join(cfg.Dir, want)); err != nil {
			return r, err
		}
		r.Capture = want
	}
	return r, nil
}

// incomplete counts the network steps whose capture is not whole.
func incomplete(r *Run) int {
	n := 0
	for _, s := range r.Steps {
		if s.Network && !s.Complete {
			n++
		}
	}
	return n
}

// runOne runs one scenario (nil: benign traffic only, until ctx ends) on a
// fresh plant in 127.subnet.0.0/16 and labels its capture.
func runOne(ctx context.Context, cfg *Config, sc *scenario.Scenario, subnet, attempt int) (Run, error) {
	move := simulator.Subnet(byte(subnet))
	prefix := netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(subnet), 0, 0}), 16)
	run := Run{Subnet: prefix.String(), Attempt: attempt, Title: "Benign plant traffic only", Benign: sc == nil}
	name := "benign"
	if sc != nil {
		name, run.Scenario, run.Title = sc.ID, sc.ID, sc.Title
	}
	run.Capture = name + ".pcap"
	if attempt > 1 {
		run.Capture = fmt.Sprintf("%s.try%d.pcap", name, attempt)
	}
	log := cfg.Logger.With("run", name, "subnet", run.Subnet)

	def, err := simulator.LoadDef("")
	if err != nil {
		return run, err
	}
	def.Devices = slices.Clone(def.Devices)
	for i := range def.Devices {
		if def.Devices[i].Kind == plantdef.KindEWS {
			def.Devices[i].MaintenanceInterval = cfg.Maintenance
		}
	}
	ready := newReadiness(def)
	p, err := simulator.New(simulator.Config{Def: def, Relocate: move, Speed: cfg.PlantSpeed, OnHMI: ready.update,
		Logger: log.With("part", "plant")})
	if err != nil {
		return run, err
	}
	rec, err := startRecorder(filepath.Join(cfg.Dir, run.Capture), prefix, MaxPackets)
	if err != nil {
		return run, fmt.Errorf("capture on lo: %w", err)
	}
	run.Start = time.Now()
	pctx, stopPlant := context.WithCancel(context.WithoutCancel(ctx))
	plantDone := make(chan error, 1)
	go func() { plantDone <- p.Run(pctx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		stopPlant()
		return <-plantDone
	}
	defer stop()

	// Wait until the HMI has reached every field device: the benign
	// traffic is flowing.
	if !ready.wait(ctx, 10*time.Second) {
		log.Warn("the HMI did not reach every field device within 10s", "missing", ready.missing())
	}
	var steps []exercise.StepRecord
	if sc == nil {
		<-ctx.Done()
	} else {
		for _, a := range cfg.Setup[sc.ID] {
			if _, err := p.Do(ctx, a); err != nil {
				rec.stop(ctx, markerAddr(subnet))
				return run, fmt.Errorf("setup %s: %w", a, err)
			}
		}
		moved := Relocate(sc, move)
		run.Attacker = moved.SourceAddr().String()
		clk, err := runner.NewClock(cfg.Speed)
		if err != nil {
			rec.stop(ctx, markerAddr(subnet))
			return run, err
		}
		mem := &memRecorder{}
		guard := rangenet.New(func(context.Context, string, string) ([]netip.Addr, error) {
			return nil, errors.New("validate: no name resolution")
		})
		r, err := runner.New(runner.Config{Scenario: moved, Plant: p.Def(), Addr: p.Addr, Guard: guard, Control: p,
			Clock: clk, Recorder: mem, ProbeTimeout: 100 * time.Millisecond, Logger: log.With("part", "runner")})
		if err != nil {
			rec.stop(ctx, markerAddr(subnet))
			return run, err
		}
		rctx, cancel := context.WithTimeout(ctx, cfg.RunTimeout)
		err = r.Run(rctx)
		cancel()
		if err != nil {
			rec.stop(ctx, markerAddr(subnet))
			return run, fmt.Errorf("scenario run: %w", err)
		}
		steps = mem.records()
		t := time.NewTimer(cfg.Settle) // benign traffic after the last step, where late alerts land
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	drops, err := rec.stop(context.WithoutCancel(ctx), markerAddr(subnet))
	run.End = time.Now()
	if err != nil {
		return run, err
	}
	if err := stop(); err != nil {
		return run, fmt.Errorf("plant: %w", err)
	}
	run.Packets, run.KernelDrops, run.Truncated = rec.packets, drops, rec.truncated
	run.Plant = plantInfo(p)
	run.Policy = app.Policy(p)
	if err := label(cfg.Dir, &run, steps); err != nil {
		return run, err
	}
	log.Info("run recorded", "packets", run.Packets, "kernel_drops", drops, "steps", len(run.Steps),
		"incomplete", incomplete(&run), "wall", run.Duration())
	return run, nil
}

// markerAddr is the address the end-of-capture marker comes from.
func markerAddr(subnet int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, byte(subnet), 255, 253})
}

func plantInfo(p *simulator.Plant) PlantInfo {
	var info PlantInfo
	for _, d := range p.Def().Devices {
		dev := Device{Name: d.Name, Kind: string(d.Kind), Address: d.Address.String()}
		if ap, ok := p.Addr(d.Name); ok {
			dev.Endpoint = ap.String()
		}
		info.Devices = append(info.Devices, dev)
	}
	info.ModbusPorts, info.DNP3Ports = p.Ports()
	return info
}

// Relocate returns a copy of sc whose literal addresses (the attacker, step
// sources, targets and sweep prefixes) are moved by move, as the plant is.
func Relocate(sc *scenario.Scenario, move func(netip.Addr) netip.Addr) *scenario.Scenario {
	c := *sc
	c.Source = sc.SourceAddr().String()
	if a, err := netip.ParseAddr(c.Source); err == nil {
		c.Source = move(a).String()
	}
	c.Phases = slices.Clone(sc.Phases)
	for pi := range c.Phases {
		c.Phases[pi].Steps = slices.Clone(c.Phases[pi].Steps)
		for si := range c.Phases[pi].Steps {
			st := &c.Phases[pi].Steps[si]
			st.Source = moveLiteral(st.Source, move)
			st.Target = moveLiteral(st.Target, move)
		}
	}
	return &c
}

// moveLiteral moves an address, address:port or prefix; names are kept.
func moveLiteral(s string, move func(netip.Addr) netip.Addr) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return move(a).String()
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(move(ap.Addr()), ap.Port()).String()
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return netip.PrefixFrom(move(p.Addr()), p.Bits()).String()
	}
	return s
}

// memRecorder keeps the runner's ground truth.
type memRecorder struct {
	mu    sync.Mutex
	steps []exercise.StepRecord
}

func (m *memRecorder) RecordStep(_ context.Context, r exercise.StepRecord) error {
	m.mu.Lock()
	m.steps = append(m.steps, r)
	m.mu.Unlock()
	return nil
}

func (m *memRecorder) RecordInject(context.Context, exercise.InjectRecord) error { return nil }

func (m *memRecorder) records() []exercise.StepRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.steps)
}

// readiness tracks which field devices the HMI has reached.
type readiness struct {
	mu     sync.Mutex
	want   map[string]bool
	all    chan struct{}
	closed bool
}

func newReadiness(def *plantdef.Plant) *readiness {
	r := &readiness{want: map[string]bool{}, all: make(chan struct{})}
	for _, d := range def.Devices {
		if d.Kind.Field() {
			r.want[d.Name] = true
		}
	}
	return r
}

func (r *readiness) update(u scada.Update) {
	if !u.Online {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.want, u.Device)
	if len(r.want) == 0 && !r.closed {
		r.closed = true
		close(r.all)
	}
}

func (r *readiness) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.all:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

func (r *readiness) missing() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k := range r.want {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
