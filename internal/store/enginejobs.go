package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/anonjob/anonjob/internal/job"
)

// claimQueuedSQL leases the first due QUEUED jobs, in the order of jobs_dispatch_idx, and
// returns them with their inputs.
const claimQueuedSQL = `
		UPDATE jobs j SET attempts = j.attempts + 1, lease_until = now() + @lease::interval,
		    claimed_by = @owner, upload_began_at = now(),
		    engine_id = coalesce(nullif(@engine, ''), j.engine_id)
		FROM (
		    SELECT id AS due_id, upload_began_at AS unsettled FROM jobs
		    WHERE status = 'QUEUED' AND next_attempt_at <= now() - @wait::interval
		      AND (lease_until IS NULL OR lease_until < now())
		    ORDER BY next_attempt_at, create_time
		    FOR UPDATE SKIP LOCKED
		    LIMIT @limit
		) due
		WHERE j.id = due.due_id
		RETURNING ` + jobColumns + `, attempts, unsettled,
		    (SELECT data FROM job_inputs WHERE job_id = j.id) AS input,
		    coalesce(j.trace_parent, '') AS trace_parent`

// claimPollsSQL leases the first PROCESSING jobs due for a status poll, in the order of
// jobs_reconcile_idx.
const claimPollsSQL = `
		UPDATE jobs j SET polls = j.polls + 1, next_poll_at = now() + @lease::interval, claimed_by = @owner,
		    engine_id = coalesce(nullif(@engine, ''), j.engine_id)
		FROM (
		    SELECT id AS due_id FROM jobs
		    WHERE status = 'PROCESSING' AND next_poll_at <= now()
		      AND (@engine = '' OR engine_id = @engine OR (engine_id IS NULL AND @engine = @default))
		    ORDER BY next_poll_at
		    FOR UPDATE SKIP LOCKED
		    LIMIT @limit
		) due
		WHERE j.id = due.due_id
		RETURNING ` + jobColumns + `, polls`

// ClaimQueuedFor is ClaimQueued for an upload to one engine: the claim records the engine, so
// that the job's file, once there, is fetched, polled and deleted there from any replica
// (engineID "" records none). Only jobs due for at least wait are claimed: a replica's
// dispatcher for an engine other than its own in-process one waits a moment, so that the
// engine on the replica's own host takes what it has room for first.
func (s *Store) ClaimQueuedFor(ctx context.Context, owner, engineID string, limit int, lease, wait time.Duration) ([]Claim, error) {
	type claimRow struct {
		jobRow
		Attempts    int        `db:"attempts"`
		Input       []byte     `db:"input"`
		Unsettled   *time.Time `db:"unsettled"`
		Traceparent string     `db:"trace_parent"`
	}
	out, err := claimInIndexOrder(ctx, s, claimQueuedSQL,
		pgx.StrictNamedArgs{"owner": owner, "engine": engineID, "limit": limit, "lease": lease, "wait": wait},
		func(r pgx.CollectableRow) (Claim, error) {
			row, err := pgx.RowToStructByName[claimRow](r)
			c := Claim{Job: row.toJob(), Attempts: row.Attempts, Input: row.Input,
				Traceparent: row.Traceparent}
			if row.Unsettled != nil {
				c.UnsettledUpload = *row.Unsettled
			}
			return c, err
		})
	if err != nil {
		return nil, fmt.Errorf("claim queued jobs: %w", err)
	}
	return out, nil
}

