package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/otrange/otrange/sensor"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/assets"
	"github.com/otrange/otrange/sensor/baseline"
	"github.com/otrange/otrange/sensor/capture"
	"github.com/otrange/otrange/sensor/metrics"
	"github.com/otrange/otrange/sensor/output"
	"github.com/otrange/otrange/sensor/rules"
)

const sensorSynopsis = `sensor (-i IFACE [-i IFACE2...] | -r FILE) [flags]
       otrange sensor rules               list the detection rules
       otrange sensor assets -db FILE     print the asset inventory a sensor saved

Passive OT monitor: decodes Modbus/TCP and DNP3 (TCP and UDP), raises alerts
tagged with ATT&CK for ICS, and writes them as JSON lines (one alert per line,
the fields of sensor/alert.Alert), CEF over syslog, SQLite and to an exercise
server.`

func runSensor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "rules":
			return runSensorRules(args[1:], stdout)
		case "assets":
			return runSensorAssets(args[1:], stdout)
		}
	}
	fs := newFlags("sensor", sensorSynopsis, stdout)
	var ifaces stringList
	fs.Var(&ifaces, "i", "capture live on this interface (repeatable; needs CAP_NET_RAW)")
	file := fs.String("r", "", "read a pcap or pcapng file ('-' for standard input)")
	snaplen := fs.Int("snaplen", capture.DefaultSnapLen, "bytes kept of each packet")
	filter := fs.String("f", "", "capture filter, e.g. 'tcp port 502 or udp port 20000' (host, net, port, portrange, tcp, udp, ip, ip6, not/and/or)")
	out := fs.String("o", "-", "write alerts as JSON lines to this file ('-' for standard output, '' for none)")
	cef := fs.String("cef", "", "send alerts as CEF over syslog to udp://host:port or tcp://host:port")
	sqlitePath := fs.String("sqlite", "", "store alerts in this SQLite file")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9108) at /metrics")
	policyPath := fs.String("policy", "", "policy file (YAML): authorized masters, functions per pair, writable registers")
	var masters []netip.Addr
	fs.Var(addrListFlag{&masters}, "authorized", "hosts allowed to send requests, comma-separated (added to the policy's masters)")
	ports := fs.String("modbus-ports", "502", "TCP ports carrying Modbus/TCP, comma-separated (other ports are found by content)")
	dnp3Ports := fs.String("dnp3-ports", "20000", "TCP and UDP ports carrying DNP3, comma-separated")
	name := fs.String("name", "", "sensor name in alerts (default: otrange-<host>)")
	assetsPath := fs.String("assets", "", "keep an asset inventory in this SQLite file (new assets and relationships raise alerts)")
	learn := fs.Duration("baseline-learn", 0, "learn the plant's communication for this long (capture time), then alert on deviations")
	baselinePath := fs.String("baseline", "", "baseline model file: loaded and judged against, or with -baseline-learn written at exit")
	server := fs.String("server", "", "post alerts to this exercise server (POST URL/api/alerts)")
	maxFlows := fs.Int("max-flows", 65536, "TCP connections followed at once")
	progress := fs.Bool("progress", true, "show a progress bar when reading a file on a terminal")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (len(ifaces) == 0) == (*file == "") {
		return usagef("give exactly one of -i IFACE or -r FILE")
	}
	portList, err := parsePorts(*ports, "-modbus-ports")
	if err != nil {
		return err
	}
	dnp3List, err := parsePorts(*dnp3Ports, "-dnp3-ports")
	if err != nil {
		return err
	}
	if *snaplen < 64 || *snaplen > 262144 {
		return usagef("-snaplen %d out of 64..262144", *snaplen)
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	var policy *rules.Policy
	if *policyPath != "" {
		if policy, err = rules.LoadPolicy(*policyPath); err != nil {
			return err
		}
	}
	if *name == "" {
		h, _ := os.Hostname()
		*name = "otrange-" + h
	}

	// Outputs. Every sink is closed (flushed) after the pipeline stops.
	outs := &outputs{log: log}
	defer outs.close()
	if err := outs.open(*out, *cef, *sqlitePath, *server, *name, stdout, log); err != nil {
		return err
	}

	cfg := sensor.Config{
		Name: *name, ModbusPorts: portList, DNP3Ports: dnp3List, Policy: policy, AuthorizedMasters: masters,
		MaxFlows: *maxFlows, Sink: outs.multi, Logger: log.With("component", "sensor"),
	}
	var inv *assets.Inventory
	var store *assets.Store
	if *assetsPath != "" {
		if store, err = assets.OpenStore(*assetsPath); err != nil {
			return err
		}
		defer store.Close()
	}
	// The inventory raises its events through the sensor's sink, so they are
	// counted with the rules' alerts; the sink exists once the sensor does.
	var sink alert.Sink
	if store != nil {
		inv, err = assets.New(assets.Options{Sensor: *name, Sink: alert.SinkFunc(func(a alert.Alert) { sink.Emit(a) }),
			Logger: log.With("component", "assets")})
		if err != nil {
			return err
		}
		saved, err := store.Load()
		if err != nil {
			return err
		}
		inv.Restore(saved)
		cfg.Observers = append(cfg.Observers, sensor.ObserverFunc(func(r *analyze.Record, l sensor.Link) {
			inv.Observe(r, l.SrcMAC, l.DstMAC)
		}))
	}
	var bl *baseline.Baseline
	if *learn > 0 || *baselinePath != "" {
		opts := baseline.Options{Sensor: *name, Sink: alert.SinkFunc(func(a alert.Alert) { sink.Emit(a) }),
			LearnFor: *learn, Logger: log.With("component", "baseline")}
		if *learn == 0 {
			if opts.Model, err = baseline.ReadModelFile(*baselinePath); err != nil {
				return err
			}
		}
		if bl, err = baseline.New(opts); err != nil {
			return err
		}
		cfg.Observers = append(cfg.Observers, sensor.ObserverFunc(func(r *analyze.Record, _ sensor.Link) { bl.Observe(r) }))
	}
	s, err := sensor.New(cfg)
	if err != nil {
		return err
	}
	sink = s.Sink()

	var src capture.Source
	var fileSrc *capture.File
	if len(ifaces) > 0 {
		src, err = capture.OpenInterfaces(ifaces, capture.LiveOptions{SnapLen: *snaplen, Filter: *filter})
		if err != nil {
			if errors.Is(err, capture.ErrPermission) {
				return fmt.Errorf("%w\n(reading a capture file with -r needs no rights)", err)
			}
			return err
		}
	} else {
		fileSrc, err = capture.OpenFile(*file)
		if err != nil {
			return err
		}
		if err := fileSrc.SetFilter(*filter); err != nil {
			fileSrc.Close()
			return usageError{err}
		}
		src = fileSrc
	}
	defer src.Close()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	if *metricsAddr != "" {
		m, err := metrics.New(func() metrics.Snapshot {
			snap := s.MetricsSnapshot()
			snap.OutputDrops = outs.drops()
			return snap
		}, metrics.Options{ConstLabels: map[string]string{"sensor": *name}, Runtime: true})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		log.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Serve(runCtx, ln); err != nil {
				log.Error("metrics server", "err", err)
			}
		}()
	}
	if inv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := assets.Persist(runCtx, inv, store, 30*time.Second); err != nil {
				log.Error("saving the asset inventory", "err", err)
			}
		}()
	}
	if fileSrc != nil && *file != "-" && *progress && isTerminal(stderr) {
		stopBar := startProgress(stderr, *file, fileSrc, s)
		defer stopBar()
	}
	start := time.Now()
	log.Info("sensor running", "source", sourceName(ifaces, *file), "filter", *filter)
	runErr := s.Run(runCtx, src)
	cancel()
	wg.Wait()
	st := s.Stats()
	el := time.Since(start)
	log.Info("sensor done", "packets", st.Packets, "bytes", st.Bytes, "seconds", el.Seconds(),
		"records", st.Records, "modbus_adus", st.ModbusADUs, "dnp3_frames", st.DNP3Frames, "alerts", st.Alerts,
		"decode_errors", st.DecodeErrors, "anomalies", st.Anomalies, "flows_evicted", st.FlowsDropped,
		"gap_bytes", st.Reassembly.GapBytes, "panics", st.Panics)
	for _, k := range st.Kernel {
		log.Info("interface", "name", k.Name, "kernel_packets", k.Packets, "kernel_drops", k.Drops, "captured", k.Captured)
	}
	if bl != nil {
		bs := bl.Stats()
		log.Info("baseline", "learning", bl.Learning(), "learned", bs.Learned, "alerts", bs.Alerts)
		if *learn > 0 && *baselinePath != "" {
			if err := bl.Model().WriteFile(*baselinePath); err != nil {
				return err
			}
			log.Info("baseline saved", "file", *baselinePath)
		}
	}
	if runErr != nil {
		return runErr
	}
	return outs.close()
}

