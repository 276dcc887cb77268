package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
)

// errHelp is returned after printing a command's help.
var errHelp = errors.New("help shown")

// usageError is a bad flag or argument.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// cmdFlags is one command's flag set and its help text.
type cmdFlags struct {
	*flag.FlagSet
	help func()
}

// newFlags builds a FlagSet that prints help to stdout on -h and reports
// errors as one line instead of the flag package's usage dump.
func newFlags(name, synopsis string, stdout io.Writer) *cmdFlags {
	fs := flag.NewFlagSet("otrange "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // the flag package calls it on every error; parse prints help
	return &cmdFlags{FlagSet: fs, help: func() {
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "Usage: otrange %s\n\n", synopsis)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}}
}

// parse parses args and turns errors into usage errors; -h prints help.
func parse(fs *cmdFlags, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.help()
			return errHelp
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// parseArgs is parse for commands that take positional arguments after
// their flags.
func parseArgs(fs *cmdFlags, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.help()
			return errHelp
		}
		return usageError{err}
	}
	return nil
}

// envOr returns the environment variable's value, or def.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// addrFlag is a netip.Addr flag.
type addrFlag struct{ a *netip.Addr }

func (f addrFlag) String() string {
	if f.a == nil || !f.a.IsValid() {
		return ""
	}
	return f.a.String()
}

func (f addrFlag) Set(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("not an IP address: %q", s)
	}
	*f.a = a
	return nil
}

// addrListFlag is a comma-separated list of addresses.
type addrListFlag struct{ l *[]netip.Addr }

func (f addrListFlag) String() string {
	if f.l == nil {
		return ""
	}
	s := make([]string, len(*f.l))
	for i, a := range *f.l {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

func (f addrListFlag) Set(v string) error {
	*f.l = nil
	for _, s := range strings.Split(v, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("not an IP address: %q", s)
		}
		*f.l = append(*f.l, a)
	}
	return nil
}

// newLogger logs text to w at the given level name.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("bad log level %q (debug, info, warn, error)", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
