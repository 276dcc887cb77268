package validate

import (
	"embed"
	"encoding/json"
	"fmt"
	htmpl "html/template"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	ttmpl "text/template"
	"time"

	"github.com/otrange/otrange/server/report"
)

//go:embed templates
var templates embed.FS

var funcs = map[string]any{
	"pct":  func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	"dur":  fmtDuration,
	"join": func(s []string) string { return strings.Join(s, ", ") },
	"rules": func(m map[string]int) string {
		keys := slices.Sorted(maps.Keys(m))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
		}
		return strings.Join(parts, ", ")
	},
}

var (
	mdTmpl   = ttmpl.Must(ttmpl.New("report.md.tmpl").Funcs(funcs).ParseFS(templates, "templates/report.md.tmpl"))
	htmlTmpl = htmpl.Must(htmpl.New("report.html.tmpl").Funcs(funcs).ParseFS(templates, "templates/report.html.tmpl"))
)

// fmtDuration prints a duration rounded for reading.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// Markdown writes the report as Markdown.
func (r *Report) Markdown(w io.Writer) error { return mdTmpl.Execute(w, r) }

// HTML writes the report as a self-contained HTML page.
func (r *Report) HTML(w io.Writer) error { return htmlTmpl.Execute(w, r) }

// JSON writes the report as indented JSON.
func (r *Report) JSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Colours of the coverage layer.
const (
	colorMissed   = "#e74c3c"
	colorPartial  = "#f4d03f"
	colorDetected = "#58d68d"
)

// Navigator returns an ATT&CK Navigator layer (domain ics-attack) of the
// techniques executed: missed 0, partly detected 1, detected 2 (the same
// layer format as the after-action report's).
func (r *Report) Navigator() report.NavigatorLayer {
	l := report.NavigatorLayer{
		Name:        "otrange validation: " + r.Detector,
		Versions:    map[string]string{"attack": "18", "navigator": "5.1.0", "layer": "4.5"},
		Domain:      "ics-attack",
		Description: fmt.Sprintf("Coverage of %s over otrange's scenario library: techniques executed on the wire, detected or missed.", r.Detector),
		Gradient:    map[string]any{"colors": []string{colorMissed, colorPartial, colorDetected}, "minValue": 0, "maxValue": 2},
		Legend: []report.LegendItem{{Label: "missed", Color: colorMissed}, {Label: "partly detected", Color: colorPartial},
			{Label: "detected", Color: colorDetected}},
		Techniques: []report.LayerTechnique{},
	}
	for _, t := range r.Techniques {
		lt := report.LayerTechnique{TechniqueID: t.ID, Enabled: true,
			Comment: fmt.Sprintf("%s: %d of %d steps detected (%d tagged), %d missed, %d repeat, %d lost",
				t.Status, t.Detected, t.Steps, t.Tagged, t.Missed, t.Repeat, t.Lost)}
		switch t.Status {
		case Detected:
			lt.Score, lt.Color = 2, colorDetected
		case "partial":
			lt.Score, lt.Color = 1, colorPartial
		case Missed:
			lt.Score, lt.Color = 0, colorMissed
		default:
			lt.Enabled = false
		}
		l.Techniques = append(l.Techniques, lt)
	}
	return l
}

// WriteReports writes report.md, report.html, report.json and
// navigator.json in dir.
func (r *Report) WriteReports(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, fn := range map[string]func(io.Writer) error{
		"report.md": r.Markdown, "report.html": r.HTML, "report.json": r.JSON,
		"navigator.json": func(w io.Writer) error {
			b, err := json.MarshalIndent(r.Navigator(), "", "  ")
			if err != nil {
				return err
			}
			_, err = w.Write(append(b, '\n'))
			return err
		},
	} {
		if err := writeFile(filepath.Join(dir, name), fn); err != nil {
			return err
		}
	}
	return nil
}
