package report

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	htmpl "html/template"
	"io"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/otrange/otrange/server/store"
)

//go:embed report.md.tmpl
var mdSource string

//go:embed report.html.tmpl
var htmlSource string

// Report is the after-action report of one exercise.
type Report struct {
	Score      *Score
	Objectives []string
	Strengths  []Finding
	Improve    []Finding
	Generated  time.Time
}

// New builds the report from a score. objectives come from the scenario.
func New(s *Score, objectives []string, generated time.Time) *Report {
	r := &Report{Score: s, Objectives: objectives, Generated: generated}
	r.Strengths, r.Improve = s.Findings()
	return r
}

var funcs = map[string]any{
	"clock": clock,
	"join":  func(ss []string) string { return strings.Join(ss, ", ") },
	"opt": func(d *time.Duration) string {
		if d == nil {
			return "—"
		}
		return clock(*d)
	},
	"pct": func(a, b int) string {
		if b == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%d%%", 100*a/b)
	},
	"yes": func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	},
	"inc": func(i int) int { return i + 1 },
	"md":  mdEscape,
}

var (
	mdTmpl   = template.Must(template.New("md").Funcs(funcs).Parse(mdSource))
	htmlTmpl = htmpl.Must(htmpl.New("html").Funcs(funcs).Parse(htmlSource))
)

// mdEscape keeps participant text from breaking Markdown tables.
func mdEscape(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ")
	return r.Replace(s)
}

// Markdown writes the report in Markdown.
func (r *Report) Markdown(w io.Writer) error { return mdTmpl.Execute(w, r) }

// HTML writes the report as one self-contained HTML page with the timeline.
func (r *Report) HTML(w io.Writer) error {
	var svg bytes.Buffer
	if err := r.Score.TimelineSVG(&svg); err != nil {
		return err
	}
	return htmlTmpl.Execute(w, struct {
		*Report
		SVG htmpl.HTML
	}{r, htmpl.HTML(svg.String())}) // the SVG escapes every text it holds
}

// lanes of the timeline picture, top to bottom.
var lanes = []string{"step", "alert", "action", "decision", "inject", "consequence"}

var laneColor = map[string]string{
	"step": "#c0392b", "alert": "#d68910", "action": "#1e8449", "decision": "#2874a6", "inject": "#7d3c98", "consequence": "#000000",
}

// TimelineSVG draws the exercise as lanes of marks along the clock.
func (s *Score) TimelineSVG(w io.Writer) error {
	const left, width, laneH, top = 110, 900, 34, 20
	end := max(s.Duration, time.Minute)
	x := func(d time.Duration) float64 { return left + float64(width)*float64(d)/float64(end) }
	h := top + laneH*len(lanes) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`, left+width+20, h, left+width+20, h)
	b.WriteString("\n<title>Exercise timeline</title>\n")
	for i, l := range lanes {
		y := top + laneH*i
		fmt.Fprintf(&b, `<text x="4" y="%d">%s</text><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ccc"/>`+"\n",
			y+laneH/2+4, xmlEscape(l), left, y+laneH/2, left+width, y+laneH/2)
	}
	for _, e := range s.Timeline {
		i := slices.Index(lanes, e.Kind)
		if i < 0 {
			continue
		}
		y := top + laneH*i + laneH/2
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%d" r="5" fill="%s"><title>%s %s</title></circle>`+"\n",
			x(e.Clock), y, laneColor[e.Kind], clock(e.Clock), xmlEscape(e.Text))
	}
	axisY := top + laneH*len(lanes) + 12
	step := niceStep(end)
	for t := time.Duration(0); t <= end; t += step {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x(t), axisY, clock(t))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func niceStep(end time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour} {
		if end/s <= 10 {
			return s
		}
	}
	return 4 * time.Hour
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	htmpl.HTMLEscape(&b, []byte(s))
	return b.String()
}

// NavigatorLayer is an ATT&CK Navigator layer file (format 4.5).
type NavigatorLayer struct {
	Name         string            `json:"name"`
	Versions     map[string]string `json:"versions"`
	Domain       string            `json:"domain"`
	Description  string            `json:"description"`
	Techniques   []LayerTechnique  `json:"techniques"`
	Gradient     map[string]any    `json:"gradient"`
	Legend       []LegendItem      `json:"legendItems"`
	HideDisabled bool              `json:"hideDisabled"`
}

// LayerTechnique marks one technique.
type LayerTechnique struct {
	TechniqueID string `json:"techniqueID"`
	Score       int    `json:"score"`
	Color       string `json:"color"`
	Comment     string `json:"comment"`
	Enabled     bool   `json:"enabled"`
}

// LegendItem explains a colour.
type LegendItem struct {
	Label string `json:"label"`
	Color string `json:"color"`
}

// Colours of the layer: executed only, detected, responded to.
const (
	colorExecuted  = "#e74c3c"
	colorDetected  = "#f4d03f"
	colorResponded = "#58d68d"
)

// Navigator builds the layer: every technique executed, detected or
// responded to, scored 1, 2 or 3.
func (s *Score) Navigator() NavigatorLayer {
	l := NavigatorLayer{
		Name:        "otrange: " + s.Exercise.Title,
		Versions:    map[string]string{"attack": "18", "navigator": "5.1.0", "layer": "4.5"},
		Domain:      "ics-attack",
		Description: fmt.Sprintf("Exercise %s (scenario %s): techniques executed, detected and responded to.", s.Exercise.ID, s.Exercise.Scenario),
		Gradient:    map[string]any{"colors": []string{colorExecuted, colorDetected, colorResponded}, "minValue": 1, "maxValue": 3},
		Legend: []LegendItem{{"executed, not detected", colorExecuted}, {"detected", colorDetected},
			{"responded to", colorResponded}},
	}
	all := map[string]bool{}
	for t := range s.executed {
		all[t] = true
	}
	for t := range s.alertsByTechnique {
		all[t] = true
	}
	ids := make([]string, 0, len(all))
	for t := range all {
		ids = append(ids, t)
	}
	slices.Sort(ids)
	for _, t := range ids {
		lt := LayerTechnique{TechniqueID: t, Enabled: true}
		var notes []string
		if s.executed[t] {
			lt.Score, lt.Color = 1, colorExecuted
			notes = append(notes, "executed")
		}
		if s.alertsByTechnique[t] {
			lt.Score, lt.Color = 2, colorDetected
			notes = append(notes, "detected")
		}
		if s.responded[t] {
			lt.Score, lt.Color = 3, colorResponded
			notes = append(notes, "responded to")
		}
		lt.Comment = strings.Join(notes, ", ")
		l.Techniques = append(l.Techniques, lt)
	}
	return l
}

// Journal writes every event as one JSON object per line.
func Journal(w io.Writer, events []store.Event) error {
	enc := json.NewEncoder(w)
	for _, ev := range events {
		if err := enc.Encode(ev); err != nil {
			return err
		}
	}
	return nil
}
