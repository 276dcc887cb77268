package validate

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/capture"
)

var update = flag.Bool("update", false, "rewrite testdata/validate/summary.golden")

// librarySubnet is the first subnet of the library runs in these tests
// (127.110.x.y to 127.118.x.y), apart from other packages' tests on lo
// (internal/app 81 and 83, simulator 150 up, sensor's live replay 200-249).
const librarySubnet = 110

var lib struct {
	once sync.Once
	dir  string
	ds   *Dataset
	err  error
	skip string
}

// libraryDataset runs the whole library once for the package's tests: a
// dataset in a temporary folder, shared (read only) by the tests.
func libraryDataset(t *testing.T) (string, *Dataset) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the whole scenario library against the plant")
	}
	lib.once.Do(func() {
		probe, err := capture.OpenLive("lo", 0)
		if err != nil {
			if errors.Is(err, capture.ErrPermission) && os.Getenv("CI") == "" {
				lib.skip = err.Error()
				return
			}
			lib.err = err
			return
		}
		probe.Close()
		lib.dir, lib.err = os.MkdirTemp("", "otrange-validate-")
		if lib.err != nil {
			return
		}
		var log *slog.Logger
		if testing.Verbose() {
			log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
		lib.ds, lib.err = Generate(context.Background(), Config{Dir: lib.dir, Subnet: librarySubnet, Parallel: 2, Logger: log})
	})
	if lib.skip != "" {
		t.Skip(lib.skip)
	}
	if lib.err != nil {
		t.Fatal(lib.err)
	}
	return lib.dir, lib.ds
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if lib.dir != "" {
		os.RemoveAll(lib.dir)
	}
	os.Exit(code)
}

// Floor is the coverage the built-in sensor must keep over the library
// (testdata/validate/floor.json).
type Floor struct {
	// MinShare is the least share of scored steps detected.
	MinShare float64 `json:"min_share"`
	// MinDetected is the least number of detected steps per scenario.
	MinDetected map[string]int `json:"min_detected"`
	// MaxFalsePerHour bounds the false alerts per hour of the benign run.
	MaxFalsePerHour float64 `json:"max_false_per_hour"`
}

// TestCoverageFloor runs the whole library with the built-in sensor and
// fails when its coverage drops below the floor or its false alerts rise
// above it, and compares the summary (technique, status, latency bucket)
// with the golden file. Steps the capture lost (kernel drops that survived
// a retry) lower what is required by as many steps, and techniques with a
// lost step are not compared with the golden file.
func TestCoverageFloor(t *testing.T) {
	dir, ds := libraryDataset(t)
	as, st, err := Builtin{}.Alerts(context.Background(), dir, ds)
	if err != nil {
		t.Fatal(err)
	}
	rep := Score(ds, Builtin{}.Name(), as, ScoreConfig{})
	var md strings.Builder
	rep.Markdown(&md)
	t.Logf("%d alerts\n%s", st.Alerts, md.String())

	var floor Floor
	b, err := os.ReadFile(filepath.Join("..", "testdata", "validate", "floor.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&floor); err != nil {
		t.Fatalf("floor.json: %v", err)
	}
	if rep.Totals.Share < floor.MinShare {
		t.Errorf("coverage %.3f is below the floor %.3f", rep.Totals.Share, floor.MinShare)
	}
	for _, sc := range rep.Scenarios {
		min, ok := floor.MinDetected[sc.ID]
		if !ok {
			t.Errorf("floor.json has no min_detected for scenario %s", sc.ID)
			continue
		}
		if need := min - sc.Totals.Lost; sc.Totals.Detected < need {
			t.Errorf("%s: %d steps detected, the floor is %d (%d lost to the capture)", sc.ID, sc.Totals.Detected, min, sc.Totals.Lost)
		}
	}
	benign := ds.Runs[len(ds.Runs)-1]
	switch {
	case rep.Benign.PerHour <= floor.MaxFalsePerHour:
	case benign.KernelDrops > 0:
		t.Logf("benign run: %.1f false alerts per hour with %d packets lost by the capture; not judged", rep.Benign.PerHour, benign.KernelDrops)
	default:
		t.Errorf("benign run: %d false alerts in %v (%.1f per hour), the floor allows %.1f; rules %v",
			rep.Benign.Alerts, rep.Benign.Duration, rep.Benign.PerHour, floor.MaxFalsePerHour, rep.Benign.Rules)
		if p, err := netip.ParsePrefix(benign.Subnet); err == nil {
			for _, a := range as {
				if p.Contains(a.Src) || p.Contains(a.Dst) {
					t.Logf("benign alert %s %s %s:%d > %s:%d %s", a.Time.Format(time.RFC3339Nano), a.Rule, a.Src, a.SrcPort, a.Dst, a.DstPort, a.Name)
				}
			}
		}
	}
	compareSummary(t, rep)
}

func compareSummary(t *testing.T, rep *Report) {
	t.Helper()
	path := filepath.Join("..", "testdata", "validate", "summary.golden")
	got := rep.Summary()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	lost := map[string]bool{}
	for _, ts := range rep.Techniques {
		if ts.Lost > 0 {
			lost[ts.ID] = true
		}
	}
	want := lines(string(b))
	have := lines(got)
	for id, w := range want {
		h, ok := have[id]
		switch {
		case lost[id]:
			t.Logf("%s: steps lost to the capture; not compared (%q, golden %q)", id, h, w)
		case !ok:
			t.Errorf("technique %s is no longer executed (golden: %q)", id, w)
		case h != w:
			t.Errorf("%s: got %q, golden %q (run with -update if intended)", id, h, w)
		}
	}
	for id, h := range have {
		if _, ok := want[id]; !ok {
			t.Errorf("new technique %s: %q not in the golden file (run with -update)", id, h)
		}
	}
}

// lines maps a summary's lines by technique.
func lines(s string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		id, _, _ := strings.Cut(l, " ")
		out[id] = l
	}
	return out
}
