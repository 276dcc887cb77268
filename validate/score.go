package validate

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"

	scenario "github.com/otrange/otrange/scenarios"
)

// Defaults of ScoreConfig.
const (
	DefaultGrace = 5 * time.Second
	DefaultDedup = time.Minute
	// alertLead is how far before a step's recorded start an alert may be
	// stamped and still count (clocks and rounding of alert times).
	alertLead = 10 * time.Millisecond
)

// ScoreConfig tunes the matching of alerts to steps.
type ScoreConfig struct {
	// Grace is how long after a step's end an alert still matches it
	// (default 5s).
	Grace time.Duration
	// Dedup is a detector's usual repeat suppression: a step with no alert
	// of its own whose address pair was alerted on less than Dedup before
	// it started is a "repeat", neither detected nor missed (default 1m;
	// negative: off). The accelerated clock packs steps that were minutes
	// apart into seconds, where a deduplicating detector stays quiet.
	Dedup time.Duration
}

func (c *ScoreConfig) defaults() {
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.Dedup == 0 {
		c.Dedup = DefaultDedup
	}
}

// Step statuses.
const (
	Detected = "detected"
	Missed   = "missed"
	Repeat   = "repeat" // quiet on a pair alerted just before (see ScoreConfig.Dedup)
	Lost     = "lost"   // missed, but the capture lost part of the step: not scored
)

// Report is the score of one detector over a dataset.
type Report struct {
	Detector   string           `json:"detector"`
	Speed      float64          `json:"speed"`
	Grace      time.Duration    `json:"grace"`
	Dedup      time.Duration    `json:"dedup"`
	Totals     Totals           `json:"totals"`
	Scenarios  []ScenarioScore  `json:"scenarios"`
	Techniques []TechniqueScore `json:"techniques"`
	Benign     BenignScore      `json:"benign"`
	// Unmatched are alerts in scenario runs that match no step (false
	// alerts raised during attacks); Outside are alerts that belong to no
	// run of the dataset (other addresses or times), ignored.
	Unmatched int       `json:"unmatched"`
	Outside   int       `json:"outside"`
	Input     ReadStats `json:"input"`
}

// Totals sum the scenario steps.
type Totals struct {
	Steps    int `json:"steps"` // network steps
	Detected int `json:"detected"`
	Missed   int `json:"missed"`
	Repeat   int `json:"repeat"`
	Lost     int `json:"lost"`
	Seen     int `json:"seen"` // steps with a matching alert or log record
	// Share is Detected / (Detected + Missed).
	Share float64 `json:"share"`
}

// ScenarioScore is one scenario run's score.
type ScenarioScore struct {
	ID        string      `json:"id"`
	Title     string      `json:"title"`
	Capture   string      `json:"capture"`
	Totals    Totals      `json:"totals"`
	Steps     []StepScore `json:"steps"`
	Unmatched int         `json:"unmatched"`
	// FalseRules counts the unmatched alerts by rule.
	FalseRules map[string]int `json:"false_rules,omitempty"`
}

// StepScore is one network step's score.
type StepScore struct {
	Step       string   `json:"step"`
	Name       string   `json:"name"`
	Action     string   `json:"action"`
	Techniques []string `json:"techniques"`
	Succeeded  bool     `json:"succeeded"`
	Complete   bool     `json:"complete"`
	Status     string   `json:"status"`
	Seen       bool     `json:"seen"`
	// Latency is the time from the step's start to its first matching
	// alert (capture time); Bucket its class.
	Latency time.Duration `json:"latency,omitempty"`
	Bucket  string        `json:"bucket,omitempty"`
	Alerts  int           `json:"alerts"`
	Rules   []string      `json:"rules,omitempty"`
	// Tagged are the step's techniques named by a matching alert.
	Tagged []string `json:"tagged,omitempty"`
}

// TechniqueScore sums the steps that carry a technique.
type TechniqueScore struct {
	ID       string `json:"id"`
	Steps    int    `json:"steps"`
	Detected int    `json:"detected"`
	Tagged   int    `json:"tagged"` // detected by an alert naming the technique
	Missed   int    `json:"missed"`
	Repeat   int    `json:"repeat"`
	Lost     int    `json:"lost"`
	// Status: detected (every scored step), partial, missed, or lost
	// (nothing scorable).
	Status string `json:"status"`
	// Latency is the slowest first alert among its detected steps.
	Latency time.Duration `json:"latency,omitempty"`
	Bucket  string        `json:"bucket,omitempty"`
}

// BenignScore is the benign run's false alerts.
type BenignScore struct {
	Duration time.Duration  `json:"duration"`
	Alerts   int            `json:"alerts"`
	PerHour  float64        `json:"per_hour"`
	Logs     int            `json:"logs"`
	Rules    map[string]int `json:"rules,omitempty"`
}

