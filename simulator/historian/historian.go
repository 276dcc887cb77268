// Package historian records the plant's tag values to SQLite and serves them
// back as trends, as a plant historian does. Run samples the process on a
// fixed interval (1 s by default) and writes in batched transactions through
// a bounded queue, counting what it drops; old rows are deleted past the
// retention age. Query downsamples a tag into buckets with min, average, max
// and last value, bounded in the number of points it returns.
//
// Storage: every commit appends to a time-ordered table (recent), which
// costs a page or two per commit whatever the number of tags; every
// CompactInterval the recent rows move in one transaction into the archive,
// ordered by tag and time, where a trend of one tag is a range scan. Writing
// each sample straight into the per-tag order would dirty one page per tag
// per commit (about 1 MB of WAL per second for 200 tags at 1 Hz). Queries
// read both tables.
//
// The file is in WAL mode with synchronous=NORMAL: a killed process loses at
// most the batch it had not committed yet (an operating-system crash may
// lose the last commits too).
package historian

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3" // the SQLite driver

	"github.com/otrange/otrange/internal/sqlitedb"
)

// Sample is one tag's value at sampling time.
type Sample struct {
	Tag   string
	Value float64
}

// Point is one bucket of a trend: the samples of Tag in [Time, Time+step).
type Point struct {
	Time  time.Time
	Min   float64
	Avg   float64
	Max   float64
	Last  float64 // the value of the bucket's latest sample
	Count int
}

// Reading is a tag's latest recorded value.
type Reading struct {
	Tag   string
	Time  time.Time
	Value float64
}

// Options configure a historian. Zero values take the defaults.
type Options struct {
	Interval      time.Duration // sampling interval; default 1s
	FlushInterval time.Duration // time between commits in Run; default 1s (never below Interval)
	BatchSize     int           // rows that force a commit before FlushInterval; default 10000
	QueueSize     int           // sampled batches waiting for the writer; default 64
	Retention     time.Duration // rows older than this are deleted; default 7 days
	PruneInterval time.Duration // time between deletions of old rows; default 1 minute
	// CompactInterval is the time between moves of recent rows into the
	// per-tag archive; default 5 minutes.
	CompactInterval time.Duration
	MaxTags         int // distinct tags recorded; default 10000
	MaxPoints       int // points one Query may return; default 10000
	// NewTicker makes the sampling ticker; nil means time.NewTicker. Tests
	// pass their own to drive Run tick by tick: the time each tick carries is
	// the samples' time.
	NewTicker func(d time.Duration) (c <-chan time.Time, stop func())
	Logger    *slog.Logger // nil: discard
}

func (o *Options) defaults() {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	o.FlushInterval = max(o.FlushInterval, o.Interval)
	if o.BatchSize <= 0 {
		o.BatchSize = 10000
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 64
	}
	if o.Retention <= 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.PruneInterval <= 0 {
		o.PruneInterval = time.Minute
	}
	if o.CompactInterval <= 0 {
		o.CompactInterval = 5 * time.Minute
	}
	if o.MaxTags <= 0 {
		o.MaxTags = 10000
	}
	if o.MaxPoints <= 0 {
		o.MaxPoints = 10000
	}
	if o.NewTicker == nil {
		o.NewTicker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Errors of Query.
var (
	ErrUnknownTag   = errors.New("historian: unknown tag")
	ErrBadRange     = errors.New("historian: bad time range")
	ErrStepTooSmall = errors.New("historian: step too small for the range")
)

// Stats counts what the historian did.
type Stats struct {
	Sampled     uint64 // samples taken by Run or given to Record
	Written     uint64 // samples committed
	Dropped     uint64 // samples lost because the queue was full
	Invalid     uint64 // samples refused: NaN or infinite values, empty tag names
	TooManyTags uint64 // samples of new tags beyond MaxTags
	Pruned      uint64 // rows deleted by retention
	Commits     uint64
	Compactions uint64
	WriteErrors uint64 // failed commits (their samples are lost)
}

// Historian is an open historian file.
type Historian struct {
	opts Options
	log  *slog.Logger
	db   *sql.DB

	mu   sync.Mutex // serialises writes and guards tags
	tags map[string]int64

	sampled, written, dropped, invalid, tooMany, pruned, commits, compactions, writeErrs atomic.Uint64
}

// migrations are applied in order; index+1 is the schema version. Times are
// Unix milliseconds.
var migrations = []string{
	`CREATE TABLE tags (
		id   INTEGER PRIMARY KEY,
		name TEXT NOT NULL UNIQUE
	);
	-- the archive, clustered by tag then time
	CREATE TABLE samples (
		tag INTEGER NOT NULL REFERENCES tags(id),
		t   INTEGER NOT NULL,
		v   REAL NOT NULL,
		PRIMARY KEY (tag, t)
	) WITHOUT ROWID;
	-- the latest commits, clustered by time: appends are sequential
	CREATE TABLE recent (
		t   INTEGER NOT NULL,
		tag INTEGER NOT NULL REFERENCES tags(id),
		v   REAL NOT NULL,
		PRIMARY KEY (t, tag)
	) WITHOUT ROWID;`,
}

// Open opens (creating if needed) the historian file at path and migrates
// its schema.
func Open(path string, opts Options) (*Historian, error) {
	opts.defaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("historian: %w", err)
	}
	dsn := "file:" + path + "?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("historian: %w", err)
	}
	// Several connections so that queries run while the writer commits (WAL
	// readers do not block the writer); h.mu serialises the writes.
	db.SetMaxOpenConns(4)
	h := &Historian{opts: opts, log: opts.Logger, db: db, tags: map[string]int64{}}
	if err := sqlitedb.Migrate(context.Background(), db, sqlitedb.VersionTable, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("historian %s: %w", path, err)
	}
	rows, err := db.Query(`SELECT id, name FROM tags`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("historian %s: %w", path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			db.Close()
			return nil, fmt.Errorf("historian %s: %w", path, err)
		}
		h.tags[name] = id
	}
	if err := rows.Err(); err != nil {
		db.Close()
		return nil, fmt.Errorf("historian %s: %w", path, err)
	}
	return h, nil
}

