package output

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3" // database/sql driver "sqlite3"

	"github.com/otrange/otrange/internal/sqlitedb"
	"github.com/otrange/otrange/sensor/alert"
)

// migrations build the alert store's schema; migration i brings the file from
// user_version i to i+1. Append, never edit.
var migrations = []string{
	`CREATE TABLE alerts (
		seq       INTEGER PRIMARY KEY,
		id        TEXT NOT NULL,
		time_ns   INTEGER NOT NULL,
		sensor    TEXT NOT NULL,
		rule_id   TEXT NOT NULL,
		rule_name TEXT NOT NULL,
		severity  TEXT NOT NULL,
		techniques TEXT NOT NULL,
		src_addr  TEXT NOT NULL,
		src_port  INTEGER NOT NULL,
		dst_addr  TEXT NOT NULL,
		dst_port  INTEGER NOT NULL,
		protocol  TEXT NOT NULL,
		function  TEXT NOT NULL,
		unit      INTEGER,
		address   INTEGER,
		value     INTEGER,
		flow_id   TEXT NOT NULL,
		frames    TEXT NOT NULL,
		message   TEXT NOT NULL
	);
	CREATE INDEX alerts_time ON alerts(time_ns);
	CREATE INDEX alerts_rule ON alerts(rule_id, time_ns);
	CREATE INDEX alerts_src ON alerts(src_addr, time_ns);
	CREATE INDEX alerts_dst ON alerts(dst_addr, time_ns);`,
}

// SQLiteConfig configures a SQLite alert sink.
type SQLiteConfig struct {
	Path         string        // database file, created when missing
	QueueSize    int           // alerts waiting for the writer; <= 0 means 8192
	BatchSize    int           // alerts per transaction at most; <= 0 means 512
	CloseTimeout time.Duration // how long Close keeps writing; <= 0 means 10s
	Logger       *slog.Logger  // nil means discard
}

// SQLiteStats are a SQLite sink's counters.
type SQLiteStats struct {
	Queued  int    // alerts waiting now
	Written uint64 // alerts committed
	Batches uint64 // transactions committed
	Dropped uint64 // alerts refused because the queue was full or the sink closed
	Failed  uint64 // alerts lost to a failed transaction or abandoned at the Close deadline
}

// Lost is every alert that was emitted but will not be in the file.
func (s SQLiteStats) Lost() uint64 { return s.Dropped + s.Failed }

// SQLite stores alerts in a SQLite file in WAL mode. One goroutine writes
// queued alerts in batches, one transaction per batch; queries run on a
// separate pool of read-only connections, so readers (in this process or
// another) never wait for the writer nor block it.
type SQLite struct {
	cfg SQLiteConfig
	log *slog.Logger
	wdb *sql.DB // one connection, used by the writer goroutine only
	rdb *sql.DB // read-only pool for Query

	queue *Queue
	syncs chan chan error
	stop  chan struct{}
	abort chan struct{}
	done  chan struct{}

	written, batches, failed atomic.Uint64
}

var _ alert.Sink = (*SQLite)(nil)

// OpenSQLite opens (creating or migrating) the alert store at cfg.Path and
// starts its writer. A file whose schema is newer than this program's is
// refused.
func OpenSQLite(cfg SQLiteConfig) (*SQLite, error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlite output: a path is required")
	}
	if strings.ContainsAny(cfg.Path, "?#") {
		return nil, fmt.Errorf("sqlite output: path %q: '?' and '#' are not allowed", cfg.Path)
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 8192
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 512
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// NORMAL synchronisation in WAL mode: a power cut can lose the last
	// commits but never corrupts the file; alerts are also on the other
	// outputs. _txlock=immediate takes the write lock at BEGIN, so a
	// concurrent writer in another process waits (busy_timeout) instead of
	// failing half-way.
	wdb, err := sql.Open("sqlite3", "file:"+cfg.Path+"?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite output: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	if err := sqlitedb.Migrate(context.Background(), wdb, sqlitedb.UserVersion, migrations); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite output: %s: %w", cfg.Path, err)
	}
	rdb, err := sql.Open("sqlite3", "file:"+cfg.Path+"?_busy_timeout=5000&_query_only=true")
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite output: %w", err)
	}
	rdb.SetMaxOpenConns(4)
	s := &SQLite{
		cfg:   cfg,
		log:   log.With("output", "sqlite", "path", cfg.Path),
		wdb:   wdb,
		rdb:   rdb,
		queue: NewQueue(cfg.QueueSize),
		syncs: make(chan chan error),
		stop:  make(chan struct{}),
		abort: make(chan struct{}),
		done:  make(chan struct{}),
	}
	go s.run()
	return s, nil
}

// Emit queues a for writing. It never blocks: when the queue is full, or the
// sink is closed, the alert is dropped and counted.
func (s *SQLite) Emit(a alert.Alert) {
	s.queue.Put(a)
}