func sourceName(ifaces []string, file string) string {
	if len(ifaces) > 0 {
		return "live:" + strings.Join(ifaces, ",")
	}
	return "file:" + file
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func parsePorts(s, flagName string) ([]uint16, error) {
	var out []uint16
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16)
		if err != nil || n == 0 {
			return nil, usagef("bad port %q in %s", f, flagName)
		}
		out = append(out, uint16(n))
	}
	return out, nil
}

// outputs are the alert sinks the flags asked for.
type outputs struct {
	log    *slog.Logger
	multi  alert.Multi
	jl     *alert.JSONLines
	file   *os.File
	syslog *output.Syslog
	sqlite *output.SQLite
	poster *poster
	once   sync.Once
	err    error
}

func (o *outputs) open(out, cef, sqlitePath, server, name string, stdout io.Writer, log *slog.Logger) error {
	if out != "" {
		w := stdout
		if out != "-" {
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			o.file, w = f, f
		}
		o.jl = alert.NewJSONLines(w)
		o.multi = append(o.multi, o.jl)
	}
	if cef != "" {
		u, err := url.Parse(cef)
		if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Host == "" || u.Path != "" {
			return usagef("-cef %q: want udp://host:port or tcp://host:port", cef)
		}
		// Any collector address is fine: alerts to a SIEM are the point of
		// a SPAN-port deployment (the loopback-only rule is for attacks).
		sl, err := output.NewSyslog(output.SyslogConfig{Network: u.Scheme, Addr: u.Host, AppName: "otrange-sensor",
			Logger: log.With("component", "syslog")})
		if err != nil {
			return err
		}
		o.syslog = sl
		o.multi = append(o.multi, sl)
	}
	if sqlitePath != "" {
		db, err := output.OpenSQLite(output.SQLiteConfig{Path: sqlitePath, Logger: log.With("component", "sqlite")})
		if err != nil {
			return err
		}
		o.sqlite = db
		o.multi = append(o.multi, db)
	}
	if server != "" {
		p, err := newPoster(server, log.With("component", "server"))
		if err != nil {
			return err
		}
		o.poster = p
		o.multi = append(o.multi, p)
	}
	if len(o.multi) == 0 {
		return usagef("no output: give -o, -cef, -sqlite or -server")
	}
	return nil
}

