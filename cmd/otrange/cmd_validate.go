package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	scenario "github.com/otrange/otrange/scenarios"
	"github.com/otrange/otrange/validate"
)

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("validate", "validate [flags]\n\n"+
		"Scores an OT detector against otrange's scenario library: each scenario runs on an accelerated clock against\n"+
		"a fresh plant of its own (with its benign traffic) while lo is captured; every step is labelled in the capture;\n"+
		"one benign-only run measures false alerts. The detector (otrange's sensor by default, or another's alert file\n"+
		"over a dataset written before, with -from) is scored per scenario and per technique. Needs CAP_NET_RAW\n"+
		"unless -from is given.", stdout)
	scenarios := fs.String("scenarios", "", "comma-separated scenario ids (default: the whole library)")
	speed := fs.Float64("speed", validate.DefaultSpeed, "scenario clock speed: exercise seconds per wall second (1..10000)")
	out := fs.String("out", "validate-out", "folder for the reports (report.md, .html, .json, navigator.json), and the captures and labels unless -export")
	export := fs.String("export", "", "write the labelled dataset (captures, labels as JSON and CSV, README) to this folder")
	from := fs.String("from", "", "score the dataset in this folder (written by an earlier run) instead of running the scenarios")
	detector := fs.String("detector", "otrange", "detector to score: otrange (the built-in sensor over the captures), eve:FILE (Suricata EVE JSON), zeek:DIR (notice.log and ICSNPP modbus/dnp3 logs), cef:FILE")
	grace := fs.Duration("grace", validate.DefaultGrace, "how long after a step's end an alert still counts for it")
	dedup := fs.Duration("dedup", validate.DefaultDedup, "a quiet step whose address pair was alerted on this shortly before is a repeat, not a miss (0: off)")
	parallel := fs.Int("parallel", 2, "scenarios run at once")
	benign := fs.Duration("benign", validate.DefaultMinBenign, "shortest benign-only run (it otherwise lasts as long as the scenario runs)")
	subnet := fs.Int("subnet", validate.DefaultSubnet, "second octet of the first run's loopback /16 (127.N.0.0/16, one per run)")
	progress := fs.Bool("progress", true, "show a progress bar on a terminal")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return err
	}
	det, err := validate.ParseDetector(*detector)
	if err != nil {
		return usageError{err}
	}
	if !(*speed >= 1 && *speed <= 10000) {
		return usagef("-speed %g out of 1..10000", *speed)
	}
	if *parallel < 1 || *parallel > 16 {
		return usagef("-parallel %d out of 1..16", *parallel)
	}
	if *dedup == 0 {
		*dedup = -1
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	var picked []*scenario.Scenario
	if *scenarios != "" {
		for _, id := range strings.Split(*scenarios, ",") {
			sc, err := scenario.Get(strings.TrimSpace(id))
			if err != nil {
				return usageError{err}
			}
			picked = append(picked, sc)
		}
	}
	if *from != "" && (*scenarios != "" || *export != "") {
		return usagef("-from scores an existing dataset: -scenarios and -export do not apply")
	}
	if *from == "" {
		if _, ok := det.(validate.Builtin); !ok {
			return usagef("an alert file fits only the captures it was made from: export a dataset first, run %s over its captures, then score it with -from DIR -detector %s", det.Name(), *detector)
		}
	}

	var ds *validate.Dataset
	dataDir := *from
	if *from != "" {
		if ds, err = validate.ReadLabels(*from); err != nil {
			return err
		}
	} else {
		dataDir = *out
		if *export != "" {
			dataDir = *export
		}
		cfg := validate.Config{Scenarios: picked, Dir: dataDir, Speed: *speed, Subnet: *subnet, Parallel: *parallel,
			MinBenign: *benign, Logger: log}
		var bar *progressBar
		if *progress && isTerminal(stderr) {
			bar = &progressBar{w: stderr, start: time.Now()}
			cfg.Progress = bar.update
		}
		ds, err = validate.Generate(ctx, cfg)
		if bar != nil {
			bar.finish()
		}
		if err != nil {
			return err
		}
		if *export != "" {
			if err := validate.WriteReadme(*export, ds); err != nil {
				return err
			}
		}
	}
	alerts, st, err := det.Alerts(ctx, dataDir, ds)
	if err != nil {
		return err
	}
	if st.Bad > 0 || st.Dropped > 0 {
		fmt.Fprintf(stderr, "otrange validate: %s: %d lines not understood, %d dropped at the bounds\n", *detector, st.Bad, st.Dropped)
	}
	rep := validate.Score(ds, det.Name(), alerts, validate.ScoreConfig{Grace: *grace, Dedup: *dedup})
	rep.Input = st
	if err := rep.WriteReports(*out); err != nil {
		return err
	}
	printSummary(stdout, rep)
	fmt.Fprintf(stdout, "reports: %s\n", filepath.Join(*out, "report.{md,html,json}, navigator.json"))
	if *export != "" {
		fmt.Fprintf(stdout, "dataset: %s (README.md, labels.json, labels.csv, frames.csv, captures)\n", *export)
	}
	return nil
}

// printSummary prints the coverage table.
func printSummary(w io.Writer, r *validate.Report) {
	fmt.Fprintf(w, "%-20s %6s %8s %6s %6s %4s %8s %6s\n", "scenario", "steps", "detected", "missed", "repeat", "lost", "coverage", "false")
	for _, s := range r.Scenarios {
		t := s.Totals
		fmt.Fprintf(w, "%-20s %6d %8d %6d %6d %4d %7.0f%% %6d\n", s.ID, t.Steps, t.Detected, t.Missed, t.Repeat, t.Lost, t.Share*100, s.Unmatched)
	}
	t := r.Totals
	fmt.Fprintf(w, "%-20s %6d %8d %6d %6d %4d %7.0f%% %6d\n", "total", t.Steps, t.Detected, t.Missed, t.Repeat, t.Lost, t.Share*100, r.Unmatched)
	fmt.Fprintf(w, "benign run: %d false alerts in %s (%.1f per hour)\n", r.Benign.Alerts, r.Benign.Duration.Round(time.Second), r.Benign.PerHour)
}

// progressBar draws the scenario runs done on a terminal.
type progressBar struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	last  string
}

func (b *progressBar) update(p validate.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.Total == 0 {
		return // a retry: the bar stays
	}
	b.last = validateProgressLine(p, time.Since(b.start))
	fmt.Fprint(b.w, "\r"+b.last)
}

func (b *progressBar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last != "" {
		fmt.Fprintln(b.w)
	}
}

// validateProgressLine renders one line of the progress bar.
func validateProgressLine(p validate.Progress, elapsed time.Duration) string {
	const width = 24
	n := 0
	if p.Total > 0 {
		n = min(width, p.Done*width/p.Total)
	}
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	what := p.Run
	if p.Phase == "start" {
		what = "running " + p.Run
	} else if p.Phase == "done" {
		what = "finished " + p.Run
	}
	return fmt.Sprintf("[%s] %d/%d scenarios %5.1fs  %-32s", bar, p.Done, p.Total, elapsed.Seconds(), what)
}
