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
	// ClaimedBy is the replica holding the job's claim (an upload or a poll under way), "" for none.
	ClaimedBy string
	// LeaseUntil is when an upload claim runs out; zero when none was taken since the last move.
	LeaseUntil time.Time
}

// DispatchState returns a job's dispatch bookkeeping, or job.ErrNotFound.
func (s *Store) DispatchState(ctx context.Context, id string) (DispatchState, error) {
	type stateRow struct {
		Attempts         int        `db:"attempts"`
		LastAttemptError *string    `db:"last_attempt_error"`
		NextAttemptAt    time.Time  `db:"next_attempt_at"`
		Polls            int        `db:"polls"`
		NextPollAt       *time.Time `db:"next_poll_at"`
		ClaimedBy        *string    `db:"claimed_by"`
		LeaseUntil       *time.Time `db:"lease_until"`
	}
	rows, _ := s.pool.Query(ctx, `
		SELECT attempts, last_attempt_error, next_attempt_at, polls, next_poll_at, claimed_by, lease_until
		FROM jobs WHERE id = @id`,
		pgx.StrictNamedArgs{"id": id})
	row, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[stateRow])
	if errors.Is(err, pgx.ErrNoRows) {
		return DispatchState{}, job.ErrNotFound
	}
	if err != nil {
		return DispatchState{}, fmt.Errorf("read dispatch state: %w", err)
	}
	st := DispatchState{Attempts: row.Attempts, LastAttemptError: deref(row.LastAttemptError),
		NextAttemptAt: row.NextAttemptAt, Polls: row.Polls, ClaimedBy: deref(row.ClaimedBy)}
	if row.NextPollAt != nil {
		st.NextPollAt = *row.NextPollAt
	}
	if row.LeaseUntil != nil {
		st.LeaseUntil = *row.LeaseUntil
	}
	return st, nil
}
