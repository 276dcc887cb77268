package output

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/alert"
)

func openTestStore(t *testing.T, path string) *SQLite {
	t.Helper()
	s, err := OpenSQLite(SQLiteConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sync1(t *testing.T, s *SQLite) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// storedAlerts are alerts as the store gives them back: times in UTC.
func storedAlerts(in []alert.Alert) []alert.Alert {
	out := make([]alert.Alert, len(in))
	for i, a := range in {
		a.Time = a.Time.UTC()
		out[i] = a
	}
	return out
}

func TestSQLiteRoundTripAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	s := openTestStore(t, path)
	sent := testAlerts("db", 50)
	sent[3].Techniques = nil
	sent[4].Evidence.Frames = nil
	sent[5].Time = sent[5].Time.In(time.FixedZone("CET", 3600))
	sent[6].Unit, sent[6].Address, sent[6].Value = nil, nil, nil
	for _, a := range sent {
		s.Emit(a)
	}
	sync1(t, s)
	got, err := s.Query(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if want := storedAlerts(sent); !reflect.DeepEqual(got, want) {
		t.Fatalf("query after write:\n got %+v\nwant %+v", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Written != uint64(len(sent)) || st.Lost() != 0 {
		t.Fatalf("stats %+v", st)
	}

	s2 := openTestStore(t, path)
	got, err = s2.Query(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if want := storedAlerts(sent); !reflect.DeepEqual(got, want) {
		t.Fatalf("query after reopen: got %d alerts, want %d", len(got), len(want))
	}
	var v int
	if err := s2.rdb.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(migrations) {
		t.Fatalf("user_version %d (%v), want %d", v, err, len(migrations))
	}
	var mode string
	if err := s2.rdb.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q (%v)", mode, err)
	}
}

func TestSQLiteQueryFilters(t *testing.T) {
	s := openTestStore(t, filepath.Join(t.TempDir(), "alerts.db"))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rules := []string{"modbus.write", "dnp3.cold_restart", "modbus.scan"}
	var sent []alert.Alert
	for i := range 30 {
		a := sampleAlert()
		a.ID = fmt.Sprint("f-", i)
		a.Time = t0.Add(time.Duration(29-i) * time.Minute) // emitted newest first
		a.RuleID = rules[i%3]
		a.SrcAddr = fmt.Sprintf("127.66.0.%d", i%2+1)
		sent = append(sent, a)
		s.Emit(a)
	}
	sync1(t, s)
	ids := func(as []alert.Alert) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	want := func(keep func(a alert.Alert) bool, limit int) []string {
		var out []string
		for i := len(sent) - 1; i >= 0; i-- { // oldest first
			if keep(sent[i]) && (limit == 0 || len(out) < limit) {
				out = append(out, sent[i].ID)
			}
		}
		return out
	}
	cases := []struct {
		name string
		f    Filter
		keep func(alert.Alert) bool
	}{
		{"all", Filter{}, func(alert.Alert) bool { return true }},
		{"time range", Filter{Since: t0.Add(5 * time.Minute), Until: t0.Add(12 * time.Minute)},
			func(a alert.Alert) bool {
				return !a.Time.Before(t0.Add(5*time.Minute)) && a.Time.Before(t0.Add(12*time.Minute))
			}},
		{"rule", Filter{RuleID: "dnp3.cold_restart"}, func(a alert.Alert) bool { return a.RuleID == "dnp3.cold_restart" }},
		{"rule and time", Filter{RuleID: "modbus.write", Since: t0.Add(10 * time.Minute)},
			func(a alert.Alert) bool { return a.RuleID == "modbus.write" && !a.Time.Before(t0.Add(10*time.Minute)) }},
		{"source", Filter{SrcAddr: "127.66.0.2"}, func(a alert.Alert) bool { return a.SrcAddr == "127.66.0.2" }},
		{"destination none", Filter{DstAddr: "127.0.0.9"}, func(alert.Alert) bool { return false }},
		{"limit", Filter{Limit: 7}, func(alert.Alert) bool { return true }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.Query(context.Background(), c.f)
			if err != nil {
				t.Fatal(err)
			}
			w := want(c.keep, c.f.Limit)
			if !reflect.DeepEqual(ids(got), w) {
				t.Fatalf("got %v\nwant %v", ids(got), w)
			}
		})
	}
	// The filters are served by the indexes, not a table scan.
	var plan string
	var a, b int
	row := s.rdb.QueryRow("EXPLAIN QUERY PLAN SELECT * FROM alerts WHERE rule_id = ? AND time_ns >= ? ORDER BY time_ns", "x", 0)
	if err := row.Scan(&a, &b, new(int), &plan); err != nil {
		t.Fatal(err)
	}
	if want := "alerts_rule"; !strings.Contains(plan, want) {
		t.Fatalf("query plan %q does not use %s", plan, want)
	}
}

// TestSQLiteConcurrentReaders reads while the sink writes, through the
// sink's own pool and through an independent connection as another process
// would: no reader fails, and each sees a growing, consistent prefix.
func TestSQLiteConcurrentReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	s := openTestStore(t, path)
	other, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	const n = 4000
	done := make(chan struct{})
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	reader := func(count func() (int, error)) {
		defer wg.Done()
		last := 0
		for {
			select {
			case <-done:
				return
			default:
			}
			c, err := count()
			if err != nil {
				errs <- err
				return
			}
			if c < last {
				errs <- fmt.Errorf("count went back from %d to %d", last, c)
				return
			}
			last = c
		}
	}
	wg.Add(3)
	for range 2 {
		go reader(func() (int, error) {
			as, err := s.Query(context.Background(), Filter{RuleID: "modbus.unauthorized_write", Limit: 100000})
			return len(as), err
		})
	}
	go reader(func() (int, error) {
		var c int
		err := other.QueryRow("SELECT count(*) FROM alerts").Scan(&c)
		return c, err
	})
	a := sampleAlert()
	for i := range n {
		a.ID = fmt.Sprint("c-", i)
		s.Emit(a)
		if i%500 == 499 {
			sync1(t, s)
		}
	}
	sync1(t, s)
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var c int
	if err := other.QueryRow("SELECT count(*) FROM alerts").Scan(&c); err != nil || c != n {
		t.Fatalf("other connection counts %d (%v), want %d", c, err, n)
	}
	if st := s.Stats(); st.Written != n || st.Batches >= n {
		t.Fatalf("stats %+v: want %d written in batches", st, n)
	}
}

// TestSQLiteQueueBound: a tiny queue drops what does not fit, and every
// emitted alert is either in the file or counted as lost.
func TestSQLiteQueueBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	s, err := OpenSQLite(SQLiteConfig{Path: path, QueueSize: 2, BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	a := sampleAlert()
	for range n {
		s.Emit(a)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Written+st.Lost() != n || st.Dropped == 0 {
		t.Fatalf("stats %+v: want written + lost = %d with some dropped", st, n)
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var c uint64
	if err := db.QueryRow("SELECT count(*) FROM alerts").Scan(&c); err != nil || c != st.Written {
		t.Fatalf("file holds %d (%v), stats say %d written", c, err, st.Written)
	}
}

func TestSQLiteRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := OpenSQLite(SQLiteConfig{Path: path}); err == nil {
		s.Close()
		t.Fatal("opened a store with a newer schema")
	}
	if s, err := OpenSQLite(SQLiteConfig{Path: "x?mode=memory"}); err == nil {
		s.Close()
		t.Fatal("accepted a path with '?'")
	}
}

func BenchmarkSQLiteSink(b *testing.B) {
	s, err := OpenSQLite(SQLiteConfig{Path: filepath.Join(b.TempDir(), "alerts.db"), QueueSize: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	a := sampleAlert()
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		s.Emit(a)
		if i%4096 == 4095 { // keep the queue from overflowing
			if err := s.Sync(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := s.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	st := s.Stats()
	if st.Lost() != 0 {
		b.Fatalf("lost %d alerts", st.Lost())
	}
	b.ReportMetric(float64(st.Written)/el.Seconds(), "alerts/s")
}
