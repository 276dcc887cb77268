// Package sqlitedb migrates the schemas of otrange's SQLite files (the
// exercise event store, the historian, the sensor's asset and alert stores):
// each file holds a list of migrations, applied in order, and records how
// far it has come. Each package keeps its own connection string, so its own
// journal mode, synchronisation and locking.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Versioning says where a file records its schema version. It is part of
// the file format: a package never changes it.
type Versioning int

const (
	// UserVersion keeps the version in the file header (PRAGMA user_version).
	UserVersion Versioning = iota
	// VersionTable keeps the version in a one-row table
	// schema_version(version).
	VersionTable
)

// Migrate brings db's schema to version len(migrations): migration i takes
// it from version i to i+1, in one transaction that also records the new
// version. A file whose version is newer than migrations is refused, so
// migrations are appended to, never edited.
func Migrate(ctx context.Context, db *sql.DB, where Versioning, migrations []string) error {
	v, err := version(ctx, db, where)
	if err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this program's (%d)", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if err := setVersion(ctx, tx, where, v+1); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// version reads the schema version, creating the version table at 0 when
// the file keeps one and has none yet.
func version(ctx context.Context, db *sql.DB, where Versioning) (int, error) {
	var v int
	if where == UserVersion {
		err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v)
		return v, err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return 0, err
	}
	err := db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = db.ExecContext(ctx, `INSERT INTO schema_version VALUES (0)`)
	}
	return v, err
}

func setVersion(ctx context.Context, tx *sql.Tx, where Versioning, v int) error {
	if where == UserVersion {
		// A pragma takes no parameters; v is an int, so formatting is safe.
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v))
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, v)
	return err
}
