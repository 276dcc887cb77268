package historian

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func open(t testing.TB, opts Options) (*Historian, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "historian.db")
	h, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, path
}

func record(t testing.TB, h *Historian, at time.Time, s ...Sample) {
	t.Helper()
	if err := h.Record(at, s); err != nil {
		t.Fatal(err)
	}
}

func TestDownsampling(t *testing.T) {
	h, _ := open(t, Options{})
	ctx := context.Background()
	// Buckets of 10 s from t0: [0,10) holds 1, 5, 3; [10,20) is empty;
	// [20,30) holds 7 at its first instant and -2; [30,35) holds 4.
	for _, s := range []struct {
		sec float64
		v   float64
	}{{-1, 100}, {0, 1}, {2, 5}, {9.999, 3}, {20, 7}, {25.5, -2}, {30, 4}, {35, 200}} {
		record(t, h, t0.Add(time.Duration(s.sec*float64(time.Second))), Sample{"lvl", s.v})
	}
	got, err := h.Query(ctx, "lvl", t0, t0.Add(35*time.Second), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []Point{
		{Time: t0, Min: 1, Avg: 3, Max: 5, Last: 3, Count: 3},
		{Time: t0.Add(20 * time.Second), Min: -2, Avg: 2.5, Max: 7, Last: -2, Count: 2},
		{Time: t0.Add(30 * time.Second), Min: 4, Avg: 4, Max: 4, Last: 4, Count: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d points %+v, want %+v", len(got), got, want)
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) || got[i].Min != want[i].Min || got[i].Avg != want[i].Avg ||
			got[i].Max != want[i].Max || got[i].Last != want[i].Last || got[i].Count != want[i].Count {
			t.Errorf("point %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// An hour of 1 Hz data of two tags, downsampled per minute.
func TestRecordQueryHour(t *testing.T) {
	h, _ := open(t, Options{})
	hour := func(from int) {
		t.Helper()
		bs := make([]batch, 3600)
		for i := range bs {
			x := float64(from + i)
			bs[i] = batch{t0.Add(time.Duration(from+i) * time.Second), []Sample{{"ramp", x}, {"wave", math.Sin(x / 100)}}}
		}
		if err := h.write(bs); err != nil {
			t.Fatal(err)
		}
	}
	hour(0)
	pts, err := h.Query(context.Background(), "ramp", t0, t0.Add(time.Hour), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 60 {
		t.Fatalf("%d points", len(pts))
	}
	for i, p := range pts {
		lo := float64(i * 60)
		if p.Min != lo || p.Max != lo+59 || p.Last != lo+59 || p.Avg != lo+29.5 || p.Count != 60 ||
			!p.Time.Equal(t0.Add(time.Duration(i)*time.Minute)) {
			t.Fatalf("point %d = %+v", i, p)
		}
	}
	// Half of the data in the archive, half recent: the answers do not change.
	if err := h.Compact(); err != nil {
		t.Fatal(err)
	}
	hour(3600)
	again, err := h.Query(context.Background(), "ramp", t0, t0.Add(time.Hour), time.Minute)
	if err != nil || !slices.Equal(again, pts) {
		t.Fatalf("after compaction: %v", err)
	}
	split, err := h.Query(context.Background(), "ramp", t0.Add(30*time.Minute), t0.Add(90*time.Minute), time.Hour)
	if err != nil || len(split) != 1 || split[0].Count != 3600 || split[0].Min != 1800 || split[0].Max != 5399 ||
		split[0].Last != 5399 || split[0].Avg != (1800+5399)/2.0 {
		t.Fatalf("across archive and recent: %+v %v", split, err)
	}
	pts, err = h.Query(context.Background(), "wave", t0, t0.Add(time.Hour), time.Hour)
	if err != nil || len(pts) != 1 || pts[0].Min < -1 || pts[0].Max > 1 || pts[0].Min > -0.99 || pts[0].Count != 3600 ||
		pts[0].Last != math.Sin(3599.0/100) {
		t.Fatalf("wave: %+v %v", pts, err)
	}
	if tags := h.Tags(); strings.Join(tags, ",") != "ramp,wave" {
		t.Errorf("tags = %v", tags)
	}
	latest, err := h.Latest(context.Background())
	if err != nil || len(latest) != 2 || latest[0].Tag != "ramp" || latest[0].Value != 7199 ||
		!latest[0].Time.Equal(t0.Add(7199*time.Second)) || latest[1].Value != math.Sin(7199.0/100) {
		t.Errorf("latest = %+v %v", latest, err)
	}
	// Latest from the archive alone, and with an older sample recorded late.
	if err := h.Compact(); err != nil {
		t.Fatal(err)
	}
	record(t, h, t0, Sample{"ramp", -1})
	latest, err = h.Latest(context.Background())
	if err != nil || len(latest) != 2 || latest[0].Value != 7199 || latest[1].Value != math.Sin(7199.0/100) {
		t.Errorf("latest after compaction = %+v %v", latest, err)
	}
}

func TestQueryErrors(t *testing.T) {
	h, _ := open(t, Options{MaxPoints: 100})
	record(t, h, t0, Sample{"a", 1})
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		tag      string
		from, to time.Time
		step     time.Duration
		want     error
		msg      string
	}{
		{"unknown tag", "b", t0, t0.Add(time.Hour), time.Minute, ErrUnknownTag, `unknown tag "b"`},
		{"empty range", "a", t0, t0, time.Second, ErrBadRange, "is not before"},
		{"reversed range", "a", t0.Add(time.Hour), t0, time.Second, ErrBadRange, "is not before"},
		{"zero step", "a", t0, t0.Add(time.Hour), 0, ErrStepTooSmall, "below 1ms"},
		{"negative step", "a", t0, t0.Add(time.Hour), -time.Second, ErrStepTooSmall, "below 1ms"},
		{"too many points", "a", t0, t0.Add(time.Hour), 35 * time.Second, ErrStepTooSmall, "103 points over 1h0m0s at step 35s; at most 100 points, so a step of at least 36s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Query(ctx, tc.tag, tc.from, tc.to, tc.step)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
	// The suggested step works; the bound is exact.
	if _, err := h.Query(ctx, "a", t0, t0.Add(time.Hour), 36*time.Second); err != nil {
		t.Errorf("step 36s: %v", err)
	}
	if _, err := h.Query(ctx, "a", t0, t0.Add(100*time.Second), time.Second); err != nil {
		t.Errorf("exactly MaxPoints: %v", err)
	}
	if _, err := h.Query(ctx, "a", t0, t0.Add(101*time.Second), time.Second); !errors.Is(err, ErrStepTooSmall) {
		t.Errorf("MaxPoints+1: %v", err)
	}
}

func TestInvalidSamplesAndTagLimit(t *testing.T) {
	h, _ := open(t, Options{MaxTags: 2})
	record(t, h, t0, Sample{"a", 1}, Sample{"b", math.NaN()}, Sample{"", 1}, Sample{"c", math.Inf(1)},
		Sample{"b", 2}, Sample{"c", 3}, Sample{"a", 4})
	st := h.Stats()
	if st.Invalid != 3 || st.TooManyTags != 1 || st.Written != 3 || st.Sampled != 7 {
		t.Errorf("stats = %+v", st)
	}
	if got := strings.Join(h.Tags(), ","); got != "a,b" {
		t.Errorf("tags = %s", got)
	}
	// The same tag at the same instant: the last value wins.
	pts, err := h.Query(context.Background(), "a", t0, t0.Add(time.Second), time.Second)
	if err != nil || len(pts) != 1 || pts[0].Count != 1 || pts[0].Last != 4 {
		t.Errorf("a: %+v %v", pts, err)
	}
}

// manualTicker lets a test drive Run: each send is one tick at the given time.
func manualTicker(c chan time.Time) func(time.Duration) (<-chan time.Time, func()) {
	return func(time.Duration) (<-chan time.Time, func()) { return c, func() {} }
}

func runHistorian(h *Historian, sample func() []Sample) (cancel func() error) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx, sample) }()
	return func() error { stop(); return <-done }
}

func TestRunSamplesOnTicks(t *testing.T) {
	ticks := make(chan time.Time)
	h, _ := open(t, Options{NewTicker: manualTicker(ticks), FlushInterval: 3 * time.Second, CompactInterval: 4 * time.Second})
	n := 0
	stop := runHistorian(h, func() []Sample {
		n++
		return []Sample{{"level", float64(n)}, {"flow", 10 * float64(n)}}
	})
	for i := range 10 {
		ticks <- t0.Add(time.Duration(i) * time.Second)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := h.Stats()
	// Ten ticks committed every 3 s of sample time (ticks 0, 3, 6, 9) and
	// before each compaction (ticks 4, 8), none left behind.
	if st.Sampled != 20 || st.Written != 20 || st.Dropped != 0 || st.Commits != 6 || st.Compactions != 2 {
		t.Errorf("stats = %+v", st)
	}
	pts, err := h.Query(context.Background(), "flow", t0, t0.Add(10*time.Second), time.Second)
	if err != nil || len(pts) != 10 || pts[0].Last != 10 || pts[9].Last != 100 {
		t.Errorf("flow: %+v %v", pts, err)
	}
}

// A writer that cannot keep up makes Run drop whole batches, counted, without
// ever blocking the sampling.
func TestRunDropsWhenQueueFull(t *testing.T) {
	ticks := make(chan time.Time)
	h, _ := open(t, Options{NewTicker: manualTicker(ticks), QueueSize: 1})
	stop := runHistorian(h, func() []Sample { return []Sample{{"a", 1}, {"b", 2}, {"c", 3}} })
	h.mu.Lock() // the writer blocks on its first commit
	// Run takes a tick only once it has handled the previous one, so after
	// 21 sends the first 20 ticks are fully counted.
	for i := range 21 {
		ticks <- t0.Add(time.Duration(i) * time.Second)
	}
	st := h.Stats()
	h.mu.Unlock()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// At most one batch in the writer's hands and one in the queue.
	if st.Sampled < 60 || st.Dropped < 54 || st.Written != 0 {
		t.Errorf("while blocked: %+v", st)
	}
	st = h.Stats()
	if st.Written+st.Dropped != st.Sampled || st.Written == 0 {
		t.Errorf("after: %+v", st)
	}
}

func TestRetention(t *testing.T) {
	ticks := make(chan time.Time)
	h, _ := open(t, Options{NewTicker: manualTicker(ticks), Retention: 10 * time.Second, PruneInterval: 5 * time.Second})
	stop := runHistorian(h, func() []Sample { return []Sample{{"a", 1}, {"b", 2}} })
	for i := range 30 {
		ticks <- t0.Add(time.Duration(i) * time.Second)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Last prune at t0+25s deleted everything before t0+15s.
	for _, tag := range []string{"a", "b"} {
		pts, err := h.Query(context.Background(), tag, t0, t0.Add(time.Minute), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != 15 || !pts[0].Time.Equal(t0.Add(15*time.Second)) {
			t.Errorf("%s: %d points from %v", tag, len(pts), pts[0].Time)
		}
	}
	if st := h.Stats(); st.Pruned != 30 {
		t.Errorf("pruned %d", st.Pruned)
	}
	// Direct pruning, in the archive: a week later nothing is left.
	if err := h.Compact(); err != nil {
		t.Fatal(err)
	}
	n, err := h.Prune(t0.Add(7 * 24 * time.Hour))
	if err != nil || n != 30 {
		t.Errorf("prune: %d %v", n, err)
	}
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "h.db")
	h, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		record(t, h, t0.Add(time.Duration(i)*time.Second), Sample{"x", float64(i)}, Sample{"y", 1})
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.Tags(), ","); got != "x,y" {
		t.Errorf("tags after reopen = %s", got)
	}
	// New samples of a known tag keep its id.
	record(t, h, t0.Add(100*time.Second), Sample{"x", 100}, Sample{"z", 5})
	pts, err := h.Query(context.Background(), "x", t0, t0.Add(time.Hour), time.Hour)
	if err != nil || len(pts) != 1 || pts[0].Count != 101 || pts[0].Last != 100 {
		t.Errorf("x after reopen: %+v %v", pts, err)
	}
	h.Close()

	// A file from a newer binary is refused.
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("newer schema: %v", err)
	}
}

const helperEnv = "HISTORIAN_KILL_HELPER"

// TestKilledWriterHelper is the writer process of TestKilledWriter.
func TestKilledWriterHelper(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process of TestKilledWriter")
	}
	h, err := Open(path, Options{Interval: 5 * time.Millisecond, FlushInterval: 50 * time.Millisecond})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	n := 0
	go h.Run(context.Background(), func() []Sample {
		n++
		s := make([]Sample, 20)
		for i := range s {
			s[i] = Sample{fmt.Sprintf("tag%02d", i), float64(n)}
		}
		return s
	})
	last := uint64(0)
	for {
		if w := h.Stats().Written; w != last {
			fmt.Println("written", w)
			last = w
		}
		time.Sleep(time.Millisecond) // polling a counter, not waiting for readiness
	}
}

// A writer killed with SIGKILL keeps every sample it reported committed; the
// file reopens intact, and what was lost is only the tail that had not been
// committed.
func TestKilledWriter(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	path := filepath.Join(t.TempDir(), "killed.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriterHelper$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := make(chan uint64, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), "written "); ok {
				if w, _ := strconv.ParseUint(n, 10, 64); w >= 2000 {
					acked <- w
					return
				}
			}
		}
		close(acked)
	}()
	var w uint64
	select {
	case v, ok := <-acked:
		if !ok {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("helper ended before writing 2000 samples")
		}
		w = v
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("helper did not write 2000 samples within 60 s")
	}
	cmd.Process.Kill()
	cmd.Wait()

	h, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer h.Close()
	var ok string
	if err := h.db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity: %q %v", ok, err)
	}
	var rows uint64
	if err := h.db.QueryRow(`SELECT (SELECT COUNT(*) FROM samples) + (SELECT COUNT(*) FROM recent)`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows < w {
		t.Fatalf("%d rows after the kill, but %d were reported committed", rows, w)
	}
	// Whole ticks only, with no gaps: the loss is a tail.
	var n, lo, hi int64
	if err := h.db.QueryRow(`SELECT COUNT(DISTINCT t), MIN(v), MAX(v) FROM (SELECT t, v FROM samples UNION ALL SELECT t, v FROM recent)`).Scan(&n, &lo, &hi); err != nil {
		t.Fatal(err)
	}
	if rows%20 != 0 || lo != 1 || hi != n || uint64(n)*20 != rows {
		t.Errorf("rows %d: %d instants with values %d..%d", rows, n, lo, hi)
	}
	// The file takes new writes.
	record(t, h, time.Now().Add(time.Hour), Sample{"tag00", 1})
}

// BenchmarkWrite200Tags writes 200 tags at 1 Hz equivalent, committing
// every tick (FlushInterval = Interval) or every 10 ticks.
func BenchmarkWrite200Tags(b *testing.B) {
	s := make([]Sample, 200)
	for i := range s {
		s[i] = Sample{fmt.Sprintf("plant.tag%03d", i), float64(i)}
	}
	for _, ticks := range []int{1, 10} {
		b.Run(fmt.Sprintf("ticks-per-commit=%d", ticks), func(b *testing.B) {
			h, _ := open(b, Options{})
			bs := make([]batch, ticks)
			n := 0
			for b.Loop() {
				for j := range bs {
					bs[j] = batch{t: t0.Add(time.Duration(n) * time.Second), samples: s}
					n++
				}
				if err := h.write(bs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(200*n)/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n)/1e6, "ms/tick")
		})
	}
}

func BenchmarkQueryDay(b *testing.B) {
	h, _ := open(b, Options{})
	batches := make([]batch, 86400)
	for i := range batches {
		batches[i] = batch{t: t0.Add(time.Duration(i) * time.Second), samples: []Sample{{"raw.level", math.Sin(float64(i) / 600)}}}
	}
	if err := h.write(batches); err != nil {
		b.Fatal(err)
	}
	if err := h.Compact(); err != nil {
		b.Fatal(err)
	}
	for _, step := range []time.Duration{10 * time.Second, time.Minute, 15 * time.Minute} {
		b.Run(step.String(), func(b *testing.B) {
			for b.Loop() {
				pts, err := h.Query(context.Background(), "raw.level", t0, t0.Add(24*time.Hour), step)
				if err != nil || len(pts) != int(24*time.Hour/step) {
					b.Fatalf("%d points, %v", len(pts), err)
				}
			}
		})
	}
}
