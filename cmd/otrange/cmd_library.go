package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/otrange/otrange/playbooks"
	scenario "github.com/otrange/otrange/scenarios"
	"github.com/otrange/otrange/sensor/rules"
	"github.com/otrange/otrange/simulator"
)

// errFindings reports that a linter found errors (already written out).
var errFindings = errors.New("errors found")

// plantCatalog maps a plant definition's device names to their kinds ("":
// the default plant).
func plantCatalog(path string) (scenario.MapCatalog, error) {
	if path == "" {
		return scenario.DefaultCatalog(), nil
	}
	def, err := simulator.LoadDef(path)
	if err != nil {
		return nil, err
	}
	cat := scenario.MapCatalog{}
	for _, d := range def.Devices {
		cat[d.Name] = string(d.Kind)
	}
	return cat, nil
}

func runScenario(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const help = "Usage: otrange scenario <lint|list|show> [flags] [args]\n\n" +
		"  lint [FILE|DIR...]  check scenario files (none: the built-in library) with file:line:col errors\n" +
		"  list                list the built-in scenarios\n" +
		"  show ID             print a built-in scenario: phases, steps, injects per role, expectations"
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, help)
		if len(args) == 0 {
			return usagef("a subcommand is required")
		}
		return errHelp
	}
	switch args[0] {
	case "lint":
		fs := newFlags("scenario lint", "scenario lint [flags] [FILE|DIR...]\n\nChecks scenario files against a plant's devices.", stdout)
		plant := fs.String("plant", "", "plant definition whose devices the targets must name (default: the embedded plant)")
		if err := parseArgs(fs, args[1:]); err != nil {
			return err
		}
		cat, err := plantCatalog(*plant)
		if err != nil {
			return err
		}
		n, err := scenario.WriteLint(stdout, cat, fs.Args()...)
		if err != nil {
			return err
		}
		if n > 0 {
			return errFindings
		}
		return nil
	case "list":
		if err := parse(newFlags("scenario list", "scenario list\n\nLists the built-in scenarios.", stdout), args[1:]); err != nil {
			return err
		}
		return scenario.WriteList(stdout)
	case "show":
		if len(args) != 2 {
			return usagef("show takes one scenario id (see 'otrange scenario list')")
		}
		s, err := scenario.Get(args[1])
		if err != nil {
			return err
		}
		return scenario.WriteShow(stdout, s)
	}
	return usagef("unknown subcommand %q", args[0])
}

func runPlaybook(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const help = "Usage: otrange playbook <lint|list|show|render> [flags] [args]\n\n" +
		"  lint FILE|DIR...          check playbook files with file:line:col errors\n" +
		"  list                      list the built-in joint IT/OT playbooks\n" +
		"  show ID                   print a built-in playbook (Markdown)\n" +
		"  render -format md|html ID a printable handout"
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, help)
		if len(args) == 0 {
			return usagef("a subcommand is required")
		}
		return errHelp
	}
	find := func(id string) (*playbooks.Playbook, error) {
		lib, err := playbooks.Library(playbooks.Options{})
		if err != nil {
			return nil, err
		}
		pb, ok := playbooks.Find(lib, id)
		if !ok {
			return nil, fmt.Errorf("no built-in playbook %q (see 'otrange playbook list')", id)
		}
		return pb, nil
	}
	switch args[0] {
	case "lint":
		fs := newFlags("playbook lint", "playbook lint [flags] FILE|DIR...\n\nChecks playbook files against a plant's devices.", stdout)
		plant := fs.String("plant", "", "plant definition whose devices range actions must name (default: the embedded plant)")
		if err := parseArgs(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			return usagef("lint takes files or directories")
		}
		cat, err := plantCatalog(*plant)
		if err != nil {
			return err
		}
		n, err := playbooks.Lint(stdout, fs.Args(), playbooks.Options{Catalog: cat, Rules: rules.IDs()})
		if err != nil {
			return err
		}
		if n > 0 {
			return errFindings
		}
		return nil
	case "list":
		lib, err := playbooks.Library(playbooks.Options{})
		if err != nil {
			return err
		}
		return playbooks.WriteList(stdout, lib)
	case "show":
		if len(args) != 2 {
			return usagef("show takes one playbook id (see 'otrange playbook list')")
		}
		pb, err := find(args[1])
		if err != nil {
			return err
		}
		return playbooks.WriteShow(stdout, pb)
	case "render":
		fs := newFlags("playbook render", "playbook render [flags] ID\n\nWrites a printable handout of a built-in playbook.", stdout)
		format := fs.String("format", "md", "md or html")
		if err := parseArgs(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 || (*format != "md" && *format != "html") {
			return usagef("render takes -format md|html and one playbook id")
		}
		pb, err := find(fs.Arg(0))
		if err != nil {
			return err
		}
		return playbooks.Render(stdout, pb, *format)
	}
	return usagef("unknown subcommand %q", args[0])
}
