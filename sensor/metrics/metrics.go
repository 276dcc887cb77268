// Package metrics exposes the sensor's counters to Prometheus on /metrics.
//
// The sensor's hot path never calls Prometheus: it bumps its own atomic
// counters (CodeCounter is one, for function codes), and at scrape time a
// collector asks for a Snapshot of them and turns it into metrics. A packet
// costs an atomic add; a scrape costs one Snapshot.
//
// Metric names (namespace "otrange", subsystem "sensor"):
//
//	otrange_sensor_packets_total                       packets read from every source
//	otrange_sensor_bytes_total                         bytes of those packets on the wire
//	otrange_sensor_kernel_drops_total{interface}       packets the kernel dropped before the sensor saw them
//	otrange_sensor_flows_active                        flows in the flow table now
//	otrange_sensor_flows_evicted_total                 flows removed for the table bound (idle expiry is not eviction)
//	otrange_sensor_reassembly_drops_total{reason}      TCP segments or bytes dropped by reassembly, by reason
//	otrange_sensor_decode_errors_total{protocol}       frames that failed to decode
//	otrange_sensor_records_total{protocol,function}    decoded protocol records
//	otrange_sensor_alerts_total{rule}                  alerts raised
//	otrange_sensor_output_drops_total{sink}            alerts an output lost (queue full, send failed)
//	otrange_sensor_metrics_series_dropped              label values left out of the last scrape by the series bound
package metrics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Snapshot is the sensor's counters at one instant. Counters only grow over
// the life of a sensor; FlowsActive is a level. Nil maps are empty.
type Snapshot struct {
	Packets         uint64
	Bytes           uint64
	KernelDrops     map[string]uint64 // by interface
	FlowsActive     uint64
	FlowsEvicted    uint64
	ReassemblyDrops map[string]uint64 // by reason, e.g. "overflow", "gap", "stream_limit"
	DecodeErrors    map[string]uint64 // by protocol, e.g. "ethernet", "modbus", "dnp3"
	Records         map[Record]uint64 // by protocol and function
	Alerts          map[string]uint64 // by rule id
	OutputDrops     map[string]uint64 // by sink, e.g. "syslog", "sqlite"
}

// Record names a family of decoded records: a protocol and a function, such
// as {"modbus", "write_single_register"} or {"dnp3", "COLD_RESTART"}.
type Record struct {
	Protocol, Function string
}

// Options configure the metrics endpoint.
type Options struct {
	// ConstLabels are put on every sensor metric, e.g. {"sensor": "plant-1"}.
	ConstLabels map[string]string
	// MaxSeries bounds the label values of each labelled metric per scrape;
	// <= 0 means 1000. The ones left out are counted in
	// otrange_sensor_metrics_series_dropped.
	MaxSeries int
	// Runtime adds the Go runtime and process collectors.
	Runtime bool
}

// Metrics owns a Prometheus registry holding the sensor's collector.
type Metrics struct {
	reg *prometheus.Registry
}

// New builds the metrics for a sensor whose counters source returns.
// source is called once per scrape, possibly from several goroutines at
// once, and must be safe for that.
func New(source func() Snapshot, opts Options) (*Metrics, error) {
	if source == nil {
		return nil, errors.New("metrics: a snapshot source is required")
	}
	if opts.MaxSeries <= 0 {
		opts.MaxSeries = 1000
	}
	reg := prometheus.NewRegistry()
	c := newCollector(source, opts)
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if opts.Runtime {
		if err := reg.Register(collectors.NewGoCollector()); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return &Metrics{reg: reg}, nil
}

// Registry is where other parts of the program may register their own
// collectors to appear on the same endpoint.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// Serve answers /metrics on ln until ctx ends, then shuts down within five
// seconds.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("metrics: shutdown: %w", err)
	}
	<-errc
	return nil
}

// collector turns a Snapshot into const metrics at scrape time.
type collector struct {
	source    func() Snapshot
	maxSeries int

	packets, bytes, kernelDrops, flowsActive, flowsEvicted, reassembly, decodeErrs,
	records, alerts, outputDrops, seriesDropped *prometheus.Desc
}

var _ prometheus.Collector = (*collector)(nil)