// Sync waits until every alert emitted before the call is committed, and
// returns the error of a failed batch among them, if any.
func (s *SQLite) Sync(ctx context.Context) error {
	ch := make(chan error, 1)
	select {
	case s.syncs <- ch:
	case <-s.done:
		return errors.New("sqlite output: closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting alerts, writes what is queued for at most
// CloseTimeout, and closes the database.
func (s *SQLite) Close() error {
	if !s.queue.Close() {
		<-s.done
		return nil
	}
	close(s.stop)
	var err error
	t := time.NewTimer(s.cfg.CloseTimeout)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
		close(s.abort)
		<-s.done
		err = errors.New("sqlite output: close deadline passed with alerts unwritten")
	}
	return errors.Join(err, s.wdb.Close(), s.rdb.Close())
}

// Stats returns the counters so far.
func (s *SQLite) Stats() SQLiteStats {
	return SQLiteStats{
		Queued:  len(s.queue.C),
		Written: s.written.Load(),
		Batches: s.batches.Load(),
		Dropped: s.queue.Dropped(),
		Failed:  s.failed.Load(),
	}
}

// run is the writer goroutine: it takes what is queued, up to BatchSize,
// and commits it in one transaction.
func (s *SQLite) run() {
	defer close(s.done)
	batch := make([]alert.Alert, 0, s.cfg.BatchSize)
	var lastErr error // error of the last failed batch since the last Sync
	fill := func() {
		for len(batch) < cap(batch) {
			select {
			case a := <-s.queue.C:
				batch = append(batch, a)
			default:
				return
			}
		}
	}
	flush := func() {
		for len(batch) > 0 {
			select {
			case <-s.abort:
				s.failed.Add(uint64(len(batch) + len(s.queue.C)))
				batch = batch[:0]
				for len(s.queue.C) > 0 {
					<-s.queue.C
				}
				return
			default:
			}
			if err := s.write(batch); err != nil {
				lastErr = err
			}
			batch = batch[:0]
			fill()
		}
	}
	for {
		select {
		case a := <-s.queue.C:
			batch = append(batch, a)
			fill()
			flush()
		case ch := <-s.syncs:
			fill()
			flush()
			ch <- lastErr
			lastErr = nil
		case <-s.stop:
			fill()
			flush()
			return
		}
	}
}

const insertSQL = `INSERT INTO alerts (id, time_ns, sensor, rule_id, rule_name, severity, techniques,
	src_addr, src_port, dst_addr, dst_port, protocol, function, unit, address, value, flow_id, frames, message)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// write commits batch in one transaction; on failure the whole batch is lost
// and counted.
func (s *SQLite) write(batch []alert.Alert) error {
	err := s.insert(batch)
	if err != nil {
		s.failed.Add(uint64(len(batch)))
		s.log.Error("writing alerts failed", "alerts", len(batch), "err", err)
		return fmt.Errorf("sqlite output: %w", err)
	}
	s.written.Add(uint64(len(batch)))
	s.batches.Add(1)
	return nil
}

func (s *SQLite) insert(batch []alert.Alert) error {
	tx, err := s.wdb.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.Prepare(insertSQL)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range batch {
		a := &batch[i]
		tech, _ := json.Marshal(nonNil(a.Techniques))
		frames, _ := json.Marshal(nonNil(a.Evidence.Frames))
		if _, err := st.Exec(a.ID, a.Time.UnixNano(), a.Sensor, a.RuleID, a.RuleName, string(a.Severity), string(tech),
			a.SrcAddr, a.SrcPort, a.DstAddr, a.DstPort, a.Protocol, a.Function,
			nullInt(a.Unit), nullInt(a.Address), nullInt(a.Value), a.Evidence.FlowID, string(frames), a.Message); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nullInt(p *int) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(*p), Valid: true}
}

// Filter selects alerts. Zero fields match everything.
type Filter struct {
	Since, Until time.Time // Since <= time < Until
	RuleID       string
	SrcAddr      string
	DstAddr      string
	Limit        int // <= 0 means 1000; at most 100000
}

// Query returns the alerts that match f, oldest first.
func (s *SQLite) Query(ctx context.Context, f Filter) ([]alert.Alert, error) {
	var where []string
	var args []any
	if !f.Since.IsZero() {
		where = append(where, "time_ns >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where = append(where, "time_ns < ?")
		args = append(args, f.Until.UnixNano())
	}
	for _, c := range []struct{ col, v string }{{"rule_id", f.RuleID}, {"src_addr", f.SrcAddr}, {"dst_addr", f.DstAddr}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	limit = min(limit, 100000)
	q := `SELECT id, time_ns, sensor, rule_id, rule_name, severity, techniques, src_addr, src_port, dst_addr, dst_port,
		protocol, function, unit, address, value, flow_id, frames, message FROM alerts`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY time_ns, seq LIMIT ?"
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite output: query: %w", err)
	}
	defer rows.Close()
	var out []alert.Alert
	for rows.Next() {
		var (
			a                    alert.Alert
			ns                   int64
			sev, tech, frames    string
			unit, address, value sql.NullInt64
		)
		if err := rows.Scan(&a.ID, &ns, &a.Sensor, &a.RuleID, &a.RuleName, &sev, &tech, &a.SrcAddr, &a.SrcPort,
			&a.DstAddr, &a.DstPort, &a.Protocol, &a.Function, &unit, &address, &value, &a.Evidence.FlowID,
			&frames, &a.Message); err != nil {
			return nil, fmt.Errorf("sqlite output: query: %w", err)
		}
		a.Time = time.Unix(0, ns).UTC()
		a.Severity = alert.Severity(sev)
		if err := json.Unmarshal([]byte(tech), &a.Techniques); err != nil {
			return nil, fmt.Errorf("sqlite output: alert %q techniques: %w", a.ID, err)
		}
		if err := json.Unmarshal([]byte(frames), &a.Evidence.Frames); err != nil {
			return nil, fmt.Errorf("sqlite output: alert %q frames: %w", a.ID, err)
		}
		if len(a.Techniques) == 0 {
			a.Techniques = nil
		}
		if len(a.Evidence.Frames) == 0 {
			a.Evidence.Frames = nil
		}
		a.Unit, a.Address, a.Value = intPtr(unit), intPtr(address), intPtr(value)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite output: query: %w", err)
	}
	return out, nil
}

func intPtr(n sql.NullInt64) *int {
	if !n.Valid {
		return nil
	}
	v := int(n.Int64)
	return &v
}
