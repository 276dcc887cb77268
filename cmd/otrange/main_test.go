package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDispatchUsage(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{"no command", nil, 2, "Commands:", ""},
		{"help", []string{"help"}, 0, "Commands:", ""},
		{"help for a command", []string{"help", "sensor"}, 0, "-modbus-ports", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"unknown flag", []string{"run", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{"bad number", []string{"plant", "-speed", "fast"}, 2, "", `invalid value "fast"`},
		{"plant check", []string{"plant", "-check"}, 0, "Riverside Water Treatment: 8 devices, valid", ""},
		{"missing plant file", []string{"plant", "-check", "-config", "/nonexistent/plant.yaml"}, 1, "", "no such file"},
		{"stray argument", []string{"run", "extra"}, 2, "", `unexpected argument "extra"`},
		{"sensor needs a source", []string{"sensor"}, 2, "", "exactly one of -i IFACE or -r FILE"},
		{"sensor bad port", []string{"sensor", "-r", "x.pcap", "-modbus-ports", "502,http"}, 2, "", `bad port "http"`},
		{"attack needs an action", []string{"attack"}, 2, "write-setpoint", "an action is required"},
		{"attack unknown action", []string{"attack", "nuke"}, 2, "", `unknown action "nuke"`},
		{"attack value too big", []string{"attack", "write-setpoint", "-value", "70000"}, 2, "", "0-65535"},
		{"run help", []string{"run", "--help"}, 0, "-data", ""},
		{"bad log level", []string{"run", "-log-level", "loud"}, 2, "", `bad log level "loud"`},
		{"version", []string{"version"}, 0, "otrange", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := dispatch(context.Background(), tc.args, &out, &errOut)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), tc.inStdout) {
				t.Fatalf("stdout %q lacks %q", out.String(), tc.inStdout)
			}
			if !strings.Contains(errOut.String(), tc.inStderr) {
				t.Fatalf("stderr %q lacks %q", errOut.String(), tc.inStderr)
			}
			if tc.code == 2 && tc.inStderr != "" && strings.Count(strings.TrimSpace(errOut.String()), "\n") != 0 {
				t.Fatalf("usage error is more than one line: %q", errOut.String())
			}
		})
	}
}

func TestAttackRefusesOutsideTargets(t *testing.T) {
	for _, target := range []string{"10.0.0.1:502", "192.168.1.10:502", "8.8.8.8:502", "[2001:db8::1]:502"} {
		var out, errOut bytes.Buffer
		code := dispatch(context.Background(), []string{"attack", "write-setpoint", "-target", target}, &out, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), "outside the range") {
			t.Fatalf("target %s: exit %d, stderr %q", target, code, errOut.String())
		}
	}
}

// TestAttackRefusalInEmptyNetns runs the real binary inside an empty network
// namespace (unshare -n: nothing there can reach any other machine, even if
// the guard were broken) with a private /etc/hosts that maps a name outside
// the range. Both a literal outside address and that name are refused by the
// guard itself, with its own message, not by a failed connection.
func TestAttackRefusalInEmptyNetns(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err == nil && os.Geteuid() != 0 {
		err = os.ErrPermission
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("unshare as root is needed under CI: %v", err)
		}
		t.Skipf("needs unshare as root: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "otrange")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost\n10.9.8.7 plc.evil.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ target, want string }{
		{"10.0.0.1:502", "10.0.0.1: outside the range"},
		{"plc.evil.example:502", `"plc.evil.example" resolves to 10.9.8.7: outside the range`},
	}
	for _, tc := range cases {
		script := `mount --bind "$1" /etc/hosts && exec "$2" attack write-setpoint -target "$3"`
		cmd := exec.Command(unshare, "-n", "-m", "sh", "-c", script, "sh", hosts, bin, tc.target)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 {
			t.Fatalf("%s: %v\nstdout %s\nstderr %s", tc.target, err, stdout.String(), stderr.String())
		}
		if !strings.Contains(stderr.String(), "attack refused: "+tc.want) {
			t.Fatalf("%s: stderr %q lacks %q", tc.target, stderr.String(), tc.want)
		}
	}
}

// TestPlantDefinitionErrorsHaveLines: a bad plant file is refused with every
// error at its file and line.
func TestPlantDefinitionErrorsHaveLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	bad := "plant: {name: x, seed: 1, tick: 100ms}\ndevices:\n  - name: plc\n    kind: plc\n    address: 10.1.2.3\n    colour: blue\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := dispatch(context.Background(), []string{"plant", "-check", "-config", path}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{path + ":5:", "10.1.2.3", path + ":6:", `unknown key "colour"`} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
}

func TestLibraryCommands(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("id: x\ntitle: y\nsummary: z\nphases:\n  - name: p\n    stepz: []\n"), 0o644)
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		inStdout string
	}{
		{"scenario list", []string{"scenario", "list"}, 0, "oldsmar-setpoint"},
		{"scenario show", []string{"scenario", "show", "triton-sis"}, 0, "sis"},
		{"scenario lint library", []string{"scenario", "lint"}, 0, "0 errors"},
		{"scenario lint bad", []string{"scenario", "lint", bad}, 1, bad + ":6:5:"},
		{"scenario unknown", []string{"scenario", "show", "nope"}, 1, ""},
		{"playbook list", []string{"playbook", "list"}, 0, "plc-unauthorized-write"},
		{"playbook render", []string{"playbook", "render", "-format", "html", "loss-of-view"}, 0, "<html"},
		{"playbook lint bad", []string{"playbook", "lint", bad}, 1, bad + ":"},
		{"playbook bad format", []string{"playbook", "render", "-format", "pdf", "loss-of-view"}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := dispatch(context.Background(), tc.args, &out, &errOut); code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), tc.inStdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.inStdout, out.String())
			}
		})
	}
}
