package sqlitedb

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3" // database/sql driver "sqlite3"
)

func open(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "m.db")+"?_busy_timeout=5000")
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	steps := []string{
		`CREATE TABLE a (x INTEGER)`,
		`ALTER TABLE a ADD COLUMN y INTEGER NOT NULL DEFAULT 0`,
	}
	for _, tc := range []struct {
		name    string
		where   Versioning
		version string // query reading the recorded version
		set     string // statement recording version 99
	}{
		{"user_version", UserVersion, `PRAGMA user_version`, `PRAGMA user_version = 99`},
		{"version table", VersionTable, `SELECT version FROM schema_version`, `UPDATE schema_version SET version = 99`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t)
			read := func() int {
				t.Helper()
				var v int
				if err := db.QueryRow(tc.version).Scan(&v); err != nil {
					t.Fatalf("read version: %v", err)
				}
				return v
			}
			if err := Migrate(ctx, db, tc.where, steps[:1]); err != nil {
				t.Fatalf("first migration: %v", err)
			}
			if v := read(); v != 1 {
				t.Errorf("version after one migration = %d, want 1", v)
			}
			if err := Migrate(ctx, db, tc.where, steps); err != nil {
				t.Fatalf("second migration: %v", err)
			}
			if err := Migrate(ctx, db, tc.where, steps); err != nil {
				t.Fatalf("again, with nothing to do: %v", err)
			}
			if v := read(); v != 2 {
				t.Errorf("version = %d, want 2", v)
			}
			if _, err := db.Exec(`INSERT INTO a (x, y) VALUES (1, 2)`); err != nil {
				t.Errorf("schema not migrated: %v", err)
			}

			// A failing migration leaves the version where it was.
			bad := append(steps[:2:2], `CREATE TABLE a (z INTEGER)`)
			if err := Migrate(ctx, db, tc.where, bad); err == nil || !strings.Contains(err.Error(), "migration 3") {
				t.Errorf("failing migration: %v", err)
			}
			if v := read(); v != 2 {
				t.Errorf("version after a failed migration = %d, want 2", v)
			}

			if _, err := db.Exec(tc.set); err != nil {
				t.Fatalf("set version: %v", err)
			}
			if err := Migrate(ctx, db, tc.where, steps); err == nil || !strings.Contains(err.Error(), "newer") {
				t.Errorf("newer schema: %v", err)
			}
		})
	}
}