// Bucket classes a latency.
func Bucket(d time.Duration) string {
	switch {
	case d < time.Second:
		return "<1s"
	case d < 10*time.Second:
		return "1-10s"
	case d < time.Minute:
		return "10-60s"
	}
	return ">=60s"
}

// Score matches alerts to the dataset's steps. An alert belongs to the run
// whose subnet holds one of its addresses and whose capture spans its time
// (plus the grace); it matches a network step when it is between the
// step's addresses (its recorded flows, or for a sweep or a step whose
// connections never opened, its source and destination), ports compared
// when the alert has them, and its time is from the step's start to its end
// plus the grace. Log records show what was seen but detect nothing.
func Score(ds *Dataset, detector string, alerts []Alert, cfg ScoreConfig) *Report {
	cfg.defaults()
	rep := &Report{Detector: detector, Speed: ds.Speed, Grace: cfg.Grace, Dedup: cfg.Dedup}
	byRun := make([][]Alert, len(ds.Runs))
	prefixes := make([]netip.Prefix, len(ds.Runs))
	for i, r := range ds.Runs {
		prefixes[i], _ = netip.ParsePrefix(r.Subnet)
	}
	for _, a := range alerts {
		placed := false
		for i := range ds.Runs {
			r := &ds.Runs[i]
			p := prefixes[i]
			if (p.Contains(a.Src) || p.Contains(a.Dst)) && !a.Time.Before(r.Start.Add(-alertLead)) && !a.Time.After(r.End.Add(cfg.Grace)) {
				byRun[i] = append(byRun[i], a)
				placed = true
				break
			}
		}
		if !placed {
			rep.Outside++
		}
	}
	techs := map[string]*TechniqueScore{}
	for i := range ds.Runs {
		r := &ds.Runs[i]
		as := byRun[i]
		sort.SliceStable(as, func(x, y int) bool { return as[x].Time.Before(as[y].Time) })
		if r.Benign {
			rep.Benign.Duration += r.Duration()
			for _, a := range as {
				if a.Log {
					rep.Benign.Logs++
					continue
				}
				rep.Benign.Alerts++
				if rep.Benign.Rules == nil {
					rep.Benign.Rules = map[string]int{}
				}
				rep.Benign.Rules[a.Rule]++
			}
			continue
		}
		sc := scoreRun(r, as, cfg)
		rep.Unmatched += sc.Unmatched
		addTotals(&rep.Totals, sc.Totals)
		for _, s := range sc.Steps {
			for _, t := range s.Techniques {
				ts := techs[t]
				if ts == nil {
					ts = &TechniqueScore{ID: t}
					techs[t] = ts
				}
				ts.Steps++
				switch s.Status {
				case Detected:
					ts.Detected++
					if slices.Contains(s.Tagged, t) {
						ts.Tagged++
					}
					ts.Latency = max(ts.Latency, s.Latency)
				case Missed:
					ts.Missed++
				case Repeat:
					ts.Repeat++
				case Lost:
					ts.Lost++
				}
			}
		}
		rep.Scenarios = append(rep.Scenarios, sc)
	}
	rep.Totals.Share = share(rep.Totals)
	if h := rep.Benign.Duration.Hours(); h > 0 {
		rep.Benign.PerHour = float64(rep.Benign.Alerts) / h
	}
	for _, ts := range techs {
		switch {
		case ts.Detected+ts.Missed == 0:
			ts.Status = Lost
		case ts.Missed == 0:
			ts.Status = Detected
		case ts.Detected == 0:
			ts.Status = Missed
		default:
			ts.Status = "partial"
		}
		if ts.Detected > 0 {
			ts.Bucket = Bucket(ts.Latency)
		}
		rep.Techniques = append(rep.Techniques, *ts)
	}
	slices.SortFunc(rep.Techniques, func(a, b TechniqueScore) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return rep
}

func share(t Totals) float64 {
	if n := t.Detected + t.Missed; n > 0 {
		return float64(t.Detected) / float64(n)
	}
	return 0
}

func addTotals(dst *Totals, t Totals) {
	dst.Steps += t.Steps
	dst.Detected += t.Detected
	dst.Missed += t.Missed
	dst.Repeat += t.Repeat
	dst.Lost += t.Lost
	dst.Seen += t.Seen
}

// scoreRun scores one scenario run with its alerts (sorted by time).
//
// An alert may match several steps (a sweep's addresses cover the steps
// that follow it; the grace reaches into the next step). It is credited to
// the steps it matches best: on a recorded flow with both ports known
// before address-only, and within the step (start to end) before within
// the grace.
func scoreRun(r *Run, as []Alert, cfg ScoreConfig) ScenarioScore {
	sc := ScenarioScore{ID: r.Scenario, Title: r.Title, Capture: r.Capture}
	flows := make([]stepFlows, len(r.Steps))
	for i := range r.Steps {
		flows[i] = flowsOf(&r.Steps[i])
	}
	// level of alert j for step i: 0 no match; 1..4 from address-only in
	// the grace to exact within the step.
	level := func(i int, a *Alert) int {
		st := &r.Steps[i]
		if !st.Network || a.Time.Before(st.Start.Add(-alertLead)) || a.Time.After(st.End.Add(cfg.Grace)) {
			return 0
		}
		ok, exact := flows[i].matchExact(a.Src, a.SrcPort, a.Dst, a.DstPort)
		if !ok {
			return 0
		}
		l := 1
		if exact {
			l += 2
		}
		if !a.Time.After(st.End.Add(frameTail)) {
			l++
		}
		return l
	}
	credited := make([][]int, len(r.Steps)) // alert indexes per step
	used := make([]bool, len(as))
	for j := range as {
		best := 0
		for i := range r.Steps {
			best = max(best, level(i, &as[j]))
		}
		if best == 0 {
			continue
		}
		used[j] = true
		for i := range r.Steps {
			if level(i, &as[j]) == best {
				credited[i] = append(credited[i], j)
			}
		}
	}
	for i := range r.Steps {
		st := &r.Steps[i]
		if !st.Network {
			continue
		}
		ss := StepScore{Step: st.Step, Name: st.Name, Action: st.Action, Techniques: st.Techniques,
			Succeeded: st.Succeeded, Complete: st.Complete}
		first := time.Time{}
		for _, j := range credited[i] {
			a := &as[j]
			ss.Seen = true
			if a.Log {
				continue
			}
			ss.Alerts++
			if first.IsZero() {
				first = a.Time
			}
			if !slices.Contains(ss.Rules, a.Rule) {
				ss.Rules = append(ss.Rules, a.Rule)
			}
			for _, t := range st.Techniques {
				if namesTechnique(a.Techniques, t) && !slices.Contains(ss.Tagged, t) {
					ss.Tagged = append(ss.Tagged, t)
				}
			}
		}
		switch {
		case ss.Alerts > 0:
			ss.Status = Detected
			ss.Latency = max(0, first.Sub(st.Start))
			ss.Bucket = Bucket(ss.Latency)
		case cfg.Dedup > 0 && alertedBefore(st, as, cfg.Dedup):
			ss.Status = Repeat
		case !st.Complete:
			ss.Status = Lost
		default:
			ss.Status = Missed
		}
		sc.Totals.Steps++
		switch ss.Status {
		case Detected:
			sc.Totals.Detected++
		case Missed:
			sc.Totals.Missed++
		case Repeat:
			sc.Totals.Repeat++
		case Lost:
			sc.Totals.Lost++
		}
		if ss.Seen {
			sc.Totals.Seen++
		}
		sc.Steps = append(sc.Steps, ss)
	}
	for j, a := range as {
		if !used[j] && !a.Log {
			sc.Unmatched++
			if sc.FalseRules == nil {
				sc.FalseRules = map[string]int{}
			}
			sc.FalseRules[a.Rule]++
		}
	}
	sc.Totals.Share = share(sc.Totals)
	return sc
}

// alertedBefore reports whether an alert between the step's addresses (any
// ports) came within d before the step started.
func alertedBefore(st *StepLabel, as []Alert, d time.Duration) bool {
	f := flowsOf(st)
	if f.wide && f.dst.Bits() < f.dst.Addr().BitLen() {
		return false // a sweep: a detector alerts per pair, and the pairs are new
	}
	for i := range f.pairs {
		f.pairs[i] = endpoints{netip.AddrPortFrom(f.pairs[i].a.Addr(), 0), netip.AddrPortFrom(f.pairs[i].b.Addr(), 0)}
	}
	f.dstPort = 0
	from := st.Start.Add(-d)
	for _, a := range as {
		if !a.Log && !a.Time.Before(from) && a.Time.Before(st.Start.Add(-alertLead)) && f.match(a.Src, 0, a.Dst, 0) {
			return true
		}
	}
	return false
}

// namesTechnique reports whether ids name technique t, by its established
// id or the id ATT&CK v19 gave it.
func namesTechnique(ids []string, t string) bool {
	v19 := scenario.V19[t]
	for _, id := range ids {
		if id == t || (v19 != "" && id == v19) {
			return true
		}
	}
	return false
}

// Summary is the golden summary: one line per technique with its status
// and latency bucket, then the totals.
func (r *Report) Summary() string {
	var b []byte
	b = fmt.Appendf(b, "# technique status bucket\n")
	for _, t := range r.Techniques {
		bucket := t.Bucket
		if bucket == "" {
			bucket = "-"
		}
		b = fmt.Appendf(b, "%s %s %s\n", t.ID, t.Status, bucket)
	}
	return string(b)
}
