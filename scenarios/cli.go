package scenario

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"
)

// The functions behind `otrange scenario lint|list|show`: each writes to w.

// WriteLint lints the given files (a directory stands for its *.yaml files;
// none: the built-in library) against cat (nil: the default plant) and
// writes every finding, then a one-line summary. It returns the number of
// errors found; err is for files that could not be read.
func WriteLint(w io.Writer, cat Catalog, paths ...string) (errors int, err error) {
	type file struct {
		name string
		data []byte
	}
	var files []file
	if len(paths) == 0 {
		names, gerr := fsGlob()
		if gerr != nil {
			return 0, gerr
		}
		for _, n := range names {
			data, rerr := libraryFS.ReadFile(n)
			if rerr != nil {
				return 0, rerr
			}
			files = append(files, file{n, data})
		}
	}
	for _, p := range paths {
		fi, serr := os.Stat(p)
		if serr != nil {
			return 0, serr
		}
		names := []string{p}
		if fi.IsDir() {
			names, _ = filepath.Glob(filepath.Join(p, "*.yaml"))
			slices.Sort(names)
		}
		for _, n := range names {
			data, rerr := readLimited(n)
			if rerr != nil {
				return 0, rerr
			}
			files = append(files, file{n, data})
		}
	}
	warnings := 0
	for _, f := range files {
		_, diags := Lint(f.name, f.data, cat)
		for _, d := range diags {
			if d.Severity == SevError {
				errors++
			} else {
				warnings++
			}
			fmt.Fprintln(w, d.Error())
		}
	}
	fmt.Fprintf(w, "%d %s: %d %s, %d %s\n", len(files), plural(len(files), "file", "files"),
		errors, plural(errors, "error", "errors"), warnings, plural(warnings, "warning", "warnings"))
	return errors, nil
}

func fsGlob() ([]string, error) {
	var out []string
	entries, err := libraryFS.ReadDir("library")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			out = append(out, "library/"+e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

func readLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxFileSize+1))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// WriteList writes the built-in library as a table.
func WriteList(w io.Writer) error {
	list, err := List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTITLE\tPHASES\tSTEPS\tTECHNIQUES")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", s.ID, s.Title, s.Phases, s.Steps, strings.Join(s.Techniques, " "))
	}
	return tw.Flush()
}

