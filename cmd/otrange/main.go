// Command otrange is an OT cyber range for incident-response exercises: a
// virtual water plant speaking real Modbus/TCP, scripted attacks, a passive
// OT sensor and an exercise server with a browser UI, in one binary.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand: it parses its own flags and runs.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"run", "start the whole range: plant, sensor, server and UI", runRange},
		{"plant", "run the virtual plant alone", runPlant},
		{"sensor", "run the passive OT sensor on an interface or a capture file", runSensor},
		{"attack", "send one attack against the range", runAttack},
		{"scenario", "lint, list and show attack scenarios", runScenario},
		{"playbook", "lint, list, show and render joint IT/OT response playbooks", runPlaybook},
		{"validate", "score a detector against the scenario library (labelled captures, reports)", runValidate},
		{"version", "print the version", func(_ context.Context, _ []string, out, _ io.Writer) error {
			fmt.Fprintln(out, "otrange", version)
			return nil
		}},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// dispatch runs the subcommand named by args[0] and returns the exit code:
// 0 success, 1 failure, 2 bad usage.
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return dispatch(ctx, []string{args[1], "--help"}, stdout, stderr)
		}
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil || err == errHelp:
			return 0
		case isUsage(err):
			fmt.Fprintf(stderr, "otrange %s: %v (see 'otrange %s --help')\n", c.name, err, c.name)
			return 2
		default:
			fmt.Fprintf(stderr, "otrange %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "otrange: unknown command %q (see 'otrange help')\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "otrange — an OT cyber range for incident-response exercises")
	fmt.Fprintln(w, "\nUsage: otrange <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "  help     show help for a command: otrange help <command>")
}
