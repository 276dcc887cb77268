package scenario

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Severity says whether a Diagnostic stops the scenario from loading.
type Severity int

// Severities.
const (
	SevError Severity = iota
	SevWarning
)

func (s Severity) String() string {
	if s == SevWarning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one finding of the linter, at a position in its file.
type Diagnostic struct {
	File     string
	Line     int // 1-based
	Column   int // 1-based
	Severity Severity
	Msg      string
}

// Error formats an error as "file:line:col: message" and a warning as
// "file:line:col: warning: message".
func (d Diagnostic) Error() string {
	if d.Severity == SevWarning {
		return fmt.Sprintf("%s:%d:%d: warning: %s", d.File, d.Line, d.Column, d.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", d.File, d.Line, d.Column, d.Msg)
}

// ErrorList is every error found in a scenario file, sorted by position. It
// is the error Parse and Load return; use errors.As to get the list.
type ErrorList []Diagnostic

func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// MaxDiagnostics bounds how many findings one file reports; the rest are
// counted in a final error.
const MaxDiagnostics = 100

// collector gathers the findings for one file.
type collector struct {
	file    string
	diags   []Diagnostic
	dropped int
}

func (c *collector) add(sev Severity, line, col int, format string, args ...any) {
	if len(c.diags) >= MaxDiagnostics {
		c.dropped++
		return
	}
	if line < 1 {
		line, col = 1, 1
	}
	if col < 1 {
		col = 1
	}
	c.diags = append(c.diags, Diagnostic{File: c.file, Line: line, Column: col, Severity: sev, Msg: fmt.Sprintf(format, args...)})
}

func (c *collector) at(line, col int, format string, args ...any) {
	c.add(SevError, line, col, format, args...)
}

func (c *collector) node(n *yaml.Node, format string, args ...any) {
	c.add(SevError, n.Line, n.Column, format, args...)
}

func (c *collector) warn(n *yaml.Node, format string, args ...any) {
	c.add(SevWarning, n.Line, n.Column, format, args...)
}

// sorted returns every finding sorted by position, duplicates removed, with
// a final note when some were dropped.
func (c *collector) sorted() []Diagnostic {
	l := slices.Clone(c.diags)
	slices.SortStableFunc(l, func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Severity, b.Severity), strings.Compare(a.Msg, b.Msg))
	})
	l = slices.Compact(l)
	if c.dropped > 0 {
		last := Diagnostic{File: c.file, Line: 1, Column: 1}
		if len(l) > 0 {
			last = l[len(l)-1]
		}
		l = append(l, Diagnostic{File: c.file, Line: last.Line, Column: last.Column,
			Msg: fmt.Sprintf("too many findings: %d more not shown", c.dropped)})
	}
	return l
}

// errs returns the errors among the findings as an ErrorList, or nil.
func errs(diags []Diagnostic) error {
	var l ErrorList
	for _, d := range diags {
		if d.Severity == SevError {
			l = append(l, d)
		}
	}
	if len(l) == 0 {
		return nil
	}
	return l
}
