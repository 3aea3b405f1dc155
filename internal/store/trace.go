package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolOption adjusts the pool Connect opens.
type PoolOption func(*pgxpool.Config)

// WithQueryTracer traces the pool's statements with t; a nil t changes nothing.
func WithQueryTracer(t pgx.QueryTracer) PoolOption {
	return func(c *pgxpool.Config) {
		if t != nil {
			c.ConnConfig.Tracer = t
		}
	}
}

// JobTraceparent is the W3C traceparent the job was created in; "" if it was not traced or
// the job is gone.
func (s *Store) JobTraceparent(ctx context.Context, id string) (string, error) {
	var tp *string
	err := s.pool.QueryRow(ctx, `SELECT trace_parent FROM jobs WHERE id = $1`, id).Scan(&tp)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read job trace context: %w", err)
	}
	return deref(tp), nil
}