// drops reports the alerts each output lost, for the metrics.
func (o *outputs) drops() map[string]uint64 {
	m := map[string]uint64{}
	if o.syslog != nil {
		m["syslog"] = o.syslog.Stats().Lost()
	}
	if o.sqlite != nil {
		m["sqlite"] = o.sqlite.Stats().Lost()
	}
	if o.poster != nil {
		m["server"] = o.poster.lost()
	}
	return m
}

// close flushes and closes every output once, returning the first error.
func (o *outputs) close() error {
	o.once.Do(func() {
		keep := func(err error) {
			if err != nil && o.err == nil {
				o.err = err
			}
		}
		if o.syslog != nil {
			keep(o.syslog.Close())
			if st := o.syslog.Stats(); st.Lost() > 0 {
				o.log.Warn("syslog output lost alerts", "dropped", st.Dropped, "failed", st.Failed)
			}
		}
		if o.sqlite != nil {
			keep(o.sqlite.Close())
		}
		if o.poster != nil {
			keep(o.poster.Close())
		}
		if o.jl != nil {
			keep(o.jl.Err())
		}
		if o.file != nil {
			keep(o.file.Close())
		}
	})
	return o.err
}

// poster sends alerts to an exercise server: batches of up to 256 alerts as
// a JSON array in POST {server}/api/alerts, from a bounded queue, so a slow
// or absent server never holds up the sensor; what it cannot deliver is
// counted and logged.
type poster struct {
	url    string
	client *http.Client
	log    *slog.Logger
	queue  *output.Queue
	done   chan struct{}
	sent   atomic.Uint64
	failed atomic.Uint64 // alerts of posts the server did not take
}

