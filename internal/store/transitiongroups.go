package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/pgnamed"
)

// applyChanges locks the jobs of a run of changes (one element of the argument arrays per
// change, no job twice), moves each whose current status (and, with if_file_id, its engine
// file) allows, and appends for each move its event, the client's completion webhook, the
// input's deletion and the provider webhook's receipt, all in one statement. A change that
// returns no row found its job missing or the move not allowed. One statement for the run, not
// one per change: as for CreateJob (see createJobs), PostgreSQL's cost of a statement is about
// that of a job's rows.
const applyChanges = `
WITH req AS (
    SELECT * FROM unnest(@id::uuid[], @customer::text[], @if_file_id::text[], @to::text[],
                         @sources::text[], @provider_file_id::text[], @error_code::text[],
                         @error_message::text[], @original_link::text[], @anonymized_link::text[],
                         @binary_mask_link::text[], @instance_mask_link::text[], @metadata_link::text[],
                         @next_poll_at::timestamptz[], @drop_input::boolean[], @if_no_file::boolean[],
                         @receipt_content_type::text[], @receipt_payload::bytea[],
                         @receipt_file_id::text[], @receipt_file_status::text[], @receipt_outcome::text[])
        WITH ORDINALITY AS r(id, customer, if_file_id, to_status, sources, provider_file_id,
                             error_code, error_message, original_link, anonymized_link,
                             binary_mask_link, instance_mask_link, metadata_link, next_poll_at,
                             drop_input, if_no_file, receipt_content_type, receipt_payload, receipt_file_id,
                             receipt_file_status, receipt_outcome, ord)
), cur AS (
    -- One lookup per change, in the order of the arrays (by job id): LATERAL keeps the planner
    -- from scanning and hashing the whole table when its statistics say it is small.
    SELECT j.ctid AS tid, j.id, j.status, req.ord FROM req CROSS JOIN LATERAL (
        SELECT ctid, id, status FROM jobs
        WHERE id = req.id AND (req.customer = '' OR customer = req.customer)
          AND (req.if_file_id IS NULL OR provider_file_id = req.if_file_id)
          AND (NOT req.if_no_file OR provider_file_id IS NULL AND NOT EXISTS (
              SELECT FROM job_abandoned_files a WHERE a.job_id = req.id AND a.file_id = req.provider_file_id))
        FOR UPDATE
    ) j
), upd AS (
    UPDATE jobs j SET
        status = req.to_status,
        revision = nextval('job_revision_seq'),
        update_time = now(),
        provider_file_id = COALESCE(req.provider_file_id, j.provider_file_id),
        error_code = COALESCE(req.error_code, j.error_code),
        error_message = COALESCE(req.error_message, j.error_message),
        original_link = COALESCE(req.original_link, j.original_link),
        anonymized_link = COALESCE(req.anonymized_link, j.anonymized_link),
        binary_mask_link = COALESCE(req.binary_mask_link, j.binary_mask_link),
        instance_mask_link = COALESCE(req.instance_mask_link, j.instance_mask_link),
        metadata_link = COALESCE(req.metadata_link, j.metadata_link),
        next_poll_at = COALESCE(req.next_poll_at, j.next_poll_at),
        lease_until = NULL, -- any move ends a claim
        claimed_by = NULL
    FROM cur JOIN req ON req.ord = cur.ord
    -- The locked row itself, by its tuple id: no second search of the table.
    WHERE j.ctid = cur.tid AND cur.status = ANY(string_to_array(req.sources, ','))
    RETURNING j.*, to_jsonb(j) - 'request_hash' - 'trace_parent' AS snapshot,
              cur.status AS previous_status, req.ord, req.drop_input,
              req.receipt_content_type, req.receipt_payload, req.receipt_file_id,
              req.receipt_file_status, req.receipt_outcome
), event AS (
    INSERT INTO job_events (revision, job_id, type, previous_status, job, create_time)
    SELECT revision, id, 'STATUS_CHANGED', previous_status, snapshot, update_time
    FROM upd
), ended AS (
    SELECT id, customer, callback_url, status FROM upd
), outbox AS (
    -- The client's completion webhook, owed from the moment the job ends.
    ` + enqueueDeliveries + `
), dropped AS (
    DELETE FROM job_inputs WHERE job_id IN (SELECT id FROM upd WHERE drop_input)
), receipt AS (
    INSERT INTO webhook_receipts (job_id, content_type, payload, file_id, file_status, outcome)
    SELECT id, receipt_content_type, receipt_payload, receipt_file_id, receipt_file_status,
           receipt_outcome
    FROM upd WHERE receipt_outcome IS NOT NULL
)
SELECT ` + jobColumns + `, previous_status, ord FROM upd`

