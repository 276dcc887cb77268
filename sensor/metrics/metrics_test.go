package metrics

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// source is a sensor stand-in whose counters a test moves between scrapes.
type source struct {
	mu    sync.Mutex
	snap  Snapshot
	calls atomic.Int64
}

func (s *source) get() Snapshot {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap
}

func (s *source) set(f func(*Snapshot)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.snap)
}

// serve starts Serve on a loopback listener and returns the scrape URL.
func serve(t *testing.T, m *Metrics) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String() + "/metrics"
}

// scrape fetches url and parses the text exposition into "name{labels}" →
// value, labels sorted by name as label=value pairs.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			key := name + "{" + strings.Join(ls, ",") + "}"
			var v float64
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				v = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				v = m.GetGauge().GetValue()
			default:
				v = m.GetUntyped().GetValue()
			}
			if _, dup := out[key]; dup {
				t.Fatalf("series %s twice", key)
			}
			out[key] = v
		}
		if strings.HasSuffix(name, "_total") && f.GetType() != dto.MetricType_COUNTER {
			t.Errorf("%s is %v, want counter", name, f.GetType())
		}
	}
	return out
}

func sensorSeries(all map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range all {
		if strings.HasPrefix(k, "otrange_sensor_") {
			out[k] = v
		}
	}
	return out
}

func TestScrapeOverHTTP(t *testing.T) {
	src := &source{}
	src.set(func(s *Snapshot) {
		*s = Snapshot{
			Packets: 1000, Bytes: 64000,
			KernelDrops:     map[string]uint64{"lo": 3, "eth1": 0},
			FlowsActive:     12,
			FlowsEvicted:    4,
			ReassemblyDrops: map[string]uint64{"overflow": 2},
			DecodeErrors:    map[string]uint64{"modbus": 5, "dnp3": 1},
			Records: map[Record]uint64{
				{"modbus", "read_holding_registers"}: 900,
				{"modbus", "write_single_register"}:  7,
				{"dnp3", "READ"}:                     40,
			},
			Alerts:      map[string]uint64{"modbus.unauthorized_write": 7},
			OutputDrops: map[string]uint64{"syslog": 1, "sqlite": 0},
		}
	})
	m, err := New(src.get, Options{ConstLabels: map[string]string{"sensor": "plant-1"}, Runtime: true})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, m)
	got := scrape(t, url)
	want := map[string]float64{
		"otrange_sensor_packets_total{sensor=plant-1}":                                                 1000,
		"otrange_sensor_bytes_total{sensor=plant-1}":                                                   64000,
		"otrange_sensor_kernel_drops_total{interface=eth1,sensor=plant-1}":                             0,
		"otrange_sensor_kernel_drops_total{interface=lo,sensor=plant-1}":                               3,
		"otrange_sensor_flows_active{sensor=plant-1}":                                                  12,
		"otrange_sensor_flows_evicted_total{sensor=plant-1}":                                           4,
		"otrange_sensor_reassembly_drops_total{reason=overflow,sensor=plant-1}":                        2,
		"otrange_sensor_decode_errors_total{protocol=dnp3,sensor=plant-1}":                             1,
		"otrange_sensor_decode_errors_total{protocol=modbus,sensor=plant-1}":                           5,
		"otrange_sensor_records_total{function=READ,protocol=dnp3,sensor=plant-1}":                     40,
		"otrange_sensor_records_total{function=read_holding_registers,protocol=modbus,sensor=plant-1}": 900,
		"otrange_sensor_records_total{function=write_single_register,protocol=modbus,sensor=plant-1}":  7,
		"otrange_sensor_alerts_total{rule=modbus.unauthorized_write,sensor=plant-1}":                   7,
		"otrange_sensor_output_drops_total{sensor=plant-1,sink=sqlite}":                                0,
		"otrange_sensor_output_drops_total{sensor=plant-1,sink=syslog}":                                1,
		"otrange_sensor_metrics_series_dropped{sensor=plant-1}":                                        0,
	}
	if diff := compare(sensorSeries(got), want); diff != "" {
		t.Fatal(diff)
	}
	if _, ok := got["go_goroutines{}"]; !ok {
		t.Error("runtime metrics missing with Options.Runtime")
	}

	// Counters move; the next scrape reads them afresh.
	src.set(func(s *Snapshot) {
		s.Packets, s.FlowsActive = 2500, 3
		s.Alerts = map[string]uint64{"modbus.unauthorized_write": 8, "dnp3.cold_restart": 1}
	})
	got = scrape(t, url)
	for k, v := range map[string]float64{
		"otrange_sensor_packets_total{sensor=plant-1}":                               2500,
		"otrange_sensor_flows_active{sensor=plant-1}":                                3,
		"otrange_sensor_alerts_total{rule=modbus.unauthorized_write,sensor=plant-1}": 8,
		"otrange_sensor_alerts_total{rule=dnp3.cold_restart,sensor=plant-1}":         1,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if n := src.calls.Load(); n != 2 {
		t.Errorf("source called %d times for 2 scrapes", n)
	}
}