// Close closes the file. Samples Run had not committed when its context
// ended were committed by Run before it returned.
func (h *Historian) Close() error { return h.db.Close() }

// Stats returns the counters.
func (h *Historian) Stats() Stats {
	return Stats{
		Sampled: h.sampled.Load(), Written: h.written.Load(), Dropped: h.dropped.Load(),
		Invalid: h.invalid.Load(), TooManyTags: h.tooMany.Load(), Pruned: h.pruned.Load(),
		Commits: h.commits.Load(), Compactions: h.compactions.Load(), WriteErrors: h.writeErrs.Load(),
	}
}

// batch is the samples of one instant.
type batch struct {
	t       time.Time
	samples []Sample
}

// Run samples on the interval until ctx ends, then commits what is pending
// and returns. Sampling never waits for the disk: when the writer falls
// behind by more than QueueSize batches, new batches are dropped and
// counted. sample must return a slice the historian may keep.
func (h *Historian) Run(ctx context.Context, sample func() []Sample) error {
	queue := make(chan batch, h.opts.QueueSize)
	done := make(chan error, 1)
	go func() { done <- h.writer(queue) }()

	c, stop := h.opts.NewTicker(h.opts.Interval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			close(queue)
			return <-done
		case t, ok := <-c:
			if !ok {
				close(queue)
				return <-done
			}
			s := sample()
			h.sampled.Add(uint64(len(s)))
			select {
			case queue <- batch{t: t, samples: s}:
			default:
				h.dropped.Add(uint64(len(s)))
			}
		}
	}
}

// writer commits the queued batches every FlushInterval (by sample time) or
// BatchSize rows, and deletes old rows every PruneInterval.
func (h *Historian) writer(queue <-chan batch) error {
	var pending []batch
	rows := 0
	var lastFlush, lastPrune, lastCompact time.Time
	var lastErr error
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if err := h.write(pending); err != nil {
			lastErr = err
			h.log.Warn("historian commit failed", "err", err)
		}
		pending, rows = pending[:0], 0
	}
	for b := range queue {
		if lastFlush.IsZero() {
			lastFlush, lastPrune, lastCompact = b.t.Add(-h.opts.FlushInterval), b.t, b.t
		}
		pending = append(pending, b)
		rows += len(b.samples)
		if rows >= h.opts.BatchSize || b.t.Sub(lastFlush) >= h.opts.FlushInterval-h.opts.Interval/2 {
			flush()
			lastFlush = b.t
		}
		if b.t.Sub(lastCompact) >= h.opts.CompactInterval {
			flush()
			lastFlush = b.t
			if err := h.Compact(); err != nil {
				h.log.Warn("historian compaction failed", "err", err)
			}
			lastCompact = b.t
		}
		if b.t.Sub(lastPrune) >= h.opts.PruneInterval {
			if _, err := h.Prune(b.t); err != nil {
				h.log.Warn("historian retention failed", "err", err)
			}
			lastPrune = b.t
		}
	}
	flush()
	return lastErr
}

// Record writes samples taken at t in one transaction, now (tests, replays).
func (h *Historian) Record(t time.Time, samples []Sample) error {
	h.sampled.Add(uint64(len(samples)))
	return h.write([]batch{{t: t, samples: samples}})
}

