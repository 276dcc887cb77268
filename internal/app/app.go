// Package app assembles the whole range in one process: the plant, the sensor
// capturing on loopback, and the exercise server with its UI. It is what
// `otrange run` starts; every part also runs alone from its own package.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/otrange/otrange/internal/group"
	scenario "github.com/otrange/otrange/scenarios"
	"github.com/otrange/otrange/sensor"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/assets"
	"github.com/otrange/otrange/sensor/baseline"
	"github.com/otrange/otrange/sensor/capture"
	"github.com/otrange/otrange/sensor/rules"
	"github.com/otrange/otrange/server"
	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/server/store"
	"github.com/otrange/otrange/simulator"
	"github.com/otrange/otrange/simulator/plantdef"
	"github.com/otrange/otrange/simulator/scada"
)

// Config configures the range.
type Config struct {
	DataDir     string // holds otrange.db and the historian
	HTTPAddr    string // listen address of the UI and API
	Plant       simulator.Config
	PlantFile   string // a plant definition; "" is the embedded default
	Sensor      bool   // capture on SensorIface
	SensorIface string // "lo" for the range itself
	// SensorFilter is a capture filter (sensor/capture syntax), e.g. the
	// range's own hosts when other traffic shares lo.
	SensorFilter string
	// BaselineLearn is how long the sensor learns the plant's normal
	// traffic before it reports deviations; 0 turns the baseline off.
	BaselineLearn time.Duration
	Logger        *slog.Logger
}

// DefaultConfig is `otrange run` with no flags.
func DefaultConfig() Config {
	return Config{DataDir: "data", HTTPAddr: "127.0.0.1:8080", Sensor: true, SensorIface: "lo", BaselineLearn: time.Hour}
}

// Info tells where the running range can be reached.
type Info struct {
	URL    string
	Plant  *simulator.Plant
	DBPath string
	Sensor server.SensorStatus
}

// Run starts the range and blocks until ctx is cancelled or a part fails.
// ready, if not nil, is called once everything listens.
func Run(ctx context.Context, cfg Config, ready func(Info)) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	pcfg := cfg.Plant
	if pcfg.Def == nil {
		def, err := simulator.LoadDef(cfg.PlantFile)
		if err != nil {
			return err
		}
		pcfg.Def = def
	}
	pcfg.DataDir = cfg.DataDir
	pcfg.Logger = log.With("component", "plant")
	dbPath := filepath.Join(cfg.DataDir, "otrange.db")
	st, err := store.Open(dbPath)
	if err != nil {
		return err
	}
	defer st.Close()

	// The plant and the server refer to each other: the plant's events go to
	// the server, the server's actions to the plant.
	var srv *server.Server
	pcfg.OnEvent = func(e simulator.Event) {
		if srv != nil {
			plantEvent(srv, e)
		}
	}
	plant, err := simulator.New(pcfg)
	if err != nil {
		return err
	}
	var inv *assets.Inventory // set once the sensor starts
	srv, err = server.New(server.Options{Store: st, Range: plant, Plant: plantView{plant}, Scenarios: plant,
		Assets: func() any {
			if inv == nil {
				return []assets.Asset{}
			}
			return inv.Snapshot()
		},
		Objectives: objectives, Logger: log.With("component", "server")})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	defer ln.Close()

	sens, src, inventory, status := startSensor(cfg, plant, srv, log)
	inv = inventory
	srv.SetSensorStatus(status)

	g := group.New(ctx)
	g.Go("server", func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	g.Go("plant", plant.Run)
	g.Go("hmi view", func(ctx context.Context) error { return publishView(ctx, plant, srv) })
	if sens != nil {
		g.Go("sensor", func(ctx context.Context) error { return sens.Run(ctx, src) })
	}
	info := Info{URL: "http://" + ln.Addr().String() + "/", Plant: plant, DBPath: dbPath, Sensor: status}
	log.Info("range running", "url", info.URL, "plant", plant.Def().Meta.Name, "db", dbPath, "sensor", status.Running)
	if ready != nil {
		ready(info)
	}
	return g.Wait()
}

// publishView pushes the plant's live picture to the browsers once a second.
func publishView(ctx context.Context, plant *simulator.Plant, srv *server.Server) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		srv.PublishHMI(plant.View())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// plantEvent logs a plant alarm or consequence in the running exercises.
func plantEvent(srv *server.Server, e simulator.Event) {
	if e.Kind == "alarm" {
		srv.PlantEvent(exercise.KindPlantAlarm, e)
		return
	}
	srv.PlantEvent(exercise.KindConsequence, exercise.ConsequenceRecord{Condition: e.Name, Device: e.Device, Detail: e.Detail, Active: e.Active})
}

// objectives are the exercise objectives of a library scenario, derived
// from what it exercises.
func objectives(id string) []string {
	s, err := scenario.Get(id)
	if err != nil {
		return nil
	}
	ids := make([]string, len(s.Techniques))
	for i, t := range s.Techniques {
		ids[i] = t.ID
	}
	return []string{
		fmt.Sprintf("Detect the techniques of %q (%s) within minutes of their first use.", s.Title, strings.Join(ids, ", ")),
		"Contain the attacker without losing control or safety of the process.",
		"Coordinate IT and OT responders through one incident commander and log every decision.",
	}
}

