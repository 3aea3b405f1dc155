package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
    WHERE revision > @after AND revision <> ALL(coalesce(@except::bigint[], '{}'))
    ORDER BY revision LIMIT @limit
) e ON true
ORDER BY e.revision`

// EventsAfter reads up to limit committed events with a revision above after, in revision
// order. Revisions come from a sequence, so they are not commit-ordered: a smaller revision may
// still be in flight while a larger one is visible. Callers combine XMin with TxMarker to tell
// an in-flight revision from one that will never commit.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) (Tail, error) {
	return s.EventsAfterExcept(ctx, after, nil, limit)
}

// EventsAfterExcept is EventsAfter without the events of the revisions in except: a reader
// that read events past a revision still in flight keeps them, and reads (and decodes) only
// what it lacks when it reads again. limit counts the events returned.
func (s *Store) EventsAfterExcept(ctx context.Context, after int64, except []int64, limit int) (Tail, error) {
	type tailRow struct {
		XMin      int64 `db:"xmin"`
		Compacted int64 `db:"compacted"`
		eventRow
	}
	// The snapshot row comes back alone, its event columns NULL, when no event follows.
	rows, _ := s.pool.Query(ctx, readTail, pgx.StrictNamedArgs{"after": after, "except": except, "limit": limit})
	read, err := pgx.CollectRows(rows, pgx.RowToStructByName[tailRow])
	if err != nil {
		return Tail{}, fmt.Errorf("read events: %w", err)
	}
	var t Tail
	for _, r := range read {
		t.XMin, t.Compacted = r.XMin, r.Compacted
		if r.Revision == nil {
			continue
		}
		ev, err := r.event()
		if err != nil {
			return Tail{}, err
		}
		t.Events = append(t.Events, ev)
	}
	return t, nil
}

// readRevisions is readTail without the events' contents.
const readRevisions = `
SELECT s.xmin, s.compacted, e.revision
FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin,
             (SELECT compacted_revision FROM watch_history) AS compacted) s
LEFT JOIN LATERAL (
    SELECT revision FROM job_events WHERE revision > @after ORDER BY revision LIMIT @limit
) e ON true
ORDER BY e.revision`

// RevisionsAfter is EventsAfter with only the revisions of the events: a reader with nobody
// to hand the events to (a watch hub without watchers) follows the history without reading
// and decoding the jobs.
func (s *Store) RevisionsAfter(ctx context.Context, after int64, limit int) (Tail, error) {
	type revRow struct {
		XMin      int64  `db:"xmin"`
		Compacted int64  `db:"compacted"`
		Revision  *int64 `db:"revision"`
	}
	rows, _ := s.pool.Query(ctx, readRevisions, pgx.StrictNamedArgs{"after": after, "limit": limit})
	read, err := pgx.CollectRows(rows, pgx.RowToStructByName[revRow])
	if err != nil {
		return Tail{}, fmt.Errorf("read revisions: %w", err)
	}
	var t Tail
	for _, r := range read {
		t.XMin, t.Compacted = r.XMin, r.Compacted
		if r.Revision != nil {
			t.Events = append(t.Events, job.Event{Revision: *r.Revision})
		}
	}
	return t, nil
}

// readCompacted reads the newest revision pruned from the history.
const readCompacted = `SELECT compacted_revision FROM watch_history`

// ErrCompacted means events after the asked revision were pruned from the history.
var ErrCompacted = errors.New("revision is older than the kept event history")

// EventsBetween reads committed events with after < revision <= upTo, in order, at most limit.
// Revisions up to a watch hub's position are settled, so this read is exact, unless history
// after `after` was pruned: then, checked in the same statement, the error is ErrCompacted.
func (s *Store) EventsBetween(ctx context.Context, after, upTo int64, limit int) ([]job.Event, error) {
	var compacted int64
	if err := s.pool.QueryRow(ctx, readCompacted).Scan(&compacted); err != nil {
		return nil, fmt.Errorf("read history bound: %w", err)
	}
	if after < compacted {
		return nil, fmt.Errorf("%w: revision %d, history starts after %d", ErrCompacted, after, compacted)
	}
	rows, _ := s.pool.Query(ctx, `
		SELECT e.revision, e.type, e.previous_status, e.job, e.create_time
		FROM job_events e, watch_history h
		WHERE e.revision > @after AND e.revision <= @up_to AND h.compacted_revision <= @after
		ORDER BY e.revision LIMIT @limit`, pgx.StrictNamedArgs{"after": after, "up_to": upTo, "limit": limit})
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (job.Event, error) {
		row, err := pgx.RowToStructByName[eventRow](r)
		if err != nil {
			return job.Event{}, err
		}
		return row.event()
	})
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	if len(out) == 0 && after < upTo {
		// Nothing came back: either nothing committed in the range, or a compaction ran
		// between the two statements and the join above hid the rows. Tell them apart.
		if err := s.pool.QueryRow(ctx, readCompacted).Scan(&compacted); err == nil && after < compacted {
			return nil, fmt.Errorf("%w: revision %d, history starts after %d", ErrCompacted, after, compacted)
		}
	}
	return out, nil
}

// eventRow is a job_events row. Its columns are nullable because EventsAfter reads it through
// an outer join.
type eventRow struct {
	Revision       *int64     `db:"revision"`
	Type           *string    `db:"type"`
	PreviousStatus *string    `db:"previous_status"`
	Job            []byte     `db:"job"` // the job's row as JSON, keyed by column name
	CreateTime     *time.Time `db:"create_time"`
}

func (e eventRow) event() (job.Event, error) {
	if e.Revision == nil || e.Type == nil || e.CreateTime == nil {
		return job.Event{}, errors.New("read an event row without its event")
	}
	var row jobRow
	if err := json.Unmarshal(e.Job, &row); err != nil {
		return job.Event{}, fmt.Errorf("decode event %d: %w", *e.Revision, err)
	}
	return job.Event{
		Revision:       *e.Revision,
		Type:           job.EventType(*e.Type),
		Job:            row.toJob(),
		PreviousStatus: job.Status(deref(e.PreviousStatus)),
		Time:           *e.CreateTime,
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

// compactBatch bounds the events one statement of Compact deletes.
const compactBatch = 5000

// Compact prunes events created before cutoff and records the newest pruned revision, so that
// a watcher asking for an older revision gets a clear error instead of a silent gap.
//
// The bound commits first and the rows go in small batches of their own: one long
// transaction would hold back the xmin that watch hubs wait on, freezing every watcher.
func (s *Store) Compact(ctx context.Context, cutoff time.Time) (int64, error) {
	var compacted int64
	if err := s.pool.QueryRow(ctx, `
		UPDATE watch_history SET compacted_revision = GREATEST(compacted_revision,
		    COALESCE((SELECT max(revision) FROM job_events WHERE create_time < @cutoff), 0))
		RETURNING compacted_revision`, pgx.StrictNamedArgs{"cutoff": cutoff}).Scan(&compacted); err != nil {
		return 0, fmt.Errorf("compact events: %w", err)
	}
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM job_events WHERE revision IN (
			SELECT revision FROM job_events WHERE revision <= @compacted ORDER BY revision LIMIT @batch)`,
			pgx.StrictNamedArgs{"compacted": compacted, "batch": compactBatch})
		if err != nil {
			return 0, fmt.Errorf("compact events: %w", err)
		}
		if tag.RowsAffected() < compactBatch {
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
