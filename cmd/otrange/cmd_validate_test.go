package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/capture"
	"github.com/otrange/otrange/validate"
)

func TestValidateUsage(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown detector", []string{"-detector", "snort:x"}, "unknown detector"},
		{"file detector without a dataset", []string{"-detector", "eve:alerts.json"}, "export a dataset first"},
		{"speed", []string{"-speed", "0"}, "-speed"},
		{"parallel", []string{"-parallel", "0"}, "-parallel"},
		{"unknown scenario", []string{"-scenarios", "nope"}, "nope"},
		{"from with scenarios", []string{"-from", "x", "-scenarios", "ot-recon"}, "-from"},
		{"argument", []string{"extra"}, "unexpected argument"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := runValidate(context.Background(), c.args, &out, &errb)
			if !isUsage(err) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v; want a usage error about %q", err, c.want)
			}
		})
	}
	var out bytes.Buffer
	if err := runValidate(context.Background(), []string{"-h"}, &out, &out); err != errHelp || !strings.Contains(out.String(), "-detector") {
		t.Errorf("help: %v\n%s", err, out.String())
	}
}

func TestValidateProgressLine(t *testing.T) {
	l := validateProgressLine(validate.Progress{Done: 4, Total: 8, Run: "ot-recon", Phase: "start"}, 3*time.Second)
	if !strings.Contains(l, "[============            ] 4/8") || !strings.Contains(l, "running ot-recon") {
		t.Errorf("progress line %q", l)
	}
}

// TestValidateCommand runs one scenario with -export, then scores the
// dataset again from its folder: with the built-in sensor, and with an
// EVE file holding one alert on the first write's flow: that write is
// detected, the later rewrite of the same PLC is a repeat, the rest missed.
func TestValidateCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a scenario against the plant")
	}
	if src, err := capture.OpenLive("lo", 0); err != nil {
		if errors.Is(err, capture.ErrPermission) && os.Getenv("CI") == "" {
			t.Skip(err)
		}
		t.Fatal(err)
	} else {
		src.Close()
	}
	dir := t.TempDir()
	data, reports := filepath.Join(dir, "dataset"), filepath.Join(dir, "reports")
	var out, errb bytes.Buffer
	err := runValidate(context.Background(), []string{"-scenarios", "frostygoop-writes", "-subnet", "130", "-benign", "1s",
		"-export", data, "-out", reports, "-progress=false"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	t.Log(out.String())
	if !regexpMatch(out.String(), `frostygoop-writes\s+5\s+5\s+0\s+0\s+0\s+100%`) {
		t.Errorf("summary:\n%s", out.String())
	}
	for _, f := range []string{"dataset/README.md", "dataset/labels.json", "dataset/labels.csv", "dataset/frames.csv",
		"dataset/frostygoop-writes.pcap", "dataset/benign.pcap", "reports/report.md", "reports/report.html",
		"reports/report.json", "reports/navigator.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	ds, err := validate.ReadLabels(data)
	if err != nil {
		t.Fatal(err)
	}
	var write *validate.StepLabel
	for i, s := range ds.Runs[0].Steps {
		if s.Action == "modbus.write" {
			write = &ds.Runs[0].Steps[i]
			break
		}
	}
	if write == nil || len(write.Flows) == 0 {
		t.Fatalf("no labelled write: %+v", ds.Runs[0].Steps)
	}
	src, dst, _ := strings.Cut(write.Flows[0], ">")
	sa, sp, _ := strings.Cut(src, ":")
	da, dp, _ := strings.Cut(dst, ":")
	eve := fmt.Sprintf(`{"timestamp":"%s","event_type":"alert","src_ip":"%s","src_port":%s,"dest_ip":"%s","dest_port":%s,"alert":{"signature_id":1,"signature":"ICS write","metadata":{"mitre_technique_id":["T0855"]}}}`+"\n",
		write.Start.Add(time.Millisecond).Format("2006-01-02T15:04:05.000000-0700"), sa, sp, da, dp)
	evePath := filepath.Join(dir, "eve.json")
	if err := os.WriteFile(evePath, []byte(eve), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runValidate(context.Background(), []string{"-from", data, "-detector", "eve:" + evePath, "-out", reports}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !regexpMatch(out.String(), `frostygoop-writes\s+5\s+1\s+3\s+1\s+0\s+25%`) {
		t.Errorf("EVE summary:\n%s", out.String())
	}
	var rep validate.Report
	b, _ := os.ReadFile(filepath.Join(reports, "report.json"))
	if err := json.Unmarshal(b, &rep); err != nil || rep.Detector != "eve:eve.json" || rep.Input.Alerts != 1 {
		t.Errorf("report.json: %v %+v", err, rep)
	}
}

func regexpMatch(s, expr string) bool { return regexp.MustCompile(expr).MatchString(s) }
