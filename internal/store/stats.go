package store

import (
	"context"
	"fmt"
	"time"
)

// JobStats is a snapshot of the job table for monitoring.
type JobStats struct {
	ByStatus map[string]int64 // QUEUED, PROCESSING, DONE, FAILED, CANCELLED; absent means 0
	// OldestQueued is how long the oldest QUEUED job has waited; 0 when none is queued.
	OldestQueued time.Duration
}

// JobStats counts jobs by status and ages the oldest queued one, in one query.
func (s *Store) JobStats(ctx context.Context) (JobStats, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT status, count(*),
		       CASE WHEN status = 'QUEUED' THEN EXTRACT(EPOCH FROM now() - min(create_time))::float8 ELSE 0 END
		FROM jobs GROUP BY status`)
	if err != nil {
		return JobStats{}, fmt.Errorf("job stats: %w", err)
	}
	defer rows.Close()
	out := JobStats{ByStatus: map[string]int64{}}
	for rows.Next() {
		var st string
		var n int64
		var age float64
		if err := rows.Scan(&st, &n, &age); err != nil {
			return JobStats{}, fmt.Errorf("job stats: %w", err)
		}
		out.ByStatus[st] = n
		if st == "QUEUED" {
			out.OldestQueued = time.Duration(max(age, 0) * float64(time.Second))
		}
	}
	if err := rows.Err(); err != nil {
		return JobStats{}, fmt.Errorf("job stats: %w", err)
	}
	return out, nil
}
