package playbooks

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxDiagnostics bounds the findings kept for one file; the rest are
// counted in Errors.Dropped.
const MaxDiagnostics = 100

// Diagnostic is one finding of the loader or linter, at a place in a file.
type Diagnostic struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Msg     string `json:"message"`
	Warning bool   `json:"warning,omitempty"`
}

// String renders the finding as "file:line:col: message" (with "warning: "
// before the message of a warning).
func (d Diagnostic) String() string {
	w := ""
	if d.Warning {
		w = "warning: "
	}
	return fmt.Sprintf("%s:%d:%d: %s%s", d.File, d.Line, d.Col, w, d.Msg)
}

// Errors is every error found in one playbook file, sorted by position.
type Errors struct {
	List []Diagnostic
	// Dropped counts the findings beyond MaxDiagnostics.
	Dropped int
}

func (e *Errors) Error() string {
	var b strings.Builder
	for i, d := range e.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
	}
	if e.Dropped > 0 {
		fmt.Fprintf(&b, "\n... and %d more", e.Dropped)
	}
	return b.String()
}

// AsErrors returns the findings inside err when it comes from the loader.
func AsErrors(err error) (*Errors, bool) {
	var e *Errors
	ok := errors.As(err, &e)
	return e, ok
}

// diags collects the findings of one file.
type diags struct {
	file    string
	list    []Diagnostic
	dropped int
}

func (d *diags) at(line, col int, warn bool, format string, args ...any) {
	if len(d.list) >= MaxDiagnostics {
		d.dropped++
		return
	}
	if line < 1 {
		line = 1
	}
	if col < 1 {
		col = 1
	}
	d.list = append(d.list, Diagnostic{File: d.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...), Warning: warn})
}

func (d *diags) errf(n *yaml.Node, format string, args ...any) {
	d.at(n.Line, n.Column, false, format, args...)
}

func (d *diags) warnf(n *yaml.Node, format string, args ...any) {
	d.at(n.Line, n.Column, true, format, args...)
}

func sortDiags(l []Diagnostic) {
	slices.SortStableFunc(l, func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col),
			cmp.Compare(a.Msg, b.Msg))
	})
}

// result splits the findings into errors and warnings, sorted.
func (d *diags) result() (errs *Errors, warns []Diagnostic) {
	var el []Diagnostic
	for _, x := range d.list {
		if x.Warning {
			warns = append(warns, x)
		} else {
			el = append(el, x)
		}
	}
	sortDiags(el)
	sortDiags(warns)
	if len(el) == 0 {
		return nil, warns
	}
	return &Errors{List: el, Dropped: d.dropped}, warns
}
