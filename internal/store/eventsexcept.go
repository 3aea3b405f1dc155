package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// readTailExcept is readTail leaving out revisions the reader holds already.
const readTailExcept = `
SELECT s.xmin, s.compacted, e.revision, e.type, e.previous_status, e.job, e.create_time
FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin,
             (SELECT compacted_revision FROM watch_history) AS compacted) s
LEFT JOIN LATERAL (
    SELECT revision, type, previous_status, job, create_time FROM job_events
    WHERE revision > @after AND revision <> ALL(@except::bigint[]) ORDER BY revision LIMIT @limit
) e ON true
ORDER BY e.revision`

// EventsAfterExcept is EventsAfter without the events of the revisions in except: a reader
// that read events past a revision still in flight keeps them, and reads (and decodes) only
// what it lacks when it reads again. limit counts the events returned.
func (s *Store) EventsAfterExcept(ctx context.Context, after int64, except []int64, limit int) (Tail, error) {
	rows, err := s.pool.Query(ctx, readTailExcept, pgx.NamedArgs{"after": after, "except": except, "limit": limit})
	if err != nil {
		return Tail{}, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var t Tail
	for rows.Next() {
		var rev *int64
		var typ, prev *string
		var snap []byte
		var at *time.Time
		if err := rows.Scan(&t.XMin, &t.Compacted, &rev, &typ, &prev, &snap, &at); err != nil {
			return Tail{}, fmt.Errorf("scan event: %w", err)
		}
		if rev == nil {
			continue // the snapshot row when no event follows
		}
		ev, err := decodeEvent(*rev, *typ, deref(prev), snap, *at)
		if err != nil {
			return Tail{}, err
		}
		t.Events = append(t.Events, ev)
	}
	if err := rows.Err(); err != nil {
		return Tail{}, fmt.Errorf("read events: %w", err)
	}
	return t, nil
}