// TestSeriesBound: label values from the traffic cannot grow the exposition
// without bound, and odd label values are made valid rather than failing the
// scrape.
func TestSeriesBound(t *testing.T) {
	src := &source{}
	src.set(func(s *Snapshot) {
		s.DecodeErrors = map[string]uint64{}
		for i := range 50 {
			s.DecodeErrors[fmt.Sprintf("p%02d", i)] = uint64(i)
		}
		s.Records = map[Record]uint64{}
		for i := range 20 {
			s.Records[Record{"modbus", fmt.Sprint(i)}] = 1
		}
		s.Alerts = map[string]uint64{"": 1, "unknown": 2, "bad\xffutf8": 3}
	})
	m, err := New(src.get, Options{MaxSeries: 10})
	if err != nil {
		t.Fatal(err)
	}
	got := sensorSeries(scrape(t, serve(t, m)))
	count := func(prefix string) int {
		n := 0
		for k := range got {
			if strings.HasPrefix(k, prefix) {
				n++
			}
		}
		return n
	}
	if n := count("otrange_sensor_decode_errors_total{"); n != 10 {
		t.Errorf("%d decode error series, want 10", n)
	}
	if n := count("otrange_sensor_records_total{"); n != 10 {
		t.Errorf("%d record series, want 10", n)
	}
	if _, ok := got["otrange_sensor_decode_errors_total{protocol=p00}"]; !ok || count("otrange_sensor_decode_errors_total{protocol=p49}") != 0 {
		t.Errorf("series bound does not keep the first keys in order")
	}
	if v := got["otrange_sensor_metrics_series_dropped{}"]; v != 40+10 {
		t.Errorf("series dropped = %v, want 50", v)
	}
	if v := got["otrange_sensor_alerts_total{rule=unknown}"]; v != 3 {
		t.Errorf("empty and \"unknown\" rule ids: %v, want summed to 3", v)
	}
	if v := got["otrange_sensor_alerts_total{rule=bad\uFFFDutf8}"]; v != 3 {
		t.Errorf("invalid UTF-8 rule id: %v, want 3 (%v)", v, got)
	}
}

func TestCodeCounter(t *testing.T) {
	var c CodeCounter
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 1000 {
				c.Inc(byte(i % 3))
			}
		})
	}
	wg.Wait()
	m := map[Record]uint64{{"modbus", "fc1"}: 1}
	c.AddTo(m, "modbus", func(b byte) string { return fmt.Sprintf("fc%d", b) })
	want := map[Record]uint64{{"modbus", "fc0"}: 1336, {"modbus", "fc1"}: 1 + 1332, {"modbus", "fc2"}: 1332}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", m, want)
	}
	m = map[Record]uint64{}
	c.AddTo(m, "dnp3", nil)
	if m[Record{"dnp3", "2"}] != 1332 || len(m) != 3 {
		t.Fatalf("default names: %v", m)
	}
}

func TestNewNeedsSource(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Fatal("New accepted a nil source")
	}
}

func compare(got, want map[string]float64) string {
	var d []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			d = append(d, "missing "+k)
		} else if g != v {
			d = append(d, fmt.Sprintf("%s = %v, want %v", k, g, v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			d = append(d, "unexpected "+k)
		}
	}
	sort.Strings(d)
	return strings.Join(d, "\n")
}

// BenchmarkHotPath compares what a packet pays to count its function code:
// the CodeCounter the sensor uses against a Prometheus CounterVec lookup.
func BenchmarkHotPath(b *testing.B) {
	b.Run("CodeCounter", func(b *testing.B) {
		var c CodeCounter
		for i := 0; b.Loop(); i++ {
			c.Inc(byte(i))
		}
	})
	b.Run("CounterVec", func(b *testing.B) {
		v := newCounterVec()
		names := make([]string, 256)
		for i := range names {
			names[i] = fmt.Sprint(i)
		}
		for i := 0; b.Loop(); i++ {
			v.WithLabelValues("modbus", names[byte(i)]).Inc()
		}
	})
}

func BenchmarkScrape(b *testing.B) {
	var c CodeCounter
	for i := range 256 {
		c.Inc(byte(i))
	}
	m, err := New(func() Snapshot {
		s := Snapshot{Packets: 1, Records: map[Record]uint64{}, Alerts: map[string]uint64{"a": 1, "b": 2}}
		c.AddTo(s.Records, "modbus", nil)
		return s
	}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := m.reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

func newCounterVec() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "records_total", Help: "x"}, []string{"protocol", "function"})
}
