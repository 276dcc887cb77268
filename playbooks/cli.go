package playbooks

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteList writes one line per playbook (id, steps, gates, what it
// answers, title) for `otrange playbook list`.
func WriteList(w io.Writer, pbs []*Playbook) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTEPS\tGATES\tANSWERS\tTITLE")
	for _, pb := range pbs {
		steps, gates := 0, 0
		for _, ps := range pb.Steps() {
			steps++
			if ps.Step.Gate != nil {
				gates++
			}
		}
		ans := slices.Concat(pb.Answers.Rules, pb.Answers.Techniques)
		if len(ans) > 6 {
			ans = append(ans[:6:6], "…")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", pb.ID, steps, gates, strings.Join(ans, " "), pb.Title)
	}
	return tw.Flush()
}

// WriteShow writes one playbook for `otrange playbook show` (its Markdown
// handout, which reads well in a terminal).
func WriteShow(w io.Writer, pb *Playbook) error { return RenderMarkdown(w, pb) }

// Lint loads every playbook file named in paths (a directory means its
// *.yaml and *.yml files) and writes each finding as "file:line:col:
// message", then a summary line, for `otrange playbook lint`. It returns the
// number of errors found (warnings not counted) and an error only when a
// path cannot be read.
func Lint(w io.Writer, paths []string, opts Options) (int, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return 0, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		for _, pat := range []string{"*.yaml", "*.yml"} {
			m, err := fs.Glob(os.DirFS(p), pat)
			if err != nil {
				return 0, err
			}
			for _, f := range m {
				files = append(files, filepath.Join(p, f))
			}
		}
	}
	slices.Sort(files)
	nerr, nwarn := 0, 0
	for _, f := range files {
		pb, err := Load(f, opts)
		if e, ok := AsErrors(err); ok {
			nerr += len(e.List) + e.Dropped
			fmt.Fprintln(w, e.Error())
			continue
		}
		if err != nil {
			return nerr, err
		}
		for _, d := range pb.Warnings {
			nwarn++
			fmt.Fprintln(w, d)
		}
	}
	fmt.Fprintf(w, "%d file(s), %d error(s), %d warning(s)\n", len(files), nerr, nwarn)
	return nerr, nil
}
