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
    SELECT id, status FROM jobs WHERE id = @id AND (@customer = '' OR customer = @customer) FOR UPDATE
), upd AS (
    UPDATE jobs j SET
        status = @to,
        revision = nextval('job_revision_seq'),
        update_time = now(),
        provider_file_id = COALESCE(@provider_file_id, j.provider_file_id),
        error_code = COALESCE(@error_code, j.error_code),
        error_message = COALESCE(@error_message, j.error_message),
        original_link = COALESCE(@original_link, j.original_link),
        anonymized_link = COALESCE(@anonymized_link, j.anonymized_link),
        binary_mask_link = COALESCE(@binary_mask_link, j.binary_mask_link),
        instance_mask_link = COALESCE(@instance_mask_link, j.instance_mask_link),
        metadata_link = COALESCE(@metadata_link, j.metadata_link),
        next_poll_at = COALESCE(@next_poll_at, j.next_poll_at),
        lease_until = NULL, -- any move ends a claim
        claimed_by = NULL
    FROM cur
    WHERE j.id = cur.id AND cur.status = ANY(@sources)
    RETURNING j.*, cur.status AS previous_status
), event AS (
    INSERT INTO job_events (revision, job_id, type, previous_status, job, create_time)
    SELECT revision, id, 'STATUS_CHANGED', previous_status,
           to_jsonb(upd) - 'request_hash' - 'previous_status' - 'trace_parent', update_time
    FROM upd
), ended AS (
    SELECT id, customer, callback_url, status FROM upd
), outbox AS (
    -- The client's completion webhook, owed from the moment the job ends.
    ` + enqueueDeliveries + `
)
SELECT ` + jobColumns + `, previous_status FROM upd`

// transitionRow is a job after a transition, with the status it had before.
type transitionRow struct {
	jobRow
	PreviousStatus string `db:"previous_status"`
}

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
	args := pgx.StrictNamedArgs{
		"id":                 id,
		"customer":           c.Customer,
		"to":                 string(c.To),
		"sources":            sources,
		"provider_file_id":   nullIfEmpty(c.ProviderFileID),
		"error_code":         errCode,
		"error_message":      errMsg,
		"original_link":      nullIfEmpty(r.OriginalLink),
		"anonymized_link":    nullIfEmpty(r.AnonymizedLink),
		"binary_mask_link":   nullIfEmpty(r.BinaryMaskLink),
		"instance_mask_link": nullIfEmpty(r.InstanceMaskLink),
		"metadata_link":      nullIfEmpty(r.MetadataLink),
		"next_poll_at":       nullTime(c.NextPollAt),
	}
	var row transitionRow
	found := false
	b := &pgx.Batch{}
	b.Queue(assignXID)
	b.Queue(transitionJob, args).Query(func(rows pgx.Rows) error {
		var err error
		row, err = pgx.CollectOneRow(rows, pgx.RowToStructByName[transitionRow])
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
		return row.toJob(), job.Status(row.PreviousStatus), nil
	}
	cur, err := s.getJob(ctx, c.Customer, id)
	if err != nil {
		return job.Job{}, "", err
	}
	return cur, cur.Status, &job.TransitionError{ID: id, From: cur.Status, To: c.To, Current: cur}
}
