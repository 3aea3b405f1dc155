package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// deleteEndedJobs deletes one batch of ended jobs. The images, deliveries and delivery
// attempts go with them (ON DELETE CASCADE), the provider webhook receipts explicitly. A job
// whose client webhook is still being delivered stays until the delivery has ended.
const deleteEndedJobs = `
WITH doomed AS (
    SELECT id FROM jobs j
    WHERE status IN ` + terminalStatuses + ` AND update_time < @cutoff
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.job_id = j.id AND d.state = 'PENDING')
    ORDER BY update_time
    LIMIT @limit
    FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM jobs j USING doomed WHERE j.id = doomed.id RETURNING j.id, j.revision
), receipts AS (
    DELETE FROM webhook_receipts r USING gone WHERE r.job_id = gone.id
)
SELECT count(*), COALESCE(max(revision), 0) FROM gone`

// DeleteEndedJobs deletes up to limit jobs that ended (DONE, FAILED or CANCELLED) before
// cutoff, with everything kept about them, and returns how many it deleted. Jobs that have not
// ended are never touched, whatever their age.
//
// The event history is cut at the newest revision of the deleted jobs, in the same
// transaction: a watcher resuming from before it is told REVISION_COMPACTED (and lists again)
// rather than replayed a history with holes. Its events are pruned by the next Compact.
func (s *Store) DeleteEndedJobs(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var newest int64
		if err := tx.QueryRow(ctx, deleteEndedJobs, pgx.StrictNamedArgs{"cutoff": cutoff, "limit": limit}).
			Scan(&n, &newest); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE watch_history SET compacted_revision = GREATEST(compacted_revision, @newest)`,
			pgx.StrictNamedArgs{"newest": newest})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete ended jobs: %w", err)
	}
	return n, nil
}
