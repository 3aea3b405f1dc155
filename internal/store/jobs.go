package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/pgnamed"
	"github.com/anonjob/anonjob/internal/telemetry"
)

// assignXID makes a write transaction take its transaction id before it takes a revision.
// The watch reader relies on this order to know when a revision it has not seen can no longer
// commit (see EventsAfter).
const assignXID = `SELECT pg_current_xact_id()`

// beginGroup is assignXID for a group write (CreateJob or transitions). Its transaction also
// uses generic plans: the group statements' plans do not depend on their arguments (arrays
// unnested, jobs looked up by id), yet PostgreSQL planned them afresh for each call, a quarter
// of its CPU at 400 jobs/s. And it waits at most $1 milliseconds for a row lock (past it the
// statement fails with lock_not_available), so that with one writer a group waiting on a lock
// held elsewhere cannot hold up every other call.
const beginGroup = `SELECT pg_current_xact_id(), set_config('plan_cache_mode', 'force_generic_plan', true),
    set_config('lock_timeout', $1::bigint::text || 'ms', true)`

// fallbackLockTimeout bounds the lock wait of each call of a failed group written on its own:
// the group has waited already, and a call on a job still locked must not hold the writer for
// another full timeout.
const fallbackLockTimeout = 50 * time.Millisecond

// lockNotAvailable is the SQLSTATE of a lock wait that ran past lock_timeout.
const lockNotAvailable = "55P03"

// newGroupBatch starts the batch of a group write (see beginGroup). A batch without BEGIN runs
// as one implicit transaction.
func newGroupBatch(lockWait time.Duration) *pgx.Batch {
	b := &pgx.Batch{}
	// At least a millisecond: a lock_timeout of 0 would wait for ever.
	b.Queue(beginGroup, max(lockWait.Milliseconds(), 1))
	return b
}

// sendGroup sends a group's batch; a lock wait past its bound is job.ErrBusy.
func (s *Store) sendGroup(ctx context.Context, b *pgx.Batch) error {
	err := s.pool.SendBatch(ctx, b).Close()
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == lockNotAvailable {
		return fmt.Errorf("%w: %w", job.ErrBusy, err)
	}
	return err
}

// createJobs inserts a group of jobs, their inputs and their CREATED events in one statement:
// one row per element of the argument arrays, in array order. A job whose request_id is taken
// (by an earlier job, or by an earlier element of the same arrays) is not inserted and returns
// no row. One statement for the group rather than one per job: PostgreSQL's cost of a statement
// (bind, executor start, a round of its triggers) is about that of the rows of a small job, so
// this halves its work per job.
const createJobs = `
WITH req AS (
    SELECT * FROM unnest(@id::uuid[], @method::text[], @face::boolean[], @license_plate::boolean[],
                         @person::boolean[], @vehicle::boolean[], @request_id::text[],
                         @request_hash::bytea[], @callback_url::text[], @content_type::text[],
                         @input_size::bigint[], @customer::text[], @trace_parent::text[])
        WITH ORDINALITY AS r(id, method, face, license_plate, person, vehicle, request_id,
                             request_hash, callback_url, content_type, input_size, customer,
                             trace_parent, ord)
), ins AS (
    INSERT INTO jobs (id, status, revision, method, face, license_plate, person, vehicle,
                      request_id, request_hash, callback_url, content_type, input_size, customer, trace_parent)
    SELECT id, 'QUEUED', nextval('job_revision_seq'), method, face, license_plate, person, vehicle,
           request_id, request_hash, callback_url, content_type, input_size, customer, trace_parent
    FROM req ORDER BY ord
    ON CONFLICT (customer, request_id) WHERE request_id IS NOT NULL DO NOTHING
    RETURNING *
), input AS (
    INSERT INTO job_inputs (job_id, data)
    SELECT ins.id, i.data FROM ins JOIN unnest(@id::uuid[], @input::bytea[]) AS i(id, data) ON i.id = ins.id
), event AS (
    INSERT INTO job_events (revision, job_id, type, job, create_time)
    SELECT revision, id, 'CREATED', to_jsonb(ins) - 'request_hash' - 'trace_parent', create_time FROM ins
)
SELECT ` + jobColumns + ` FROM ins`

// createJobsStmt is createJobs in positional form: rewritten once, not per group.
var createJobsStmt = pgnamed.MustRewrite(createJobs)

// createArgs are createJobs' arguments for a run of requests.
func createArgs(run []*createReq) pgx.StrictNamedArgs {
	n := len(run)
	var (
		ids, methods, contentTypes, customers  = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		requestIDs, callbackURLs, traceParents = make([]*string, n), make([]*string, n), make([]*string, n)
		face, plate, person, vehicle           = make([]bool, n), make([]bool, n), make([]bool, n), make([]bool, n)
		hashes, inputs                         = make([][]byte, n), make([][]byte, n)
		sizes                                  = make([]int64, n)
	)
	for i, r := range run {
		sp := r.spec
		ids[i], methods[i], contentTypes[i], customers[i] = r.id, string(sp.Method), sp.ContentType, r.customer
		requestIDs[i], callbackURLs[i] = nullIfEmpty(sp.RequestID), nullIfEmpty(sp.CallbackURL)
		traceParents[i] = nullIfEmpty(telemetry.Traceparent(r.ctx))
		face[i], plate[i], person[i], vehicle[i] = sp.Face, sp.LicensePlate, sp.Person, sp.Vehicle
		hashes[i], inputs[i], sizes[i] = r.hash, r.input, int64(len(r.input))
	}
	return pgx.StrictNamedArgs{
		"id": ids, "customer": customers, "method": methods,
		"face": face, "license_plate": plate, "person": person, "vehicle": vehicle,
		"request_id": requestIDs, "request_hash": hashes, "callback_url": callbackURLs,
		"content_type": contentTypes, "input_size": sizes, "input": inputs, "trace_parent": traceParents,
	}
}