// CountProcessingAt counts the jobs one engine has and has not finished.
func (s *Store) CountProcessingAt(ctx context.Context, engineID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE status = 'PROCESSING' AND engine_id = @engine`,
		pgx.NamedArgs{"engine": engineID}).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count processing jobs at %s: %w", engineID, err)
	}
	return n, nil
}

// ClaimPollsAt is ClaimPolls for the jobs of one engine (engineID "": of every engine). Jobs
// recorded before engines were (engine_id NULL) belong to defaultEngine, when it is set.
func (s *Store) ClaimPollsAt(ctx context.Context, owner, engineID, defaultEngine string, limit int, lease time.Duration) ([]Claim, error) {
	type pollRow struct {
		jobRow
		Polls int `db:"polls"`
	}
	out, err := claimInIndexOrder(ctx, s, claimPollsSQL,
		pgx.StrictNamedArgs{"owner": owner, "engine": engineID, "default": defaultEngine, "limit": limit, "lease": lease},
		func(r pgx.CollectableRow) (Claim, error) {
			row, err := pgx.RowToStructByName[pollRow](r)
			return Claim{Job: row.toJob(), Attempts: row.Polls}, err
		})
	if err != nil {
		return nil, fmt.Errorf("claim polls: %w", err)
	}
	return out, nil
}

// EngineOfJob returns the engine recorded for a job ("" when none is: a job from before
// engines were recorded).
func (s *Store) EngineOfJob(ctx context.Context, jobID string) (string, error) {
	var id *string
	err := s.pool.QueryRow(ctx, `SELECT engine_id FROM jobs WHERE id = @id`, pgx.NamedArgs{"id": jobID}).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", job.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("engine of job %s: %w", jobID, err)
	}
	return deref(id), nil
}

// handOver moves PROCESSING jobs of dead engines back to QUEUED, due at once, in one statement:
// the file at the dead engine is recorded as given up (a late webhook naming it is ignored),
// the job forgets it and its engine, and the move is an event like any other, so watchers see
// the job queued again. Only jobs whose image is still stored can go to another engine.
const handOver = `
WITH due AS (
    SELECT j.id, j.engine_id, j.provider_file_id FROM jobs j
    WHERE j.status = 'PROCESSING' AND j.engine_id = ANY(@engines)
      AND EXISTS (SELECT 1 FROM job_inputs i WHERE i.job_id = j.id)
    ORDER BY j.update_time
    FOR UPDATE SKIP LOCKED
    LIMIT @limit
), gone AS (
    INSERT INTO job_abandoned_files (job_id, file_id, engine_id)
    SELECT id, provider_file_id, engine_id FROM due WHERE provider_file_id IS NOT NULL
    ON CONFLICT DO NOTHING
), upd AS (
    UPDATE jobs j SET
        status = 'QUEUED',
        revision = nextval('job_revision_seq'),
        update_time = now(),
        provider_file_id = NULL, engine_id = NULL,
        original_link = NULL, anonymized_link = NULL, binary_mask_link = NULL,
        instance_mask_link = NULL, metadata_link = NULL,
        next_attempt_at = now(), lease_until = NULL, claimed_by = NULL, upload_began_at = NULL,
        attempts = 0, polls = 0, next_poll_at = NULL,
        handovers = j.handovers + 1
    FROM due
    WHERE j.id = due.id
    RETURNING j.*, 'PROCESSING'::text AS previous_status
), event AS (
    INSERT INTO job_events (revision, job_id, type, previous_status, job, create_time)
    SELECT revision, id, 'STATUS_CHANGED', previous_status,
           to_jsonb(upd) - 'request_hash' - 'previous_status', update_time
    FROM upd
)
SELECT count(*) FROM upd`

// HandOver queues again up to limit PROCESSING jobs of the given (dead) engines, for another
// engine to take, and returns how many it moved.
func (s *Store) HandOver(ctx context.Context, engines []string, limit int) (int, error) {
	var n int
	b := &pgx.Batch{}
	b.Queue(assignXID)
	b.Queue(handOver, pgx.NamedArgs{"engines": engines, "limit": limit}).QueryRow(func(r pgx.Row) error {
		return r.Scan(&n)
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return 0, fmt.Errorf("hand over jobs of dead engines: %w", err)
	}
	if n > 0 {
		s.onCommit(JobsChanged)
	}
	return n, nil
}

// FileAbandoned reports whether a job's file at an engine was given up when the engine died.
func (s *Store) FileAbandoned(ctx context.Context, jobID, fileID string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM job_abandoned_files WHERE job_id = @job AND file_id = @file)`,
		pgx.NamedArgs{"job": jobID, "file": fileID}).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("abandoned file of job %s: %w", jobID, err)
	}
	return ok, nil
}

// DeleteEndedInputs drops, in one batch of at most limit, the images of jobs that ended
// before cutoff: while a job has not ended its engine may die and the image go to another.
func (s *Store) DeleteEndedInputs(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM job_inputs WHERE job_id IN (
		    SELECT i.job_id FROM job_inputs i JOIN jobs j ON j.id = i.job_id
		    WHERE j.status IN `+terminalStatuses+` AND j.update_time < @cutoff
		    LIMIT @limit)`, pgx.NamedArgs{"cutoff": cutoff, "limit": limit})
	if err != nil {
		return 0, fmt.Errorf("delete inputs of ended jobs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// AbandonedFile is a file given up at an engine that died.
type AbandonedFile struct {
	JobID  string `db:"job_id"`
	FileID string `db:"file_id"`
}

// UndeletedAbandoned lists up to limit files given up at an engine and not yet deleted there.
func (s *Store) UndeletedAbandoned(ctx context.Context, engineID string, limit int) ([]AbandonedFile, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT job_id::text, file_id FROM job_abandoned_files WHERE engine_id = @engine AND NOT deleted
		ORDER BY abandoned_at LIMIT @limit`, pgx.NamedArgs{"engine": engineID, "limit": limit})
	if err != nil {
		return nil, fmt.Errorf("files given up at %s: %w", engineID, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[AbandonedFile])
	if err != nil {
		return nil, fmt.Errorf("files given up at %s: %w", engineID, err)
	}
	return out, nil
}

// AbandonedDeleted records that a file given up at an engine is deleted there.
func (s *Store) AbandonedDeleted(ctx context.Context, f AbandonedFile) error {
	_, err := s.pool.Exec(ctx, `UPDATE job_abandoned_files SET deleted = true WHERE job_id = @job AND file_id = @file`,
		pgx.NamedArgs{"job": f.JobID, "file": f.FileID})
	if err != nil {
		return fmt.Errorf("record deleted file %s: %w", f.FileID, err)
	}
	return nil
}

// indexOrder makes the statements after it in its transaction read due rows in index order.
// A claim takes the first few due jobs in the order of a partial index; planned from
// statistics that say the queue is short (a burst on a table last analyzed while its queue was
// empty), PostgreSQL would instead fetch every due row and sort them, on every claim, for as
// long as the backlog lasts.
const indexOrder = `SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)`

// claimInIndexOrder runs a claiming statement after indexOrder, in one implicit transaction,
// and collects its rows.
func claimInIndexOrder(ctx context.Context, s *Store, sql string, args pgx.StrictNamedArgs, scan pgx.RowToFunc[Claim]) ([]Claim, error) {
	var out []Claim
	b := &pgx.Batch{}
	b.Queue(indexOrder)
	b.Queue(sql, args).Query(func(rows pgx.Rows) error {
		var err error
		out, err = pgx.CollectRows(rows, scan)
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return out, nil
}