// applyChangesStmt is applyChanges in positional form: rewritten once, not per group.
var applyChangesStmt = pgnamed.MustRewrite(applyChanges)

// transitionRow is a job after a transition, with the status it had before.
type transitionRow struct {
	jobRow
	PreviousStatus string `db:"previous_status"`
	Ord            int    `db:"ord"` // 1-based position of its change in the run
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
	if err := s.transitions.submit(s.writeTransitions, r); err != nil {
		return job.Job{}, "", err
	}
	return s.transitioned(ctx, r)
}

// TransitionAfter applies first where it applies, then c, as Transition applies c alone: the
// two are queued together, so that they usually share one transaction, and c's answer is
// returned whether first applied or not. A provider webhook that comes before the upload it
// answers is recorded uses it to record the file and end the job at once.
func (s *Store) TransitionAfter(ctx context.Context, id string, first, c Change) (job.Job, job.Status, error) {
	r0 := &transitionReq{ctx: ctx, id: id, change: first, done: make(chan struct{})}
	r := &transitionReq{ctx: ctx, id: id, change: c, done: make(chan struct{})}
	if err := s.transitions.submit(s.writeTransitions, r0, r); err != nil {
		return job.Job{}, "", err
	}
	if r0.err != nil {
		return job.Job{}, "", r0.err
	}
	return s.transitioned(ctx, r)
}

// transitioned is what a written Transition request answers.
func (s *Store) transitioned(ctx context.Context, r *transitionReq) (job.Job, job.Status, error) {
	c, id := r.change, r.id
	if r.err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// The caller's deadline cut the write short: say so first.
			return job.Job{}, "", fmt.Errorf("%w: %w", cerr, r.err)
		}
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

// changeArgs are applyChanges' arguments for a run of changes.
func changeArgs(run []*transitionReq) pgx.StrictNamedArgs {
	n := len(run)
	text := func() []*string { return make([]*string, n) }
	var (
		ids, customers, to, sources                     = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ifFileIDs, fileIDs, errCodes, errMsgs           = text(), text(), text(), text()
		original, anonymized, binaryMask, instance, met = text(), text(), text(), text(), text()
		rcType, rcFileID, rcFileStatus, rcOutcome       = text(), text(), text(), text()
		rcPayload                                       = make([][]byte, n)
		nextPoll                                        = make([]*time.Time, n)
		dropInput, ifNoFile                             = make([]bool, n), make([]bool, n)
	)
	for i, r := range run {
		c := r.change
		st := job.SourcesOf(c.To)
		names := make([]string, len(st))
		for k, s := range st {
			names[k] = string(s)
		}
		ids[i], customers[i], to[i], sources[i] = r.id, c.Customer, string(c.To), strings.Join(names, ",")
		ifFileIDs[i], fileIDs[i] = nullIfEmpty(c.IfFileID), nullIfEmpty(c.ProviderFileID)
		if c.Error != nil {
			errCodes[i], errMsgs[i] = &c.Error.Code, &c.Error.Message
		}
		if res := c.Results; res != nil {
			original[i], anonymized[i] = nullIfEmpty(res.OriginalLink), nullIfEmpty(res.AnonymizedLink)
			binaryMask[i], instance[i] = nullIfEmpty(res.BinaryMaskLink), nullIfEmpty(res.InstanceMaskLink)
			met[i] = nullIfEmpty(res.MetadataLink)
		}
		nextPoll[i], dropInput[i], ifNoFile[i] = nullTime(c.NextPollAt), c.DropInput, c.IfNoFile
		if rc := c.Receipt; rc != nil {
			rcType[i], rcPayload[i] = &rc.ContentType, rc.Payload
			rcFileID[i], rcFileStatus[i], rcOutcome[i] = nullIfEmpty(rc.FileID), nullIfEmpty(rc.FileStatus), &rc.Outcome
		}
	}
	return pgx.StrictNamedArgs{
		"id": ids, "customer": customers, "if_file_id": ifFileIDs, "to": to, "sources": sources,
		"provider_file_id": fileIDs, "error_code": errCodes, "error_message": errMsgs,
		"original_link": original, "anonymized_link": anonymized, "binary_mask_link": binaryMask,
		"instance_mask_link": instance, "metadata_link": met, "next_poll_at": nextPoll,
		"drop_input": dropInput, "if_no_file": ifNoFile, "receipt_content_type": rcType, "receipt_payload": rcPayload,
		"receipt_file_id": rcFileID, "receipt_file_status": rcFileStatus, "receipt_outcome": rcOutcome,
	}
}

