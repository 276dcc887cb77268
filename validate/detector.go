package validate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Bounds of alert files.
const (
	// MaxAlerts bounds the alerts (and log records) read from a detector's
	// files; further ones are counted in ReadStats.Dropped.
	MaxAlerts = 1 << 20
	// MaxLine bounds one line of an alert file; longer lines are skipped
	// and counted.
	MaxLine = 1 << 20
)

// Alert is one detection of any detector, reduced to what scoring needs.
type Alert struct {
	Time             time.Time  `json:"time"`
	Src, Dst         netip.Addr `json:"-"`
	SrcPort, DstPort uint16     `json:"-"` // 0: unknown
	Rule             string     `json:"rule"`
	Name             string     `json:"name,omitempty"`
	Techniques       []string   `json:"techniques,omitempty"`
	// Log marks a protocol log record (Zeek's ICSNPP modbus and dnp3 logs,
	// Suricata's modbus and dnp3 events) rather than an alert: it shows
	// what the detector saw, not what it raised.
	Log bool `json:"log,omitempty"`
	// Origin is where the alert came from (file:line).
	Origin string `json:"origin,omitempty"`
}

// ReadStats count what a detector's files held.
type ReadStats struct {
	Lines   int // lines read
	Alerts  int // alerts kept
	Logs    int // log records kept
	Skipped int // lines not understood (other event types, comments, bad lines)
	Bad     int // lines that looked like records but could not be parsed
	Dropped int // records beyond MaxAlerts, or lines beyond MaxLine
}

func (s *ReadStats) add(o ReadStats) {
	s.Lines += o.Lines
	s.Alerts += o.Alerts
	s.Logs += o.Logs
	s.Skipped += o.Skipped
	s.Bad += o.Bad
	s.Dropped += o.Dropped
}

// Detector produces the alerts to score over a dataset.
type Detector interface {
	// Name says which detector this is, for the report.
	Name() string
	// Alerts returns the detector's alerts over the dataset in dir.
	Alerts(ctx context.Context, dir string, ds *Dataset) ([]Alert, ReadStats, error)
}

// ParseDetector reads a -detector value: "otrange" (the built-in sensor run
// over the captures), "eve:FILE" (Suricata EVE JSON; otrange's JSON lines
// too), "zeek:PATH" (a Zeek log folder or file: notice.log, the ICSNPP
// modbus and dnp3 logs; TSV or JSON) or "cef:FILE" (CEF lines, bare or in
// syslog messages).
func ParseDetector(spec string) (Detector, error) {
	kind, path, _ := strings.Cut(spec, ":")
	switch kind {
	case "", "otrange":
		if path != "" {
			return nil, fmt.Errorf("detector %q: the built-in sensor takes no file", spec)
		}
		return Builtin{}, nil
	case "eve", "zeek", "cef":
		if path == "" {
			return nil, fmt.Errorf("detector %q: give a path, e.g. %s:alerts.log", spec, kind)
		}
		return FileDetector{Format: kind, Path: path}, nil
	}
	return nil, fmt.Errorf("unknown detector %q (otrange, eve:FILE, zeek:DIR, cef:FILE)", spec)
}

// Builtin is otrange's own sensor, run over each capture with the run's
// policy and ports.
type Builtin struct{}

// Name implements Detector.
func (Builtin) Name() string { return "otrange sensor" }

// Alerts implements Detector.
func (Builtin) Alerts(ctx context.Context, dir string, ds *Dataset) ([]Alert, ReadStats, error) {
	var out []Alert
	var st ReadStats
	for i := range ds.Runs {
		if err := ctx.Err(); err != nil {
			return nil, st, err
		}
		r := &ds.Runs[i]
		as, err := sensorPass(filepath.Join(dir, r.Capture), r, nil)
		if err != nil {
			return nil, st, fmt.Errorf("%s: %w", r.Capture, err)
		}
		for _, a := range as {
			if len(out) >= MaxAlerts {
				st.Dropped++
				continue
			}
			src, _ := netip.ParseAddr(a.SrcAddr)
			dst, _ := netip.ParseAddr(a.DstAddr)
			out = append(out, Alert{Time: a.Time, Src: src, Dst: dst, SrcPort: a.SrcPort, DstPort: a.DstPort,
				Rule: a.RuleID, Name: a.RuleName, Techniques: a.Techniques, Origin: r.Capture})
			st.Alerts++
		}
	}
	return out, st, nil
}

// FileDetector reads another detector's alerts from files.
type FileDetector struct {
	Format string // "eve", "zeek" or "cef"
	Path   string
}

// Name implements Detector.
func (f FileDetector) Name() string { return f.Format + ":" + filepath.Base(f.Path) }

// Alerts implements Detector.
func (f FileDetector) Alerts(_ context.Context, _ string, _ *Dataset) ([]Alert, ReadStats, error) {
	switch f.Format {
	case "eve":
		return readFile(f.Path, ParseEVE)
	case "cef":
		return readFile(f.Path, ParseCEF)
	case "zeek":
		return ReadZeek(f.Path)
	}
	return nil, ReadStats{}, fmt.Errorf("unknown alert format %q", f.Format)
}

// lineParser parses one line into an alert; ok false skips the line (not
// a record of interest); an error counts it as bad.
type lineParser func(line []byte) (a Alert, ok bool, err error)

func readFile(path string, parse lineParser) ([]Alert, ReadStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, ReadStats{}, err
	}
	defer f.Close()
	return readLines(f, filepath.Base(path), parse)
}

// readLines parses r line by line, bounded by MaxLine and MaxAlerts.
func readLines(r io.Reader, name string, parse lineParser) ([]Alert, ReadStats, error) {
	var out []Alert
	var st ReadStats
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, long, err := readLine(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, st, nil
			}
			return out, st, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		st.Lines++
		if long {
			st.Dropped++
			continue
		}
		a, ok, perr := parse(line)
		switch {
		case perr != nil:
			st.Bad++
			continue
		case !ok:
			st.Skipped++
			continue
		case len(out) >= MaxAlerts:
			st.Dropped++
			continue
		}
		a.Origin = fmt.Sprintf("%s:%d", name, n)
		if a.Log {
			st.Logs++
		} else {
			st.Alerts++
		}
		out = append(out, a)
	}
}

// readLine returns the next line without its end, or long true (and the
// line discarded) when it is longer than MaxLine; io.EOF after the last.
func readLine(br *bufio.Reader) (line []byte, long bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			if len(buf)+len(chunk) > MaxLine+2 {
				long, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && len(buf) == 0 && !long {
			return nil, false, err
		}
		return bytes.TrimRight(buf, "\r\n"), long, nil
	}
}

// techniqueRE finds ATT&CK for ICS technique ids (T0xxx, and v19's T1xxx.yyy).
var techniqueRE = regexp.MustCompile(`\bT[01]\d{3}(?:\.\d{3})?\b`)

// techniquesIn collects the distinct technique ids in the texts.
func techniquesIn(texts ...string) []string {
	var out []string
	for _, s := range texts {
		for _, t := range techniqueRE.FindAllString(s, -1) {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// parseAddr parses an IP address, tolerating surrounding spaces.
func parseAddr(s string) netip.Addr {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