// WriteShow writes a readable rendering of a scenario: its references,
// roles, and each phase's questions and steps with their timing, action,
// injects, expectations and preventions.
func WriteShow(w io.Writer, s *Scenario) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s — %s\n", s.ID, s.Title)
	fmt.Fprintf(&b, "%s\n\n", wrap(s.Summary, 100, ""))
	fmt.Fprintf(&b, "Attacker:   %s\n", s.SourceAddr())
	fmt.Fprintf(&b, "Roles:      %s\n", strings.Join(s.Roles, ", "))
	ts := make([]string, len(s.Techniques))
	for i, t := range s.Techniques {
		ts[i] = t.String()
	}
	fmt.Fprintf(&b, "Techniques: %s\n", strings.Join(ts, ", "))
	fmt.Fprintf(&b, "References:\n")
	for _, r := range s.References {
		fmt.Fprintf(&b, "  - %s\n    %s\n", r.Title, r.URL)
	}
	for pi, ph := range s.Phases {
		fmt.Fprintf(&b, "\nPhase %d: %s\n", pi+1, ph.Name)
		if ph.Description != "" {
			fmt.Fprintf(&b, "%s\n", wrap(ph.Description, 100, "  "))
		}
		if len(ph.Questions) > 0 {
			fmt.Fprintf(&b, "  Discussion:\n")
			for _, q := range ph.Questions {
				fmt.Fprintf(&b, "%s\n", wrapHang(q, 100, "    - ", "      "))
			}
		}
		for i := range ph.Steps {
			showStep(&b, s, &ph.Steps[i])
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

func showStep(b *bytes.Buffer, s *Scenario, st *Step) {
	fmt.Fprintf(b, "\n  [%s] %s: %s\n", timing(st), st.ID, st.Name)
	target := st.Target
	if a, ok := DefaultAddresses()[target]; ok {
		target += " (" + a + ")"
	}
	line := "    " + st.Action
	if target != "" {
		line += " → " + target
	}
	if st.Action != "inject" && st.Action != "wait" {
		line += "  from " + s.StepSource(st)
	}
	fmt.Fprintln(b, line)
	if st.Params != nil {
		fmt.Fprintf(b, "    params: %s\n", flow(st.Params))
	}
	if ids := st.TechniqueIDs(); len(ids) > 0 {
		fmt.Fprintf(b, "    techniques: %s\n", strings.Join(ids, ", "))
	}
	if st.Description != "" {
		fmt.Fprintf(b, "%s\n", wrap(st.Description, 100, "    "))
	}
	for _, role := range injectOrder(s, st) {
		in := st.Injects[role]
		fmt.Fprintf(b, "%s\n", wrap(role+": "+in.Text, 100, "    > "))
		if a := in.Attachment; a != nil {
			fmt.Fprintf(b, "    > attachment %s (%s, %d bytes)\n", a.Name, a.ContentType, len(a.Content))
		}
	}
	if e := st.Expect; e != nil {
		for _, d := range e.Detections {
			what := "rule " + d.Rule
			if d.Technique != "" {
				what = "technique " + d.Technique
			}
			fmt.Fprintf(b, "    expect detection: %s within %s\n", what, d.Within)
		}
		for _, c := range e.Consequences {
			where := ""
			if c.Where != "" {
				where = " at " + c.Where
			}
			within := ""
			if c.Within != 0 {
				within = " within " + c.Within.String()
			}
			fmt.Fprintf(b, "    expect consequence: %s%s%s\n", c.Condition, where, within)
		}
	}
	for _, p := range st.PreventedBy {
		a := p.Control(s.StepSource(st))
		fmt.Fprintf(b, "    prevented by: %s\n", a)
	}
	if st.Notes != "" {
		fmt.Fprintf(b, "%s\n", wrap("facilitator: "+st.Notes, 100, "    "))
	}
}

func timing(st *Step) string {
	switch {
	case st.At != nil:
		return "at " + st.At.String()
	case st.After != "":
		if st.Delay != 0 {
			return "after " + st.After + " +" + st.Delay.String()
		}
		return "after " + st.After
	case st.On != nil:
		t := "on "
		if st.On.Alert != "" {
			t += "alert " + st.On.Alert
		} else {
			t += "action " + st.On.Action
		}
		if st.Delay != 0 {
			t += " +" + st.Delay.String()
		}
		if st.On.Timeout != 0 {
			t += ", timeout " + st.On.Timeout.String()
		}
		return t
	}
	return "?"
}

// injectOrder lists the step's inject roles in the scenario's role order.
func injectOrder(s *Scenario, st *Step) []string {
	var out []string
	for _, r := range s.Roles {
		if _, ok := st.Injects[r]; ok {
			out = append(out, r)
		}
	}
	for r := range st.Injects {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// flow renders v as one line of flow-style YAML.
func flow(v any) string {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	setFlow(&n)
	out, err := yaml.Marshal(&n)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(string(out))
}

func setFlow(n *yaml.Node) {
	n.Style |= yaml.FlowStyle
	for _, c := range n.Content {
		setFlow(c)
	}
}

// wrap breaks text into lines of at most width, each starting with indent.
func wrap(text string, width int, indent string) string {
	return wrapHang(text, width, indent, indent)
}

// wrapHang is wrap with a different indent after the first line.
func wrapHang(text string, width int, first, rest string) string {
	var lines []string
	indent := first
	for _, para := range strings.Split(strings.TrimSpace(text), "\n") {
		line := indent
		for _, word := range strings.Fields(para) {
			if len(line) > len(indent) && len(line)+1+len(word) > width {
				lines = append(lines, line)
				indent = rest
				line = indent
			}
			if len(line) > len(indent) {
				line += " "
			}
			line += word
		}
		lines = append(lines, line)
		indent = rest
	}
	return strings.Join(lines, "\n")
}