// writeTransitions writes a group in one implicit transaction and one round trip, locking its
// jobs in id order so that two groups never wait on each other in a cycle. If the group fails,
// every request is written again on its own, so that one bad change fails only its own call.
func (s *Store) writeTransitions(ctx context.Context, group []*transitionReq) {
	ctx, cancel := context.WithTimeout(ctx, groupWriteTimeout)
	defer cancel()
	// Not past the last caller's deadline either: a change nobody waits for any more must
	// not commit later (a dispatcher that gave up on its record deletes the engine's file,
	// and a write held up by an outage or a lock would record it once the database is back).
	ctx, cancelLate := context.WithDeadline(ctx, latestDeadline(group))
	defer cancelLate()
	// Stable: two changes of one job keep the order they came in.
	slices.SortStableFunc(group, func(a, b *transitionReq) int { return cmp.Compare(a.id, b.id) })
	err := s.sendTransitions(ctx, group, s.lockTimeout)
	if err == nil || len(group) == 1 {
		s.finishTransitions(group, err)
		return
	}
	// One by one, each call waits for a lock only briefly (see fallbackLockTimeout). A call
	// whose caller has gone is answered, not written: a dispatcher that gave up on its record
	// has already deleted the engine's file.
	wait := min(s.lockTimeout, fallbackLockTimeout)
	for _, r := range group {
		if cerr := r.ctx.Err(); cerr != nil {
			r.finish(cerr)
			continue
		}
		rctx, cancel := context.WithDeadline(ctx, latestDeadline([]*transitionReq{r}))
		s.finishTransitions([]*transitionReq{r}, s.sendTransitions(rctx, []*transitionReq{r}, wait))
		cancel()
	}
}

// latestDeadline is the last deadline of the callers of group; if one of them has none, the
// write's own timeout from now.
func latestDeadline(group []*transitionReq) time.Time {
	var last time.Time
	for _, r := range group {
		d, ok := r.ctx.Deadline()
		if !ok {
			return time.Now().Add(groupWriteTimeout) // bounded by the write's own timeout
		}
		if d.After(last) {
			last = d
		}
	}
	return last
}

func (s *Store) finishTransitions(group []*transitionReq, err error) {
	moved := false
	for _, r := range group {
		moved = moved || (err == nil && r.found)
	}
	if moved {
		s.onCommit(JobsChanged)
	}
	for _, r := range group {
		r.finish(err)
	}
}

// sendTransitions sends one group batch (see newGroupBatch), then one applyChanges per round
// of the group, sorted by job id: the first round holds each job's first change, the next its
// second, and so on (a statement can move a row only once). Every job is locked in the first
// round, so later rounds take no new locks.
func (s *Store) sendTransitions(ctx context.Context, group []*transitionReq, lockWait time.Duration) error {
	b := newGroupBatch(lockWait)
	for _, run := range rounds(group) {
		if err := queueChanges(b, run); err != nil {
			return fmt.Errorf("transition job: %w", err)
		}
	}
	if err := s.sendGroup(ctx, b); err != nil {
		for _, r := range group {
			r.found = false
		}
		return fmt.Errorf("transition job: %w", err)
	}
	return nil
}

