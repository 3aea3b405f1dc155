package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/anonjob/anonjob/internal/job"
)

// Tail is a read of the event history past some revision.
type Tail struct {
	Events []job.Event
	// XMin is the oldest transaction id still running when the events were read: every
	// transaction with a smaller id had ended by then (pg_snapshot_xmin).
	XMin int64
	// Compacted is the newest revision pruned from the history.
	Compacted int64
}

// readTail reads the events after a revision together with the snapshot's xmin, in one
// statement so that both describe the same snapshot.
const readTail = `
SELECT s.xmin, s.compacted, e.revision, e.type, e.previous_status, e.job, e.create_time
FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin,
             (SELECT compacted_revision FROM watch_history) AS compacted) s
LEFT JOIN LATERAL (
    SELECT revision, type, previous_status, job, create_time FROM job_events
    WHERE revision > $1 ORDER BY revision LIMIT $2
) e ON true
ORDER BY e.revision`

// EventsAfter reads up to limit committed events with a revision above after, in revision
// order. Revisions come from a sequence, so they are not commit-ordered: a smaller revision may
// still be in flight while a larger one is visible. Callers combine XMin with TxMarker to tell
// an in-flight revision from one that will never commit.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) (Tail, error) {
	rows, err := s.pool.Query(ctx, readTail, after, limit)
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

// ErrCompacted means events after the asked revision were pruned from the history.
var ErrCompacted = errors.New("revision is older than the kept event history")

// EventsBetween reads committed events with after < revision <= upTo, in order, at most limit.
// Revisions up to a watch hub's position are settled, so this read is exact, unless history
// after `after` was pruned: then, checked in the same statement, the error is ErrCompacted.
func (s *Store) EventsBetween(ctx context.Context, after, upTo int64, limit int) ([]job.Event, error) {
	var compacted int64
	if err := s.pool.QueryRow(ctx, `SELECT compacted_revision FROM watch_history`).Scan(&compacted); err != nil {
		return nil, fmt.Errorf("read history bound: %w", err)
	}
	if after < compacted {
		return nil, fmt.Errorf("%w: revision %d, history starts after %d", ErrCompacted, after, compacted)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT e.revision, e.type, COALESCE(e.previous_status, ''), e.job, e.create_time
		FROM job_events e, watch_history h
		WHERE e.revision > $1 AND e.revision <= $2 AND h.compacted_revision <= $1
		ORDER BY e.revision LIMIT $3`, after, upTo, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out []job.Event
	for rows.Next() {
		var rev int64
		var typ, prev string
		var snap []byte
		var at time.Time
		if err := rows.Scan(&rev, &typ, &prev, &snap, &at); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		ev, err := decodeEvent(rev, typ, prev, snap, at)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	if len(out) == 0 && after < upTo {
		// Nothing came back: either nothing committed in the range, or a compaction ran
		// between the two statements and the join above hid the rows. Tell them apart.
		if err := s.pool.QueryRow(ctx, `SELECT compacted_revision FROM watch_history`).Scan(&compacted); err == nil && after < compacted {
			return nil, fmt.Errorf("%w: revision %d, history starts after %d", ErrCompacted, after, compacted)
		}
	}
	return out, nil
}

func decodeEvent(rev int64, typ, prev string, snap []byte, at time.Time) (job.Event, error) {
	var row jobRow
	if err := json.Unmarshal(snap, &row); err != nil {
		return job.Event{}, fmt.Errorf("decode event %d: %w", rev, err)
	}
	return job.Event{
		Revision:       rev,
		Type:           job.EventType(typ),
		Job:            row.toJob(),
		PreviousStatus: job.Status(prev),
		Time:           at,
	}, nil
}

// TxMarker starts and commits a transaction that takes a transaction id, and returns that id.
// Every writer takes its transaction id before its revision (see assignXID), so once a later
// snapshot's xmin passes the marker, every revision handed out before the marker was taken has
// either committed or will never appear.
func (s *Store) TxMarker(ctx context.Context) (int64, error) {
	var xid int64
	// Asynchronous commit: the marker holds no data worth an fsync.
	err := s.pool.QueryRow(ctx,
		`SELECT set_config('synchronous_commit', 'off', true), pg_current_xact_id()::text::bigint`).
		Scan(new(string), &xid)
	if err != nil {
		return 0, fmt.Errorf("take transaction marker: %w", err)
	}
	return xid, nil
}

// Compact prunes events created before cutoff and records the newest pruned revision, so that
// a watcher asking for an older revision gets a clear error instead of a silent gap.
//
// The bound commits first and the rows go in small batches of their own: one long
// transaction would hold back the xmin that watch hubs wait on, freezing every watcher.
func (s *Store) Compact(ctx context.Context, cutoff time.Time) (int64, error) {
	var compacted int64
	if err := s.pool.QueryRow(ctx, `
		UPDATE watch_history SET compacted_revision = GREATEST(compacted_revision,
		    COALESCE((SELECT max(revision) FROM job_events WHERE create_time < $1), 0))
		RETURNING compacted_revision`, cutoff).Scan(&compacted); err != nil {
		return 0, fmt.Errorf("compact events: %w", err)
	}
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM job_events WHERE revision IN (
			SELECT revision FROM job_events WHERE revision <= $1 ORDER BY revision LIMIT 5000)`, compacted)
		if err != nil {
			return 0, fmt.Errorf("compact events: %w", err)
		}
		if tag.RowsAffected() < 5000 {
			return compacted, nil
		}
	}
}

// Head returns the newest revision handed out so far, committed or not.
func (s *Store) Head(ctx context.Context) (int64, error) {
	var head int64
	err := s.pool.QueryRow(ctx,
		`SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM job_revision_seq`).Scan(&head)
	if err != nil {
		return 0, fmt.Errorf("read revision head: %w", err)
	}
	return head, nil
}