func (h *Historian) write(batches []batch) (err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	total := 0
	for _, b := range batches {
		total += len(b.samples)
	}
	defer func() {
		if err != nil {
			h.writeErrs.Add(1)
			// Tags created in the failed transaction do not exist.
			h.reloadTags()
		}
	}()
	tx, err := h.db.Begin()
	if err != nil {
		return fmt.Errorf("historian: write: %w", err)
	}
	defer tx.Rollback()
	ins, err := tx.Prepare(`INSERT OR REPLACE INTO recent (tag, t, v) VALUES (?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("historian: write: %w", err)
	}
	defer ins.Close()
	written := 0
	for _, b := range batches {
		ms := b.t.UnixMilli()
		for _, s := range b.samples {
			if s.Tag == "" || math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
				h.invalid.Add(1)
				continue
			}
			id, ok := h.tags[s.Tag]
			if !ok {
				if len(h.tags) >= h.opts.MaxTags {
					h.tooMany.Add(1)
					continue
				}
				res, err := tx.Exec(`INSERT INTO tags (name) VALUES (?)`, s.Tag)
				if err != nil {
					return fmt.Errorf("historian: new tag %q: %w", s.Tag, err)
				}
				if id, err = res.LastInsertId(); err != nil {
					return fmt.Errorf("historian: new tag %q: %w", s.Tag, err)
				}
				h.tags[s.Tag] = id
			}
			if _, err := ins.Exec(id, ms, s.Value); err != nil {
				return fmt.Errorf("historian: write %q: %w", s.Tag, err)
			}
			written++
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("historian: commit of %d samples: %w", total, err)
	}
	h.commits.Add(1)
	h.written.Add(uint64(written))
	return nil
}

// reloadTags rereads the tag ids after a failed transaction. h.mu is held.
func (h *Historian) reloadTags() {
	rows, err := h.db.Query(`SELECT id, name FROM tags`)
	if err != nil {
		return
	}
	defer rows.Close()
	tags := map[string]int64{}
	for rows.Next() {
		var id int64
		var name string
		if rows.Scan(&id, &name) != nil {
			return
		}
		tags[name] = id
	}
	if rows.Err() == nil {
		h.tags = tags
	}
}

// Prune deletes the rows older than the retention age at now and returns how
// many it deleted. Run calls it every PruneInterval.
func (h *Historian) Prune(now time.Time) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cutoff := now.Add(-h.opts.Retention).UnixMilli()
	tx, err := h.db.Begin()
	if err != nil {
		return 0, fmt.Errorf("historian: prune: %w", err)
	}
	defer tx.Rollback()
	var n int64
	for _, id := range h.tags {
		// Per tag, so that each delete is a range of the primary key.
		res, err := tx.Exec(`DELETE FROM samples WHERE tag = ? AND t < ?`, id, cutoff)
		if err != nil {
			return 0, fmt.Errorf("historian: prune: %w", err)
		}
		d, _ := res.RowsAffected()
		n += d
	}
	res, err := tx.Exec(`DELETE FROM recent WHERE t < ?`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("historian: prune: %w", err)
	}
	d, _ := res.RowsAffected()
	n += d
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("historian: prune: %w", err)
	}
	h.pruned.Add(uint64(n))
	return n, nil
}

// Compact moves every recent row into the per-tag archive, in one
// transaction. Run calls it every CompactInterval; queries give the same
// answers before and after.
func (h *Historian) Compact() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	tx, err := h.db.Begin()
	if err != nil {
		return fmt.Errorf("historian: compact: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT OR REPLACE INTO samples (tag, t, v) SELECT tag, t, v FROM recent ORDER BY tag, t`); err != nil {
		return fmt.Errorf("historian: compact: %w", err)
	}
	if _, err := tx.Exec(`DELETE FROM recent`); err != nil {
		return fmt.Errorf("historian: compact: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("historian: compact: %w", err)
	}
	h.compactions.Add(1)
	return nil
}

// Tags returns the recorded tag names, sorted.
func (h *Historian) Tags() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := make([]string, 0, len(h.tags))
	for name := range h.tags {
		s = append(s, name)
	}
	slices.Sort(s)
	return s
}