func newPoster(server string, log *slog.Logger) (*poster, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("-server %q: want http://host:port", server)
	}
	p := &poster{url: strings.TrimSuffix(server, "/") + "/api/alerts", client: &http.Client{Timeout: 10 * time.Second},
		log: log, queue: output.NewQueue(4096), done: make(chan struct{})}
	go p.run()
	return p, nil
}

func (p *poster) Emit(a alert.Alert) { p.queue.Put(a) }

// lost is every alert that did not reach the server: dropped at the queue
// or in a failed post.
func (p *poster) lost() uint64 { return p.queue.Dropped() + p.failed.Load() }

func (p *poster) run() {
	defer close(p.done)
	batch := make([]alert.Alert, 0, 256)
	for a := range p.queue.C {
		batch = append(batch[:0], a)
	fill:
		for len(batch) < cap(batch) {
			select {
			case a, ok := <-p.queue.C:
				if !ok {
					break fill
				}
				batch = append(batch, a)
			default:
				break fill
			}
		}
		if err := p.post(batch); err != nil {
			p.failed.Add(uint64(len(batch)))
			p.log.Warn("posting alerts to the server failed", "alerts", len(batch), "err", err)
			continue
		}
		p.sent.Add(uint64(len(batch)))
	}
}

func (p *poster) post(batch []alert.Alert) error {
	body, err := json.Marshal(batch)
	if err != nil {
		return err
	}
	resp, err := p.client.Post(p.url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", p.url, resp.Status)
	}
	return nil
}

// Close delivers what is queued and stops.
func (p *poster) Close() error {
	if p.queue.Close() {
		close(p.queue.C)
	}
	<-p.done
	if n := p.lost(); n > 0 {
		return fmt.Errorf("server output: %d alerts not delivered", n)
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// startProgress draws a progress bar for a file on w until stop is called:
// the part of the file read, packets/s and MB/s.
func startProgress(w io.Writer, path string, f *capture.File, s *sensor.Sensor) (stop func()) {
	var size int64
	if st, err := os.Stat(path); err == nil {
		size = st.Size()
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		start := time.Now()
		draw := func() {
			el := time.Since(start).Seconds()
			st := s.Stats()
			fmt.Fprint(w, "\r"+progressLine(f.Offset(), size, st.Packets, st.Alerts, el))
		}
		for {
			select {
			case <-t.C:
				draw()
			case <-done:
				draw()
				fmt.Fprintln(w)
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

// progressLine renders one line of the progress bar.
func progressLine(read, size int64, packets, alerts uint64, seconds float64) string {
	const width = 30
	frac := 0.0
	if size > 0 {
		frac = min(1, float64(read)/float64(size))
	}
	n := int(frac * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	if n < width && n > 0 {
		bar = bar[:n-1] + ">" + bar[n:]
	}
	pps, mbs := 0.0, 0.0
	if seconds > 0 {
		pps = float64(packets) / seconds
		mbs = float64(read) / seconds / 1e6
	}
	return fmt.Sprintf("[%s] %3.0f%%  %d packets  %.0f packets/s  %.1f MB/s  %d alerts ", bar, frac*100, packets, pps, mbs, alerts)
}

// runSensorRules prints the rule catalog.
func runSensorRules(args []string, stdout io.Writer) error {
	fs := newFlags("sensor rules", "sensor rules [-json]\n\nLists the sensor's detection rules.", stdout)
	asJSON := fs.Bool("json", false, "print the rules as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	list := rules.List()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tTECHNIQUES\tNAME")
	for _, r := range list {
		name := r.Name
		if r.Threshold != nil {
			name += " (" + r.Threshold.String() + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.Severity, strings.Join(r.Techniques, ","), name)
	}
	return tw.Flush()
}

// runSensorAssets prints the inventory a sensor saved with -assets.
func runSensorAssets(args []string, stdout io.Writer) error {
	fs := newFlags("sensor assets", "sensor assets -db FILE [-json]\n\nPrints the asset inventory a sensor run with -assets FILE saved.", stdout)
	db := fs.String("db", "", "asset store written by 'otrange sensor -assets FILE'")
	asJSON := fs.Bool("json", false, "print the assets as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *db == "" {
		return usagef("-db FILE is required")
	}
	list, err := assets.ReadFile(*db)
	if err != nil {
		return err
	}
	if *asJSON {
		return assets.WriteJSON(stdout, list)
	}
	return assets.WriteTable(stdout, list)
}
