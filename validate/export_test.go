package validate

import (
	"encoding/csv"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestExportLabelsMatchCapture checks the exported dataset against its
// captures: every frame frames.csv labels exists in its capture at the
// labelled time and flow, lies within its step's window on the step's
// addresses, and every step's frames are listed; every network step the
// capture holds whole has frames; the README describes every field.
func TestExportLabelsMatchCapture(t *testing.T) {
	dir, ds := libraryDataset(t)
	if err := WriteReadme(dir, ds); err != nil {
		t.Fatal(err)
	}
	back, err := ReadLabels(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Runs[0].Steps[0].Frames, ds.Runs[0].Steps[0].Frames) || len(back.Runs) != len(ds.Runs) {
		t.Error("labels.json does not read back as written")
	}
	f, err := os.Open(filepath.Join(dir, "frames.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != strings.Join(framesHeader, ",") {
		t.Fatalf("frames.csv header %v", rows[0])
	}
	runs := map[string]*Run{}
	for i := range ds.Runs {
		runs[ds.Runs[i].Name()] = &ds.Runs[i]
	}
	caps := map[string]map[uint64]packet{}
	listed := map[string]int{} // run/step → rows
	for _, row := range rows[1:] {
		rec := map[string]string{}
		for i, k := range framesHeader {
			rec[k] = row[i]
		}
		run := runs[rec["run"]]
		if run == nil {
			t.Fatalf("frames.csv names run %q", rec["run"])
		}
		pk := caps[run.Capture]
		if pk == nil {
			ps, err := readPackets(filepath.Join(dir, run.Capture), 0)
			if err != nil {
				t.Fatal(err)
			}
			pk = map[uint64]packet{}
			for _, p := range ps {
				pk[p.Frame] = p
			}
			caps[run.Capture] = pk
		}
		n, _ := strconv.ParseUint(rec["frame"], 10, 64)
		p, ok := pk[n]
		if !ok {
			t.Errorf("%s frame %d: not in the capture (%d frames)", run.Capture, n, len(pk))
			continue
		}
		at, err := time.Parse("2006-01-02T15:04:05.000000Z", rec["time"])
		if err != nil || !at.Equal(p.Time.Truncate(time.Microsecond)) {
			t.Errorf("%s frame %d: labelled at %s, captured at %s", run.Capture, n, rec["time"], p.Time.UTC())
		}
		sp, _ := strconv.Atoi(rec["src_port"])
		dp, _ := strconv.Atoi(rec["dst_port"])
		src := netip.AddrPortFrom(netip.MustParseAddr(rec["src"]), uint16(sp))
		dst := netip.AddrPortFrom(netip.MustParseAddr(rec["dst"]), uint16(dp))
		if p.Src != src || p.Dst != dst || p.Transport != rec["transport"] {
			t.Errorf("%s frame %d: labelled %s %v>%v, captured %s %v>%v", run.Capture, n, rec["transport"], src, dst, p.Transport, p.Src, p.Dst)
		}
		var st *StepLabel
		for i := range run.Steps {
			if run.Steps[i].Step == rec["step"] {
				st = &run.Steps[i]
			}
		}
		if st == nil {
			t.Fatalf("%s frame %d: unknown step %q", run.Capture, n, rec["step"])
		}
		listed[run.Name()+"/"+st.Step]++
		if p.Time.Before(st.Start.Add(-frameLead)) || p.Time.After(st.End.Add(frameTail)) {
			t.Errorf("%s frame %d at %s: outside step %s (%s .. %s)", run.Capture, n, p.Time, st.Step, st.Start, st.End)
		}
		fl := flowsOf(st)
		if !fl.match(p.Src.Addr(), p.Src.Port(), p.Dst.Addr(), p.Dst.Port()) {
			t.Errorf("%s frame %d %v>%v: not on step %s's flows %v", run.Capture, n, p.Src, p.Dst, st.Step, st.Flows)
		}
	}
	for _, r := range ds.Runs {
		for _, s := range r.Steps {
			if !s.Network {
				continue
			}
			if s.Complete && s.Requests > 0 && len(s.Frames) == 0 {
				t.Errorf("%s/%s: complete with %d requests but no frames", r.Name(), s.Step, s.Requests)
			}
			// A frame of two steps is listed once: at most len(Frames).
			if got := listed[r.Name()+"/"+s.Step]; got > len(s.Frames) || (got == 0 && len(s.Frames) > 0) {
				t.Errorf("%s/%s: %d frames listed in frames.csv, %d labelled", r.Name(), s.Step, got, len(s.Frames))
			}
		}
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []reflect.Type{reflect.TypeOf(Run{}), reflect.TypeOf(StepLabel{})} {
		for i := range typ.NumField() {
			tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if tag != "" && tag != "-" && !strings.Contains(string(readme), tag) {
				t.Errorf("README.md does not describe %s.%s (%s)", typ.Name(), typ.Field(i).Name, tag)
			}
		}
	}
	for _, h := range append(append([]string{}, stepsHeader...), framesHeader...) {
		if !strings.Contains(string(readme), h) {
			t.Errorf("README.md does not describe the CSV column %s", h)
		}
	}
}