// Latest returns every tag's latest value, sorted by tag.
func (h *Historian) Latest(ctx context.Context) ([]Reading, error) {
	rows, err := h.db.QueryContext(ctx, `
		WITH last AS (
			SELECT tag, MAX(t) AS t FROM (
				SELECT tag, MAX(t) AS t FROM recent GROUP BY tag
				UNION ALL
				SELECT id, (SELECT MAX(t) FROM samples WHERE tag = id) FROM tags
			) WHERE t IS NOT NULL GROUP BY tag
		)
		SELECT tags.name, last.t, COALESCE(
			(SELECT v FROM recent WHERE recent.t = last.t AND recent.tag = last.tag),
			(SELECT v FROM samples WHERE samples.tag = last.tag AND samples.t = last.t))
		FROM last JOIN tags ON tags.id = last.tag
		ORDER BY tags.name`)
	if err != nil {
		return nil, fmt.Errorf("historian: latest: %w", err)
	}
	defer rows.Close()
	var out []Reading
	for rows.Next() {
		var r Reading
		var ms int64
		if err := rows.Scan(&r.Tag, &ms, &r.Value); err != nil {
			return nil, fmt.Errorf("historian: latest: %w", err)
		}
		r.Time = time.UnixMilli(ms)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Query returns the trend of tag over [from, to) in buckets of step, aligned
// on from. Buckets without samples are left out. The range must hold at most
// MaxPoints buckets.
func (h *Historian) Query(ctx context.Context, tag string, from, to time.Time, step time.Duration) ([]Point, error) {
	fromMs, toMs := from.UnixMilli(), to.UnixMilli()
	stepMs := step.Milliseconds()
	switch {
	case toMs <= fromMs:
		return nil, fmt.Errorf("%w: from %s is not before to %s", ErrBadRange, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	case stepMs < 1:
		return nil, fmt.Errorf("%w: step %s is below 1ms", ErrStepTooSmall, step)
	}
	buckets := (toMs - fromMs + stepMs - 1) / stepMs
	if buckets > int64(h.opts.MaxPoints) {
		minStep := time.Duration((toMs-fromMs+int64(h.opts.MaxPoints)-1)/int64(h.opts.MaxPoints)) * time.Millisecond
		return nil, fmt.Errorf("%w: %d points over %s at step %s; at most %d points, so a step of at least %s",
			ErrStepTooSmall, buckets, to.Sub(from), step, h.opts.MaxPoints, minStep)
	}
	h.mu.Lock()
	id, ok := h.tags[tag]
	h.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownTag, tag)
	}
	// The archive and the recent rows are aggregated apart (each a range of
	// its primary key) and merged here: a union would feed every row through
	// one more step.
	archive, err := h.buckets(ctx, "samples", tag, id, fromMs, stepMs, toMs)
	if err != nil {
		return nil, err
	}
	recent, err := h.buckets(ctx, "recent", tag, id, fromMs, stepMs, toMs)
	if err != nil {
		return nil, err
	}
	out := make([]Point, 0, len(archive)+len(recent))
	for len(archive) > 0 || len(recent) > 0 {
		var b bucket
		switch {
		case len(recent) == 0 || (len(archive) > 0 && archive[0].k < recent[0].k):
			b, archive = archive[0], archive[1:]
		case len(archive) == 0 || recent[0].k < archive[0].k:
			b, recent = recent[0], recent[1:]
		default: // the same bucket in both
			a, r := archive[0], recent[0]
			archive, recent = archive[1:], recent[1:]
			b = bucket{k: a.k, min: min(a.min, r.min), max: max(a.max, r.max), sum: a.sum + r.sum, n: a.n + r.n, lt: a.lt, last: a.last}
			if r.lt >= a.lt {
				b.lt, b.last = r.lt, r.last
			}
		}
		out = append(out, Point{Time: time.UnixMilli(fromMs + b.k*stepMs), Min: b.min, Avg: b.sum / float64(b.n),
			Max: b.max, Last: b.last, Count: b.n})
	}
	return out, nil
}

// bucket is one bucket of one table's rows.
type bucket struct {
	k        int64
	min, max float64
	sum      float64
	n        int
	lt       int64 // time of the latest sample
	last     float64
}

// buckets aggregates the rows of tag id in table (samples or recent).
func (h *Historian) buckets(ctx context.Context, table, tag string, id, fromMs, stepMs, toMs int64) ([]bucket, error) {
	last := `SELECT v FROM samples WHERE tag = ?3 AND t = b.lt`
	if table == "recent" {
		last = `SELECT v FROM recent WHERE t = b.lt AND tag = ?3`
	}
	rows, err := h.db.QueryContext(ctx, `
		WITH b AS (
			SELECT (t - ?1) / ?2 AS k, MIN(v) AS mn, SUM(v) AS sm, MAX(v) AS mx, COUNT(*) AS n, MAX(t) AS lt
			FROM `+table+` WHERE tag = ?3 AND t >= ?1 AND t < ?4
			GROUP BY k
		)
		SELECT k, mn, sm, mx, n, lt, (`+last+`) FROM b ORDER BY k`, fromMs, stepMs, id, toMs)
	if err != nil {
		return nil, fmt.Errorf("historian: query %q: %w", tag, err)
	}
	defer rows.Close()
	var out []bucket
	for rows.Next() {
		var b bucket
		if err := rows.Scan(&b.k, &b.min, &b.sum, &b.max, &b.n, &b.lt, &b.last); err != nil {
			return nil, fmt.Errorf("historian: query %q: %w", tag, err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}
