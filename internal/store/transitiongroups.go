package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/pgnamed"
)

// applyChange locks the job, moves it if its current status (and, with @if_file_id, its
// engine file) allows, and appends the event, the client's completion webhook, and with the
// move the input's deletion and the provider webhook's receipt, all in one statement. No row
// means the job is missing or the move is not allowed.
const applyChange = `
WITH cur AS (
    SELECT id, status FROM jobs
    WHERE id = @id AND (@customer = '' OR customer = @customer)
      AND (@if_file_id::text IS NULL OR provider_file_id = @if_file_id::text)
    FOR UPDATE
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
), dropped AS (
    DELETE FROM job_inputs WHERE @drop_input AND job_id IN (SELECT id FROM upd)
), receipt AS (
    INSERT INTO webhook_receipts (job_id, content_type, payload, file_id, file_status, outcome)
    SELECT id, @receipt_content_type, @receipt_payload, @receipt_file_id, @receipt_file_status,
           @receipt_outcome
    FROM upd WHERE @with_receipt
)
SELECT ` + jobColumns + `, previous_status FROM upd`

// applyChangeStmt is applyChange in positional form: rewritten once, not per transition.
var applyChangeStmt = pgnamed.MustRewrite(applyChange)

// transitionRow is a job after a transition, with the status it had before.
type transitionRow struct {
	jobRow
	PreviousStatus string `db:"previous_status"`
}

// Transition applies c to the job if the state machine allows moving from its current status.
// It returns the job after the change and the status it had before. A move that is not allowed
// changes nothing and returns a *job.TransitionError carrying the job as it is; a missing job
// returns job.ErrNotFound.
//
// Concurrent transitions share transactions, as CreateJob calls do (see groupcommit.go): the
// dispatcher's records and the provider's webhooks arrive many at once, and each commit costs
// a WAL flush whatever it holds.
func (s *Store) Transition(ctx context.Context, id string, c Change) (job.Job, job.Status, error) {
	r := &transitionReq{ctx: ctx, id: id, change: c, done: make(chan struct{})}
	if err := s.transitions.submit(r, s.writeTransitions); err != nil {
		return job.Job{}, "", err
	}
	if r.err != nil {
		return job.Job{}, "", r.err
	}
	if r.found {
		return r.row.toJob(), job.Status(r.row.PreviousStatus), nil
	}
	cur, err := s.getJob(ctx, c.Customer, id)
	if err != nil {
		return job.Job{}, "", err
	}
	return cur, cur.Status, &job.TransitionError{ID: id, From: cur.Status, To: c.To, Current: cur}
}

// transitionReq is one Transition waiting for its group to be written.
type transitionReq struct {
	ctx    context.Context
	id     string
	change Change

	done  chan struct{}
	row   transitionRow
	found bool // the move applied
	err   error
}

func (r *transitionReq) context() context.Context  { return r.ctx }
func (r *transitionReq) finished() <-chan struct{} { return r.done }
func (r *transitionReq) finish(err error) {
	r.err = err
	close(r.done)
}

func (r *transitionReq) args() pgx.StrictNamedArgs {
	c := r.change
	sources := make([]string, 0, 4)
	for _, st := range job.SourcesOf(c.To) {
		sources = append(sources, string(st))
	}
	var res job.Results
	if c.Results != nil {
		res = *c.Results
	}
	a := pgx.StrictNamedArgs{
		"id": r.id, "customer": c.Customer, "if_file_id": nullIfEmpty(c.IfFileID), "to": string(c.To),
		"sources": sources, "provider_file_id": nullIfEmpty(c.ProviderFileID),
		"error_code": nil, "error_message": nil,
		"original_link": nullIfEmpty(res.OriginalLink), "anonymized_link": nullIfEmpty(res.AnonymizedLink),
		"binary_mask_link": nullIfEmpty(res.BinaryMaskLink), "instance_mask_link": nullIfEmpty(res.InstanceMaskLink),
		"metadata_link": nullIfEmpty(res.MetadataLink), "next_poll_at": nullTime(c.NextPollAt),
		"drop_input": c.DropInput, "with_receipt": c.Receipt != nil,
		"receipt_content_type": nil, "receipt_payload": nil, "receipt_file_id": nil,
		"receipt_file_status": nil, "receipt_outcome": nil,
	}
	if c.Error != nil {
		a["error_code"], a["error_message"] = c.Error.Code, c.Error.Message
	}
	if rc := c.Receipt; rc != nil {
		a["receipt_content_type"], a["receipt_payload"] = rc.ContentType, rc.Payload
		a["receipt_file_id"], a["receipt_file_status"] = nullIfEmpty(rc.FileID), nullIfEmpty(rc.FileStatus)
		a["receipt_outcome"] = rc.Outcome
	}
	return a
}

