package plantdef

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem in a definition, at a position in its file.
type Error struct {
	File   string
	Line   int // 1-based
	Column int // 1-based; 0 when the YAML reader gave only a line
	Msg    string
}

func (e Error) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// ErrorList is every problem found in a definition, sorted by position. It
// is the error returned by Parse, Load and DecodeStrict; use errors.As to get
// the list.
type ErrorList []Error

func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// MaxErrors bounds how many errors one parse reports; the rest are counted in
// a final error.
const MaxErrors = 100

// collector gathers errors for one file.
type collector struct {
	file    string
	errs    ErrorList
	dropped int
}

func (c *collector) at(line, col int, format string, args ...any) {
	if len(c.errs) >= MaxErrors {
		c.dropped++
		return
	}
	if line < 1 {
		line, col = 1, 1
	}
	c.errs = append(c.errs, Error{File: c.file, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)})
}

func (c *collector) node(n *yaml.Node, format string, args ...any) {
	c.at(n.Line, n.Column, format, args...)
}

// err returns the sorted list, or nil when there is nothing to report.
func (c *collector) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	l := slices.Clone(c.errs)
	slices.SortStableFunc(l, func(a, b Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column), strings.Compare(a.Msg, b.Msg))
	})
	l = slices.Compact(l)
	if c.dropped > 0 {
		last := l[len(l)-1]
		l = append(l, Error{File: c.file, Line: last.Line, Column: last.Column,
			Msg: fmt.Sprintf("too many errors: %d more not shown", c.dropped)})
	}
	return l
}