// Policy is what the plant's owner allows, for the sensor, derived from the
// plant definition: the HMI and the engineering workstation are the masters;
// they may write the registers bound to writable variables, setpoints only
// within their declared limits; the workstation's routine (reads,
// identification, writing a setpoint back) is declared per device.
func Policy(plant *simulator.Plant) *rules.Policy {
	p := &rules.Policy{}
	def := plant.Def()
	var masters []plantdef.Device
	for _, d := range def.Devices {
		if d.Kind == plantdef.KindHMI || d.Kind == plantdef.KindEWS {
			p.Masters = append(p.Masters, netip.PrefixFrom(d.Address, 32))
			masters = append(masters, d)
		}
	}
	for _, m := range masters {
		for _, d := range def.Devices {
			if d.Modbus == nil {
				continue
			}
			pair := rules.Pair{Master: netip.PrefixFrom(m.Address, 32), Device: netip.PrefixFrom(d.Address, 32), Protocol: "modbus",
				Writable: writable(d.Registers, true)}
			if m.Kind == plantdef.KindEWS {
				// Its routine writes setpoints back, never the mode.
				pair.Functions = []uint8{3, 6, 43}
				pair.Writable = writable(d.Registers, false)
			}
			p.Pairs = append(p.Pairs, pair)
		}
	}
	return p
}

// writable lists the writable registers and coils of a register map, with
// the setpoints' limits as raw values; the mode register only if mode.
func writable(regs []plantdef.Register, mode bool) []rules.Writable {
	var out []rules.Writable
	for _, r := range regs {
		if !r.Table.Writable() || r.ReadOnly || r.Var == "" || (r.Var == "mode" && !mode) {
			continue
		}
		w := rules.Writable{Coils: r.Table == plantdef.Coil, From: uint16(r.Address), To: uint16(r.Address + max(r.Words, 1) - 1)}
		if len(r.Limits) == 2 {
			scale := r.Scale
			if scale == 0 {
				scale = 1
			}
			w.Min, w.Max, w.HasMin, w.HasMax = int(math.Round(r.Limits[0]*scale)), int(math.Round(r.Limits[1]*scale)), true, true
		}
		out = append(out, w)
	}
	return out
}

// plantView adapts the plant to the server's Plant interface.
type plantView struct{ p *simulator.Plant }

func (v plantView) View() any { return v.p.View() }

func (v plantView) Command(ctx context.Context, tag string, value float64) error {
	err := v.p.Command(ctx, tag, value)
	if errors.Is(err, scada.ErrUnknownTag) {
		return fmt.Errorf("%w: %s", server.ErrUnknownTag, tag)
	}
	return err
}

func (v plantView) Trend(ctx context.Context, tag string, from, to time.Time, step time.Duration) (any, error) {
	pts, err := v.p.Trend(ctx, tag, from, to, step)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", server.ErrUnknownTag, err)
	}
	return pts, nil
}

// startSensor opens the live capture; without rights the range runs on and
// the status says why the sensor is off. The sensor keeps an asset inventory
// and, after its learning period, reports deviations from the baseline.
func startSensor(cfg Config, plant *simulator.Plant, srv *server.Server, log *slog.Logger) (*sensor.Sensor, capture.Source, *assets.Inventory, server.SensorStatus) {
	if !cfg.Sensor {
		return nil, nil, nil, server.SensorStatus{Reason: "disabled by configuration"}
	}
	src, err := capture.OpenInterfaces([]string{cfg.SensorIface}, capture.LiveOptions{Filter: cfg.SensorFilter})
	if err != nil {
		log.Warn("sensor is off", "err", err)
		return nil, nil, nil, server.SensorStatus{Reason: err.Error()}
	}
	fail := func(err error) (*sensor.Sensor, capture.Source, *assets.Inventory, server.SensorStatus) {
		src.Close()
		return nil, nil, nil, server.SensorStatus{Reason: err.Error()}
	}
	const name = "otrange-lo"
	// The inventory's and the baseline's alerts go through the sensor's sink
	// (counted by rule), which exists once the sensor does.
	var sens *sensor.Sensor
	fwd := alert.SinkFunc(func(a alert.Alert) { sens.Sink().Emit(a) })
	inv, err := assets.New(assets.Options{Sensor: name, Sink: fwd, QuietPeriod: 2 * time.Minute, Logger: log.With("component", "assets")})
	if err != nil {
		return fail(err)
	}
	var bl *baseline.Baseline
	if cfg.BaselineLearn > 0 {
		if bl, err = baseline.New(baseline.Options{Sensor: name, Sink: fwd, LearnFor: cfg.BaselineLearn}); err != nil {
			return fail(err)
		}
	}
	observe := sensor.ObserverFunc(func(r *analyze.Record, l sensor.Link) {
		inv.Observe(r, l.SrcMAC, l.DstMAC)
		if bl != nil {
			bl.Observe(r)
		}
	})
	modbusPorts, dnp3Ports := plant.Ports()
	sens, err = sensor.New(sensor.Config{
		Name:        name,
		ModbusPorts: modbusPorts,
		DNP3Ports:   dnp3Ports,
		Policy:      Policy(plant),
		Observers:   []sensor.Observer{observe},
		Sink:        srv,
		Logger:      log.With("component", "sensor"),
	})
	if err != nil {
		return fail(err)
	}
	return sens, src, inv, server.SensorStatus{Running: true, Source: "live:" + cfg.SensorIface}
}
