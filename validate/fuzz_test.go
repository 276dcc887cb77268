package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// seedLines adds the lines of a hand-made alert file as seeds.
func seedLines(f *testing.F, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f.Add([]byte(l))
	}
}

// checkAlert checks what every parser promises of an alert it returns.
func checkAlert(t *testing.T, a Alert, ok bool, err error) {
	if err != nil && ok {
		t.Fatal("an error and a record")
	}
	if ok && !a.Src.IsValid() && !a.Dst.IsValid() {
		t.Fatalf("a record without addresses: %+v", a)
	}
	if ok && a.Time.IsZero() {
		t.Fatalf("a record without a time: %+v", a)
	}
}

func FuzzEVE(f *testing.F) {
	seedLines(f, writeEVE(&testing.T{}, f.TempDir(), time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)))
	f.Add([]byte(`{"time":"2026-03-01T10:00:00Z","rule_id":"modbus.write.unauthorized","src_addr":"127.66.0.1","dst_addr":"127.10.1.10","dst_port":502,"techniques":["T0855"]}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		a, ok, err := ParseEVE(line)
		checkAlert(t, a, ok, err)
	})
}

func FuzzCEF(f *testing.F) {
	seedLines(f, writeCEF(&testing.T{}, f.TempDir(), time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)))
	f.Fuzz(func(t *testing.T, line []byte) {
		a, ok, err := ParseCEF(line)
		checkAlert(t, a, ok, err)
	})
}

func FuzzZeek(f *testing.F) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, js := range []bool{false, true} {
		dir := writeZeek(&testing.T{}, f.TempDir(), t0, js)
		for _, n := range []string{"notice.log", "modbus.log"} {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(strings.TrimSuffix(n, ".log"), b)
		}
	}
	f.Fuzz(func(t *testing.T, path string, log []byte) {
		z := &ZeekParser{Path: path}
		as, st, err := readLines(strings.NewReader(string(log)), path, z.Parse)
		if err != nil {
			t.Fatal(err)
		}
		if len(as) != st.Alerts+st.Logs || st.Lines < len(as) {
			t.Fatalf("%d records, stats %+v", len(as), st)
		}
		for _, a := range as {
			checkAlert(t, a, true, nil)
		}
	})
}