// rounds splits a group sorted by job id into runs in which no job appears twice, keeping the
// order of each job's changes.
func rounds(group []*transitionReq) [][]*transitionReq {
	var out [][]*transitionReq
	for i := 0; i < len(group); {
		k := i + 1
		for k < len(group) && group[k].id == group[i].id {
			k++
		}
		for n := range k - i {
			if n == len(out) {
				out = append(out, nil)
			}
			out[n] = append(out[n], group[i+n])
		}
		i = k
	}
	return out
}

// queueChanges queues one applyChanges for run, handing each returned row to its change.
func queueChanges(b *pgx.Batch, run []*transitionReq) error {
	args, err := applyChangesStmt.Args(changeArgs(run))
	if err != nil {
		return err
	}
	for _, r := range run {
		r.found = false
	}
	b.Queue(applyChangesStmt.SQL(), args...).Query(func(rows pgx.Rows) error {
		got, err := pgx.CollectRows(rows, pgx.RowToStructByName[transitionRow])
		if err != nil {
			return err
		}
		for _, row := range got {
			if row.Ord < 1 || row.Ord > len(run) {
				return fmt.Errorf("transition row for change %d of %d", row.Ord, len(run))
			}
			r := run[row.Ord-1]
			r.row, r.found = row, true
		}
		return nil
	})
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

// newGroups makes groups of at most batch calls (0: DefaultGroupCommitBatch), at most writers
// of them in flight at once (0: DefaultTransitionWriters).
func newGroups[R groupReq](batch, writers int) *groups[R] {
	if batch <= 0 {
		batch = DefaultGroupCommitBatch
	}
	if writers <= 0 {
		writers = DefaultTransitionWriters
	}
	return &groups[R]{batch: batch, slots: make(chan struct{}, writers)}
}

// submit queues rs, together and in order, and returns once they are written (each says how)
// or their context ends. A caller whose context ends after its request was taken into a group
// waits a little more for that write (see settle), which its deadline also cuts short in the
// server: it then learns whether its change committed, unless the write takes longer still.
func (g *groups[R]) submit(write func(context.Context, []R), rs ...R) error {
	g.mu.Lock()
	g.queue = append(g.queue, rs...)
	g.mu.Unlock()
	for _, r := range rs {
		if err := g.await(r, write); err != nil {
			return err
		}
	}
	return nil
}

// await returns once r is written or its context ends, writing groups meanwhile whenever a
// writer slot is free.
func (g *groups[R]) await(r R, write func(context.Context, []R)) error {
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
			if g.abandon(r) {
				return ctx.Err()
			}
			return settle(ctx, done)
		case g.slots <- struct{}{}:
			group := g.take()
			if len(group) == 0 {
				// Nothing queued: r is in a group another caller is writing.
				<-g.slots
				select {
				case <-done:
					return nil
				case <-ctx.Done():
					return settle(ctx, done)
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

// abandon removes r, whose caller's context ended, from the queue, and reports whether it was
// still there (and so is never written).
func (g *groups[R]) abandon(r R) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, q := range g.queue {
		if any(q) == any(r) {
			g.queue = append(g.queue[:i:i], g.queue[i+1:]...)
			return true
		}
	}
	return false
}

// settleWait bounds how long a caller whose context ended waits for the write its request is
// in. The write's own deadline is the latest of its callers' (see writeTransitions), and
// cancelling it cancels the statement in the server, so it usually ends well within this.
const settleWait = 2 * time.Second

// settle waits for the write of a request whose caller's context ended: nil when it finished
// (the request says how), the context's error when it has not within settleWait.
func settle(ctx context.Context, done <-chan struct{}) error {
	t := time.NewTimer(settleWait)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return ctx.Err()
	}
}