// writeTransitions writes a group in one implicit transaction and one round trip, locking its
// jobs in id order so that two groups never wait on each other in a cycle. If the group fails,
// every request is written again on its own, so that one bad change fails only its own call.
func (s *Store) writeTransitions(ctx context.Context, group []*transitionReq) {
	ctx, cancel := context.WithTimeout(ctx, groupWriteTimeout)
	defer cancel()
	// Stable: two changes of one job keep the order they came in.
	slices.SortStableFunc(group, func(a, b *transitionReq) int { return cmp.Compare(a.id, b.id) })
	err := s.sendTransitions(ctx, group)
	if err == nil || len(group) == 1 {
		s.finishTransitions(group, err)
		return
	}
	for _, r := range group {
		s.finishTransitions([]*transitionReq{r}, s.sendTransitions(ctx, []*transitionReq{r}))
	}
}

func (s *Store) finishTransitions(group []*transitionReq, err error) {
	moved := false
	for _, r := range group {
		moved = moved || (err == nil && r.found)
	}
	if moved {
		s.onCommit()
	}
	for _, r := range group {
		r.finish(err)
	}
}

// sendTransitions sends one batch: the transaction id first (see assignXID), then one
// applyChange per request. A batch without BEGIN runs as one implicit transaction.
func (s *Store) sendTransitions(ctx context.Context, group []*transitionReq) error {
	b := &pgx.Batch{}
	b.Queue(assignXID)
	for _, r := range group {
		if err := queueRow(b, &r.row, &r.found, applyChangeStmt, r.args()); err != nil {
			return fmt.Errorf("transition job: %w", err)
		}
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		for _, r := range group {
			r.found = false
		}
		return fmt.Errorf("transition job: %w", err)
	}
	return nil
}

// groupReq is a call waiting in a group for its write.
type groupReq interface {
	context() context.Context
	finished() <-chan struct{}
	finish(err error)
}

// groups gathers concurrent calls into shared writes, as createGroups does for CreateJob:
// there is no standing goroutine; a waiting caller that gets one of the writer slots takes
// what is queued, up to a batch, and starts its write, so a lone call waits for nothing.
type groups[R groupReq] struct {
	batch int
	slots chan struct{}

	mu    sync.Mutex
	queue []R
}

func newGroups[R groupReq](g GroupCommit) *groups[R] {
	if g.Batch <= 0 {
		g.Batch = DefaultGroupCommitBatch
	}
	if g.Writers <= 0 {
		g.Writers = DefaultGroupCommitWriters
	}
	return &groups[R]{batch: g.Batch, slots: make(chan struct{}, g.Writers)}
}

// submit queues r and returns once r is written (r says how) or its context ends. A caller
// whose context ends after r was taken into a group gets the context's error although the
// change may commit, as with any write whose answer is lost.
func (g *groups[R]) submit(r R, write func(context.Context, []R)) error {
	g.mu.Lock()
	g.queue = append(g.queue, r)
	g.mu.Unlock()
	ctx, done := r.context(), r.finished()
	for {
		select {
		case <-done:
			return nil
		default:
		}
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return g.abandon(r)
		case g.slots <- struct{}{}:
			group := g.take()
			if len(group) == 0 {
				// Nothing queued: r is in a group another caller is writing.
				<-g.slots
				select {
				case <-done:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			// The write runs on its own, so that this caller, like every other in the group,
			// answers by its own deadline (a dispatcher's record must give up before its lease
			// ends) however long the write takes.
			go func() {
				defer func() { <-g.slots }()
				write(context.WithoutCancel(ctx), group)
			}()
		}
	}
}

// take removes up to one batch from the head of the queue. Requests whose callers have gone are
// answered and left out.
func (g *groups[R]) take() []R {
	g.mu.Lock()
	defer g.mu.Unlock()
	group := make([]R, 0, min(len(g.queue), g.batch))
	n := 0
	for n < len(g.queue) && len(group) < g.batch {
		r := g.queue[n]
		n++
		if err := r.context().Err(); err != nil {
			r.finish(err)
			continue
		}
		group = append(group, r)
	}
	g.queue = append(g.queue[:0:0], g.queue[n:]...)
	return group
}

// abandon answers a caller whose context ended: if r is still queued it is removed and never
// written.
func (g *groups[R]) abandon(r R) error {
	g.mu.Lock()
	for i, q := range g.queue {
		if any(q) == any(r) {
			g.queue = append(g.queue[:i:i], g.queue[i+1:]...)
			break
		}
	}
	g.mu.Unlock()
	return r.context().Err()
}