// CreateJob stores a new QUEUED job with its input. When spec.RequestID names an existing job
// made from the same request, that job is returned with created false; from a different
// request, the error is job.ErrRequestIDReused.
func (s *Store) CreateJob(ctx context.Context, customer string, spec job.Spec, input []byte) (j job.Job, created bool, err error) {
	id, err := uuid.NewV7()
	if err != nil {
		return job.Job{}, false, fmt.Errorf("new job id: %w", err)
	}
	r := &createReq{ctx: ctx, id: id.String(), customer: customer, spec: spec, input: input,
		hash: requestHash(spec, input), done: make(chan struct{})}
	if err := s.creates.submit(r, s.writeCreates); err != nil {
		return job.Job{}, false, err
	}
	if r.err != nil {
		return job.Job{}, false, r.err
	}
	if r.found {
		return r.row.toJob(), true, nil
	}
	return s.existingRequest(ctx, customer, spec.RequestID, r.hash)
}

func (s *Store) existingRequest(ctx context.Context, customer, requestID string, hash []byte) (job.Job, bool, error) {
	type requestRow struct {
		jobRow
		RequestHash []byte `db:"request_hash"`
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+jobColumns+`, request_hash FROM jobs
		WHERE customer = @customer AND request_id = @request_id`,
		pgx.StrictNamedArgs{"customer": customer, "request_id": requestID})
	row, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[requestRow])
	if err != nil {
		return job.Job{}, false, fmt.Errorf("read job of request_id: %w", err)
	}
	if string(row.RequestHash) != string(hash) {
		return row.toJob(), false, job.ErrRequestIDReused
	}
	return row.toJob(), false, nil
}

// requestHash fingerprints everything a CreateJob request carries, so that a reused request_id
// can be told apart from a retry.
func requestHash(spec job.Spec, input []byte) []byte {
	h := sha256.New()
	for _, f := range []string{string(spec.Method), spec.CallbackURL, spec.ContentType} {
		_ = binary.Write(h, binary.BigEndian, uint32(len(f)))
		h.Write([]byte(f))
	}
	for _, b := range []bool{spec.Face, spec.LicensePlate, spec.Person, spec.Vehicle} {
		_ = binary.Write(h, binary.BigEndian, b)
	}
	h.Write(input)
	return h.Sum(nil)
}

// GetJob returns one job of any customer, or job.ErrNotFound. It is for anonjob's own
// machinery (webhooks, dispatch); requests of customers use GetCustomerJob.
func (s *Store) GetJob(ctx context.Context, id string) (job.Job, error) {
	return s.getJob(ctx, "", id)
}

// GetCustomerJob returns one job of the customer; another customer's job is job.ErrNotFound,
// exactly like a missing one.
func (s *Store) GetCustomerJob(ctx context.Context, customer, id string) (job.Job, error) {
	if customer == "" {
		return job.Job{}, job.ErrNotFound
	}
	return s.getJob(ctx, customer, id)
}

func (s *Store) getJob(ctx context.Context, customer, id string) (job.Job, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs
		WHERE id = @id AND (@customer = '' OR customer = @customer)`,
		pgx.StrictNamedArgs{"id": id, "customer": customer})
	row, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[jobRow])
	if errors.Is(err, pgx.ErrNoRows) {
		return job.Job{}, job.ErrNotFound
	}
	if err != nil {
		return job.Job{}, fmt.Errorf("read job: %w", err)
	}
	return row.toJob(), nil
}

// ListQuery selects a page of jobs, newest first.
type ListQuery struct {
	Customer      string // required: lists are always one customer's
	Statuses      []job.Status
	CreatedAfter  time.Time // inclusive; zero means no bound
	CreatedBefore time.Time // exclusive; zero means no bound
	After         *Cursor   // continue after this job
	Limit         int
}

// Cursor is the position of a job in the newest-first order.
type Cursor struct {
	CreateTime time.Time
	ID         string
}

const listJobs = `
SELECT ` + jobColumns + ` FROM jobs
WHERE customer = @customer
  AND (cardinality(@statuses::text[]) = 0 OR status = ANY(@statuses))
  AND (@created_after::timestamptz IS NULL OR create_time >= @created_after)
  AND (@created_before::timestamptz IS NULL OR create_time < @created_before)
  AND (@after_time::timestamptz IS NULL OR (create_time, id) < (@after_time, @after_id::uuid))
ORDER BY create_time DESC, id DESC
LIMIT @limit`

// ListJobs returns up to q.Limit jobs in newest-first order.
func (s *Store) ListJobs(ctx context.Context, q ListQuery) ([]job.Job, error) {
	statuses := make([]string, len(q.Statuses))
	for i, st := range q.Statuses {
		statuses[i] = string(st)
	}
	var afterTime *time.Time
	var afterID *string
	if q.After != nil {
		afterTime, afterID = &q.After.CreateTime, &q.After.ID
	}
	rows, _ := s.pool.Query(ctx, listJobs, pgx.StrictNamedArgs{
		"customer":       q.Customer,
		"statuses":       statuses,
		"created_after":  nullTime(q.CreatedAfter),
		"created_before": nullTime(q.CreatedBefore),
		"after_time":     afterTime,
		"after_id":       afterID,
		"limit":          q.Limit,
	})
	out, err := collectJobs(rows)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return out, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
