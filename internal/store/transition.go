package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/anonjob/anonjob/internal/job"
)

// Change moves a job to a new status and records what came with the move.
type Change struct {
	To             job.Status
	ProviderFileID string       // kept when empty
	Error          *job.Error   // kept when nil
	Results        *job.Results // kept when nil
	// NextPollAt schedules the first status poll of a job entering PROCESSING; kept when zero.
	NextPollAt time.Time
	// Customer, when set, limits the change to that customer's job: another's is not found.
	Customer string
}

// transitionJob locks the job, moves it if its current status allows, and appends the event,
// all in one statement. No row means the job is missing or the move is not allowed.
const transitionJob = `
WITH cur AS (
    SELECT id, status FROM jobs WHERE id = $1 AND ($13 = '' OR customer = $13) FOR UPDATE
), upd AS (
    UPDATE jobs j SET
        status = $2,
        revision = nextval('job_revision_seq'),
        update_time = now(),
        provider_file_id = COALESCE($3, j.provider_file_id),
        error_code = COALESCE($4, j.error_code),
        error_message = COALESCE($5, j.error_message),
        original_link = COALESCE($6, j.original_link),
        anonymized_link = COALESCE($7, j.anonymized_link),
        binary_mask_link = COALESCE($8, j.binary_mask_link),
        instance_mask_link = COALESCE($9, j.instance_mask_link),
        metadata_link = COALESCE($10, j.metadata_link),
        next_poll_at = COALESCE($12, j.next_poll_at),
        lease_until = NULL, -- any move ends a claim
        claimed_by = NULL
    FROM cur
    WHERE j.id = cur.id AND cur.status = ANY($11)
    RETURNING j.*, cur.status AS previous_status
), event AS (
    INSERT INTO job_events (revision, job_id, type, previous_status, job, create_time)
    SELECT revision, id, 'STATUS_CHANGED', previous_status,
           to_jsonb(upd) - 'request_hash' - 'previous_status' - 'trace_parent', update_time
    FROM upd
), outbox AS (
    -- The client's completion webhook, owed from the moment the job ends.
    INSERT INTO deliveries (id, job_id, customer, message_id, url, file_status)
    SELECT gen_random_uuid(), id, customer, 'msg_' || replace(gen_random_uuid()::text, '-', ''),
           callback_url, lower(status)
    FROM upd WHERE callback_url IS NOT NULL AND status IN ('DONE', 'FAILED', 'CANCELLED')
)
SELECT ` + jobColumns + `, previous_status FROM upd`

// Transition applies c to the job if the state machine allows moving from its current status.
// It returns the job after the change and the status it had before. A move that is not allowed
// changes nothing and returns a *job.TransitionError carrying the job as it is; a missing job
// returns job.ErrNotFound.
func (s *Store) Transition(ctx context.Context, id string, c Change) (job.Job, job.Status, error) {
	from := job.SourcesOf(c.To)
	sources := make([]string, len(from))
	for i, st := range from {
		sources[i] = string(st)
	}
	var errCode, errMsg *string
	if c.Error != nil {
		errCode, errMsg = &c.Error.Code, &c.Error.Message
	}
	var r job.Results
	if c.Results != nil {
		r = *c.Results
	}
	var row jobRow
	var prev string
	found := false
	b := &pgx.Batch{}
	b.Queue(assignXID)
	b.Queue(transitionJob, id, string(c.To), nullIfEmpty(c.ProviderFileID), errCode, errMsg,
		nullIfEmpty(r.OriginalLink), nullIfEmpty(r.AnonymizedLink), nullIfEmpty(r.BinaryMaskLink),
		nullIfEmpty(r.InstanceMaskLink), nullIfEmpty(r.MetadataLink), sources, nullTime(c.NextPollAt), c.Customer).
		QueryRow(func(r pgx.Row) error {
			err := r.Scan(append(row.scanTargets(), &prev)...)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			found = err == nil
			return err
		})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return job.Job{}, "", fmt.Errorf("transition job: %w", err)
	}
	if found {
		s.onCommit()
		return row.toJob(), job.Status(prev), nil
	}
	cur, err := s.getJob(ctx, c.Customer, id)
	if err != nil {
		return job.Job{}, "", err
	}
	return cur, cur.Status, &job.TransitionError{ID: id, From: cur.Status, To: c.To, Current: cur}
}
