package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/anonjob/anonjob/internal/job"
)

// DispatchState is the dispatcher's and reconciler's bookkeeping of one job: why a job waits,
// and how often it was tried or polled.
type DispatchState struct {
	Attempts         int // upload attempts charged
	LastAttemptError string
	NextAttemptAt    time.Time
	Polls            int
	NextPollAt       time.Time // zero when no poll is scheduled
}

// DispatchState returns a job's dispatch bookkeeping, or job.ErrNotFound.
func (s *Store) DispatchState(ctx context.Context, id string) (DispatchState, error) {
	type stateRow struct {
		Attempts         int        `db:"attempts"`
		LastAttemptError *string    `db:"last_attempt_error"`
		NextAttemptAt    time.Time  `db:"next_attempt_at"`
		Polls            int        `db:"polls"`
		NextPollAt       *time.Time `db:"next_poll_at"`
	}
	rows, _ := s.pool.Query(ctx, `
		SELECT attempts, last_attempt_error, next_attempt_at, polls, next_poll_at FROM jobs WHERE id = @id`,
		pgx.StrictNamedArgs{"id": id})
	row, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[stateRow])
	if errors.Is(err, pgx.ErrNoRows) {
		return DispatchState{}, job.ErrNotFound
	}
	if err != nil {
		return DispatchState{}, fmt.Errorf("read dispatch state: %w", err)
	}
	st := DispatchState{Attempts: row.Attempts, LastAttemptError: deref(row.LastAttemptError),
		NextAttemptAt: row.NextAttemptAt, Polls: row.Polls}
	if row.NextPollAt != nil {
		st.NextPollAt = *row.NextPollAt
	}
	return st, nil
}
