// Package store keeps the range's append-only event log in SQLite (WAL mode).
// An event is acknowledged only after its transaction commits, so a killed
// process loses no acknowledged event.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // the SQLite driver

	"github.com/otrange/otrange/internal/sqlitedb"
)

// Event is one entry of the log: the contract every view, the scoring, the
// report and replay are derived from.
type Event struct {
	ID       int64           `json:"id"`
	Exercise string          `json:"exercise"`
	Kind     string          `json:"kind"`
	Time     time.Time       `json:"time"`               // wall time
	Clock    time.Duration   `json:"clock"`              // exercise time when it happened
	Source   string          `json:"source"`             // "step:ID", "rule:ID", "participant:ROLE", "plant", ...
	Audience []string        `json:"audience,omitempty"` // roles that see it; empty: every role
	Cause    string          `json:"cause,omitempty"`    // correlation: the scenario step (or event) that caused it
	Payload  json.RawMessage `json:"payload"`
}

// Store is the event log.
type Store struct {
	db *sql.DB
}

// migrations are applied in order; the index+1 is the schema version.
var migrations = []string{
	`CREATE TABLE events (
		id       INTEGER PRIMARY KEY AUTOINCREMENT,
		exercise TEXT NOT NULL,
		kind     TEXT NOT NULL,
		time     INTEGER NOT NULL, -- unix nanoseconds
		source   TEXT NOT NULL,
		payload  TEXT NOT NULL
	);
	CREATE INDEX events_kind ON events(exercise, kind, id);`,
	`ALTER TABLE events ADD COLUMN clock INTEGER NOT NULL DEFAULT 0; -- exercise time, nanoseconds
	ALTER TABLE events ADD COLUMN audience TEXT NOT NULL DEFAULT ''; -- comma-separated roles
	ALTER TABLE events ADD COLUMN cause TEXT NOT NULL DEFAULT '';
	CREATE INDEX events_by_kind ON events(kind, id);`,
}

// Open opens (creating if needed) the store at path and migrates it.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	dsn := "file:" + path + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000&_foreign_keys=on"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db.SetMaxOpenConns(1) // one writer; SQLite serialises writes anyway
	s := &Store{db: db}
	if err := sqlitedb.Migrate(context.Background(), db, sqlitedb.VersionTable, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Append writes ev and returns it with its id. It returns only after the
// write is durable.
func (s *Store) Append(ctx context.Context, ev Event) (Event, error) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if len(ev.Payload) == 0 {
		ev.Payload = json.RawMessage("null")
	}
	for _, r := range ev.Audience {
		if r == "" || strings.Contains(r, ",") {
			return ev, fmt.Errorf("store: append: bad audience role %q", r)
		}
	}
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO events (exercise, kind, time, clock, source, audience, cause, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		ev.Exercise, ev.Kind, ev.Time.UnixNano(), int64(ev.Clock), ev.Source, strings.Join(ev.Audience, ","), ev.Cause, string(ev.Payload))
	if err != nil {
		return ev, fmt.Errorf("store: append: %w", err)
	}
	ev.ID, err = res.LastInsertId()
	return ev, err
}

// Query selects events.
type Query struct {
	Exercise string // empty: every exercise
	Kind     string // empty: all kinds
	AfterID  int64
	Limit    int // <= 0 or > 10000: 10000
	Newest   bool
}

// Events returns the events matching q, oldest first (newest first with q.Newest).
func (s *Store) Events(ctx context.Context, q Query) ([]Event, error) {
	if q.Limit <= 0 || q.Limit > 10000 {
		q.Limit = 10000
	}
	order := "ASC"
	if q.Newest {
		order = "DESC"
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, exercise, kind, time, clock, source, audience, cause, payload FROM events
		 WHERE (? = '' OR exercise = ?) AND (? = '' OR kind = ?) AND id > ?
		 ORDER BY id `+order+` LIMIT ?`,
		q.Exercise, q.Exercise, q.Kind, q.Kind, q.AfterID, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("store: query: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var ev Event
		var ns, clock int64
		var payload, audience string
		if err := rows.Scan(&ev.ID, &ev.Exercise, &ev.Kind, &ns, &clock, &ev.Source, &audience, &ev.Cause, &payload); err != nil {
			return nil, err
		}
		ev.Time, ev.Clock = time.Unix(0, ns), time.Duration(clock)
		if audience != "" {
			ev.Audience = strings.Split(audience, ",")
		}
		ev.Payload = json.RawMessage(payload)
		out = append(out, ev)
	}
	return out, rows.Err()
}
