package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"

	"github.com/anonjob/anonjob/migrations"
)

// ErrSchemaBehind means the database lacks migrations this binary needs.
var ErrSchemaBehind = errors.New("migrations not applied")

// SchemaVersion is the newest migration this binary carries.
func SchemaVersion() (int64, error) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return 0, fmt.Errorf("list migrations: %w", err)
	}
	var newest int64
	for _, n := range names {
		v, err := goose.NumericComponent(n)
		if err != nil {
			return 0, fmt.Errorf("migration %s: %w", n, err)
		}
		newest = max(newest, v)
	}
	return newest, nil
}

// CheckSchema reads the database's applied schema version, in one round trip that also proves
// the database reachable, and fails unless it is at least want.
func (s *Store) CheckSchema(ctx context.Context, want int64) error {
	var got int64
	if err := s.pool.QueryRow(ctx,
		`SELECT COALESCE(max(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&got); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if got < want {
		return fmt.Errorf("schema version %d, this binary needs %d: %w", got, want, ErrSchemaBehind)
	}
	return nil
}
