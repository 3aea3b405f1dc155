package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/anonjob/anonjob/internal/job"
)

// Claim is a QUEUED job leased to one dispatcher for an upload attempt.
type Claim struct {
	Job      job.Job
	Attempts int    // including this one
	Input    []byte // nil when the input is gone
	// UnsettledUpload is when an earlier upload of the job began whose outcome was never
	// recorded (its claimer died, or could not reach the database); zero if none.
	UnsettledUpload time.Time
	// Traceparent is the trace context the job was created in; "" if it was not traced.
	Traceparent string
}

// ClaimQueued leases up to limit QUEUED jobs that are due, oldest first, to owner (a replica
// id). SKIP LOCKED lets dispatchers on every replica claim at once without waiting on or
// taking each other's jobs; the lease keeps a job from being claimed again while its upload
// runs (RenewClaims extends it), and expires if the claimer dies. The claim also records the
// intent to upload, before the upload: until Defer or Release settles it, or the job leaves
// QUEUED, the next claimer sees it as UnsettledUpload.
func (s *Store) ClaimQueued(ctx context.Context, owner string, limit int, lease time.Duration) ([]Claim, error) {
	return s.ClaimQueuedFor(ctx, owner, "", limit, lease, 0)
}

// Defer ends a failed attempt's lease and schedules the next one.
func (s *Store) Defer(ctx context.Context, id string, at time.Time, reason string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE jobs SET next_attempt_at = @at, lease_until = NULL, last_attempt_error = @reason,
		    claimed_by = NULL, upload_began_at = NULL
		WHERE id = @id AND status = 'QUEUED'`,
		pgx.StrictNamedArgs{"id": id, "at": at, "reason": reason})
	if err != nil {
		return fmt.Errorf("defer job: %w", err)
	}
	return nil
}

// Release ends a claim whose upload the engine refused for now (429): the job stays QUEUED and
// due at once, and the attempt its claim counted is taken back, since the job was never tried.
func (s *Store) Release(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE jobs SET attempts = greatest(attempts - 1, 0), lease_until = NULL,
		    claimed_by = NULL, upload_began_at = NULL
		WHERE id = @id AND status = 'QUEUED'`, pgx.StrictNamedArgs{"id": id})
	if err != nil {
		return fmt.Errorf("release job: %w", err)
	}
	return nil
}

// CountProcessing counts the jobs the engine has and has not finished: the dispatcher's view
// of how full the engine is, shared by every replica.
func (s *Store) CountProcessing(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE status = 'PROCESSING'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count processing jobs: %w", err)
	}
	return n, nil
}

// DeleteInput drops a job's input bytes once the provider has them.
func (s *Store) DeleteInput(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM job_inputs WHERE job_id = @id`,
		pgx.StrictNamedArgs{"id": id}); err != nil {
		return fmt.Errorf("delete input: %w", err)
	}
	return nil
}

// DeleteInputsBefore drops the inputs of jobs handed to the provider before cutoff.
func (s *Store) DeleteInputsBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM job_inputs i USING jobs j
		WHERE i.job_id = j.id AND j.provider_file_id IS NOT NULL AND j.update_time < @cutoff`,
		pgx.StrictNamedArgs{"cutoff": cutoff})
	if err != nil {
		return 0, fmt.Errorf("delete old inputs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ClaimPolls leases up to limit PROCESSING jobs whose webhook is overdue to owner, for a status
// poll: their next poll moves to now + lease, so no other replica polls them meanwhile.
func (s *Store) ClaimPolls(ctx context.Context, owner string, limit int, lease time.Duration) ([]Claim, error) {
	return s.ClaimPollsAt(ctx, owner, "", "", limit, lease)
}

// SchedulePoll sets when a PROCESSING job is next polled.
func (s *Store) SchedulePoll(ctx context.Context, id string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE jobs SET next_poll_at = @at, claimed_by = NULL WHERE id = @id AND status = 'PROCESSING'`,
		pgx.StrictNamedArgs{"id": id, "at": at})
	if err != nil {
		return fmt.Errorf("schedule poll: %w", err)
	}
	return nil
}

// RenewClaims extends owner's claims on the given jobs to now + lease: the lease of an upload
// under way, the next poll of a poll under way. A claim that has ended (the job moved on, or
// the lease ran out and another replica took it) is not renewed; the count says how many were.
func (s *Store) RenewClaims(ctx context.Context, owner string, ids []string, lease time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE jobs SET
		    lease_until = CASE WHEN status = 'QUEUED' THEN now() + @lease::interval ELSE lease_until END,
		    next_poll_at = CASE WHEN status = 'PROCESSING' THEN now() + @lease::interval ELSE next_poll_at END
		WHERE id = ANY(@ids::uuid[]) AND claimed_by = @owner
		  AND (status = 'PROCESSING' OR lease_until >= now())`,
		pgx.StrictNamedArgs{"ids": ids, "owner": owner, "lease": lease})
	if err != nil {
		return 0, fmt.Errorf("renew claims: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ReleaseClaimsOf ends every claim owner holds: a replica calls it at start for the claims it
// held when it died, so that its jobs go again at once rather than when their leases run out.
// The upload intent stays: whether the dead upload reached the engine is unknown.
func (s *Store) ReleaseClaimsOf(ctx context.Context, owner string) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE jobs SET claimed_by = NULL,
		    lease_until = CASE WHEN status = 'QUEUED' THEN NULL ELSE lease_until END,
		    next_poll_at = CASE WHEN status = 'PROCESSING' THEN least(next_poll_at, now()) ELSE next_poll_at END
		WHERE claimed_by = @owner`, pgx.StrictNamedArgs{"owner": owner})
	if err != nil {
		return 0, fmt.Errorf("release claims of %s: %w", owner, err)
	}
	return tag.RowsAffected(), nil
}

// Receipt is one provider webhook as received.
type Receipt struct {
	JobID       string
	ContentType string
	Payload     []byte
	FileID      string
	FileStatus  string
	Outcome     string
	Detail      string
}

// RecordReceipt keeps a webhook for audit.
func (s *Store) RecordReceipt(ctx context.Context, r Receipt) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO webhook_receipts (job_id, content_type, payload, file_id, file_status, outcome, detail)
		VALUES (@job_id, @content_type, @payload, @file_id, @file_status, @outcome, @detail)`,
		pgx.StrictNamedArgs{
			"job_id":       r.JobID,
			"content_type": r.ContentType,
			"payload":      r.Payload,
			"file_id":      nullIfEmpty(r.FileID),
			"file_status":  nullIfEmpty(r.FileStatus),
			"outcome":      r.Outcome,
			"detail":       nullIfEmpty(r.Detail),
		})
	if err != nil {
		return fmt.Errorf("record webhook receipt: %w", err)
	}
	return nil
}
