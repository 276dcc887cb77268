package assets

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // database/sql driver "sqlite3"

	"github.com/otrange/otrange/internal/sqlitedb"
)

// migrations build the store's schema; migration i brings the file from
// user_version i to i+1. Append, never edit.
var migrations = []string{
	`CREATE TABLE assets (
		address       TEXT PRIMARY KEY,
		role          TEXT NOT NULL,
		first_seen_ns INTEGER NOT NULL,
		last_seen_ns  INTEGER NOT NULL,
		data          TEXT NOT NULL -- the Asset as JSON
	);
	CREATE INDEX assets_last_seen ON assets(last_seen_ns);`,
}

// maxAssetJSON bounds one stored asset read back.
const maxAssetJSON = 4 << 20

// Store keeps the inventory in a SQLite file (WAL mode, schema versioned by
// user_version). One Store may be used from several goroutines.
type Store struct {
	db *sql.DB
}

// OpenStore opens (creating or migrating) the asset store at path. A file
// whose schema is newer than this program's is refused.
func OpenStore(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("asset store: a path is required")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("asset store: path %q: '?' and '#' are not allowed", path)
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000")
	if err != nil {
		return nil, fmt.Errorf("asset store: %w", err)
	}
	db.SetMaxOpenConns(1)
	if err := sqlitedb.Migrate(context.Background(), db, sqlitedb.UserVersion, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("asset store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Save writes the assets (insert or replace) in one transaction.
func (s *Store) Save(as []Asset) error {
	if len(as) == 0 {
		return nil
	}
	tx, err := s.db.Begin()
	if err != nil {
		return fmt.Errorf("asset store: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.Prepare(`INSERT INTO assets(address, role, first_seen_ns, last_seen_ns, data) VALUES (?,?,?,?,?)
		ON CONFLICT(address) DO UPDATE SET role=excluded.role, first_seen_ns=excluded.first_seen_ns,
		last_seen_ns=excluded.last_seen_ns, data=excluded.data`)
	if err != nil {
		return fmt.Errorf("asset store: %w", err)
	}
	defer st.Close()
	for i := range as {
		a := &as[i]
		data, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("asset store: %s: %w", a.Address, err)
		}
		if _, err := st.Exec(a.Address.String(), string(a.Role), a.FirstSeen.UnixNano(), a.LastSeen.UnixNano(), string(data)); err != nil {
			return fmt.Errorf("asset store: %s: %w", a.Address, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("asset store: %w", err)
	}
	return nil
}

// Load returns every stored asset, ordered by address. A row that does not
// decode is an error naming its address.
func (s *Store) Load() ([]Asset, error) {
	rows, err := s.db.Query(`SELECT address, data FROM assets`)
	if err != nil {
		return nil, fmt.Errorf("asset store: %w", err)
	}
	defer rows.Close()
	var out []Asset
	for rows.Next() {
		var addr, data string
		if err := rows.Scan(&addr, &data); err != nil {
			return nil, fmt.Errorf("asset store: %w", err)
		}
		if len(data) > maxAssetJSON {
			return nil, fmt.Errorf("asset store: asset %s: %d bytes of JSON, more than %d", addr, len(data), maxAssetJSON)
		}
		var a Asset
		if err := json.Unmarshal([]byte(data), &a); err != nil {
			return nil, fmt.Errorf("asset store: asset %s: %w", addr, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("asset store: %w", err)
	}
	sortAssets(out)
	return out, nil
}

// ReadFile returns the assets stored in the file at path, for the CLI. The
// file must exist; it may be in use by a running sensor.
func ReadFile(path string) ([]Asset, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("asset store: path %q: '?' and '#' are not allowed", path)
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, fmt.Errorf("asset store: %w", err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return nil, fmt.Errorf("asset store %s: %w", path, err)
	}
	if v == 0 || v > len(migrations) {
		return nil, fmt.Errorf("asset store %s: schema version %d, this program reads 1..%d", path, v, len(migrations))
	}
	s := &Store{db: db}
	return s.Load()
}

// Flush saves the inventory's changes to the store; after a failed save the
// changes are kept for the next call.
func Flush(inv *Inventory, st *Store) error {
	ch := inv.TakeChanges()
	if err := st.Save(ch); err != nil {
		addrs := make([]netip.Addr, len(ch))
		for i := range ch {
			addrs[i] = ch[i].Address
		}
		inv.MarkChanged(addrs)
		return err
	}
	return nil
}

// Persist saves the inventory's changes every interval (wall time; <= 0
// means 30 s) until ctx is done, then once more. It returns the last save
// error, if any; failures in between are logged with the inventory's logger.
func Persist(ctx context.Context, inv *Inventory, st *Store, every time.Duration) error {
	if every <= 0 {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return Flush(inv, st)
		case <-t.C:
			if err := Flush(inv, st); err != nil {
				inv.log.Warn("saving the asset inventory failed", "err", err)
			}
		}
	}
}

func sortAssets(as []Asset) {
	slices.SortFunc(as, func(x, y Asset) int { return x.Address.Compare(y.Address) })
}
