package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// JobStats is a snapshot of the job table for monitoring.
type JobStats struct {
	ByStatus map[string]int64 // QUEUED, PROCESSING, DONE, FAILED, CANCELLED; absent means 0
	// OldestQueued is how long the oldest QUEUED job has waited; 0 when none is queued.
	OldestQueued time.Duration
}

// JobStats counts jobs by status and ages the oldest queued one, in one query.
func (s *Store) JobStats(ctx context.Context) (JobStats, error) {
	type statusRow struct {
		Status    string  `db:"status"`
		Count     int64   `db:"count"`
		AgeSecond float64 `db:"oldest_age"`
	}
	rows, _ := s.pool.Query(ctx, `
		SELECT status, count(*) AS count,
		       CASE WHEN status = 'QUEUED' THEN EXTRACT(EPOCH FROM now() - min(create_time))::float8 ELSE 0 END AS oldest_age
		FROM jobs GROUP BY status`)
	byStatus, err := pgx.CollectRows(rows, pgx.RowToStructByName[statusRow])
	if err != nil {
		return JobStats{}, fmt.Errorf("job stats: %w", err)
	}
	out := JobStats{ByStatus: map[string]int64{}}
	for _, r := range byStatus {
		out.ByStatus[r.Status] = r.Count
		if r.Status == "QUEUED" {
			out.OldestQueued = time.Duration(max(r.AgeSecond, 0) * float64(time.Second))
		}
	}
	return out, nil
}