func newCollector(source func() Snapshot, opts Options) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("otrange", "sensor", name), help, labels, opts.ConstLabels)
	}
	return &collector{
		source:        source,
		maxSeries:     opts.MaxSeries,
		packets:       d("packets_total", "Packets read from every capture source."),
		bytes:         d("bytes_total", "Bytes of the packets read, as on the wire."),
		kernelDrops:   d("kernel_drops_total", "Packets the kernel dropped before the sensor could read them.", "interface"),
		flowsActive:   d("flows_active", "Flows in the flow table."),
		flowsEvicted:  d("flows_evicted_total", "Flows evicted from the flow table to keep it within its bound."),
		reassembly:    d("reassembly_drops_total", "TCP data dropped by stream reassembly.", "reason"),
		decodeErrs:    d("decode_errors_total", "Frames that failed to decode.", "protocol"),
		records:       d("records_total", "Decoded protocol records.", "protocol", "function"),
		alerts:        d("alerts_total", "Alerts raised.", "rule"),
		outputDrops:   d("output_drops_total", "Alerts an output lost: queue full, send or write failed.", "sink"),
		seriesDropped: d("metrics_series_dropped", "Label values left out of this scrape by the series bound."),
	}
}

// Describe sends every descriptor the collector can produce.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.packets, c.bytes, c.kernelDrops, c.flowsActive, c.flowsEvicted,
		c.reassembly, c.decodeErrs, c.records, c.alerts, c.outputDrops, c.seriesDropped} {
		ch <- d
	}
}

// Collect takes one snapshot and sends it as metrics.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.source()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.packets, s.Packets)
	counter(c.bytes, s.Bytes)
	ch <- prometheus.MustNewConstMetric(c.flowsActive, prometheus.GaugeValue, float64(s.FlowsActive))
	counter(c.flowsEvicted, s.FlowsEvicted)
	var dropped int
	dropped += c.byLabel(ch, c.kernelDrops, s.KernelDrops)
	dropped += c.byLabel(ch, c.reassembly, s.ReassemblyDrops)
	dropped += c.byLabel(ch, c.decodeErrs, s.DecodeErrors)
	dropped += c.byLabel(ch, c.alerts, s.Alerts)
	dropped += c.byLabel(ch, c.outputDrops, s.OutputDrops)

	recs := make(map[Record]uint64, len(s.Records))
	for r, v := range s.Records {
		recs[Record{label(r.Protocol), label(r.Function)}] += v
	}
	keys := make([]Record, 0, len(recs))
	for r := range recs {
		keys = append(keys, r)
	}
	slices.SortFunc(keys, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Function, b.Function))
	})
	if len(keys) > c.maxSeries {
		dropped += len(keys) - c.maxSeries
		keys = keys[:c.maxSeries]
	}
	for _, r := range keys {
		counter(c.records, recs[r], r.Protocol, r.Function)
	}
	ch <- prometheus.MustNewConstMetric(c.seriesDropped, prometheus.GaugeValue, float64(dropped))
}

// byLabel sends one counter per key of m, at most maxSeries of them in key
// order, and returns how many it left out. Keys that make the same label
// value are summed.
func (c *collector) byLabel(ch chan<- prometheus.Metric, d *prometheus.Desc, m map[string]uint64) int {
	clean := make(map[string]uint64, len(m))
	for k, v := range m {
		clean[label(k)] += v
	}
	keys := make([]string, 0, len(clean))
	for k := range clean {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	left := 0
	if len(keys) > c.maxSeries {
		left = len(keys) - c.maxSeries
		keys = keys[:c.maxSeries]
	}
	for _, k := range keys {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(clean[k]), k)
	}
	return left
}

// label makes s a valid label value: Prometheus wants UTF-8, and an empty
// value would merge the series with the unlabelled one.
func label(s string) string {
	if s == "" {
		return "unknown"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// CodeCounter counts events by a one-byte code, such as a Modbus or DNP3
// function code, without locks or allocation: the hot path's side of the
// metrics. The zero value is ready to use.
type CodeCounter struct {
	n [256]atomic.Uint64
}

// Inc counts one event with code.
func (c *CodeCounter) Inc(code byte) { c.n[code].Add(1) }

// Load returns the count for code.
func (c *CodeCounter) Load(code byte) uint64 { return c.n[code].Load() }

// AddTo adds the non-zero counts to m under protocol, naming each code with
// name (nil names it by its decimal value).
func (c *CodeCounter) AddTo(m map[Record]uint64, protocol string, name func(code byte) string) {
	for i := range c.n {
		v := c.n[i].Load()
		if v == 0 {
			continue
		}
		fn := fmt.Sprint(i)
		if name != nil {
			fn = name(byte(i))
		}
		m[Record{protocol, fn}] += v
	}
}
