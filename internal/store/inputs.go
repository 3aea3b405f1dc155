package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/anonjob/anonjob/internal/job"
)

// Input returns the image a job was submitted with, kept until the provider has it (see
// DeleteInput). Once it is gone, or for a missing job, the error is job.ErrNotFound.
func (s *Store) Input(ctx context.Context, id string) ([]byte, error) {
	rows, _ := s.pool.Query(ctx, `SELECT data FROM job_inputs WHERE job_id = @id`, pgx.StrictNamedArgs{"id": id})
	data, err := pgx.CollectOneRow(rows, pgx.RowTo[[]byte])
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, job.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	return data, nil
}
