package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/anonjob/anonjob/internal/job"
)

// Group commit defaults. A commit costs one WAL flush whatever it holds, so CreateJob calls that
// arrive while earlier ones are being written are gathered and written together.
const (
	// DefaultGroupCommitBatch bounds how many jobs one transaction writes.
	DefaultGroupCommitBatch = 64
	// DefaultGroupCommitWriters bounds how many CreateJob group transactions are in flight at
	// once; the requests that arrive meanwhile form the next group. One is the most: while a
	// group is written the next one fills, and a transaction's cost is mostly per statement and
	// commit, not per row. With four, 32 clients made groups of about four jobs, and PostgreSQL
	// spent twice the CPU per job (docs/performance.md, "Fewer, larger groups").
	DefaultGroupCommitWriters = 1
	// DefaultTransitionWriters bounds the transition group transactions in flight at once. One,
	// as for CreateJob: with four, a job's upload record and its webhook, moments apart, often
	// landed in two groups in flight at once, and the second waited for the first's commit; one
	// writer cost PostgreSQL a third less CPU per lifecycle and ran 20-30 % more jobs per second
	// (docs/performance.md). A group that waits on a row lock held elsewhere would then hold up
	// every transition of the replica: DefaultGroupLockTimeout bounds that wait.
	DefaultTransitionWriters = 1
	// DefaultGroupLockTimeout bounds how long a group write waits for a row lock: a job an
	// operator's transaction or another replica's group holds, or a request_id another replica
	// is inserting. Past it the group fails and its calls are written one by one, each waiting
	// only fallbackLockTimeout, so only the calls on the locked rows fail (job.ErrBusy), and
	// their callers retry: the API answers UNAVAILABLE, which the engine's webhook sender
	// and gRPC clients retry, and the dispatcher's record retries on its own.
	DefaultGroupLockTimeout = 2 * time.Second
	// groupWriteTimeout bounds one group's write. The write runs without the cancellation of the
	// request that happens to carry it, so that one caller giving up does not fail the others.
	groupWriteTimeout = 30 * time.Second
)

// GroupCommit configures how concurrent CreateJob and transition calls share transactions. Zero
// fields mean the defaults above; Batch 1 writes every job in a transaction of its own.
type GroupCommit struct {
	Batch int
	// Writers bounds the CreateJob groups in flight at once.
	Writers int
	// TransitionWriters bounds the transition groups in flight at once.
	TransitionWriters int
	// LockTimeout bounds a group write's wait for a row lock (0:
	// DefaultGroupLockTimeout).
	LockTimeout time.Duration
}

// GroupCommitStats counts what group commit has written, for metrics and tests.
type GroupCommitStats struct {
	// Groups is the number of group transactions that committed.
	Groups int64
	// Jobs is the number of jobs written in them.
	Jobs int64
	// Fallbacks is the number of groups that failed and were written again one job at a time.
	Fallbacks int64
}

// createReq is one CreateJob waiting for its group to be written.
type createReq struct {
	ctx      context.Context
	id       string
	customer string
	spec     job.Spec
	input    []byte
	hash     []byte

	done  chan struct{}
	row   jobRow
	found bool // the row was inserted; false with no error means the request_id was taken
	err   error
}

func (r *createReq) finish(err error) {
	r.err = err
	close(r.done)
}

// createGroups gathers CreateJob calls. There is no background goroutine: a waiting caller that
// gets one of the writer slots takes what is queued, up to a batch, and writes it.
type createGroups struct {
	batch int
	slots chan struct{}

	mu    sync.Mutex
	queue []*createReq

	groups, jobs, fallbacks atomic.Int64
	// beforeWrite, when set by a test, runs before each group is written.
	beforeWrite func(n int)
}

func newCreateGroups(g GroupCommit) *createGroups {
	if g.Batch <= 0 {
		g.Batch = DefaultGroupCommitBatch
	}
	if g.Writers <= 0 {
		g.Writers = DefaultGroupCommitWriters
	}
	return &createGroups{batch: g.Batch, slots: make(chan struct{}, g.Writers)}
}

// submit queues r and returns once r is written (r.err says how) or ctx ends. A caller whose ctx
// ends after its request was taken into a group gets ctx's error although the job may commit,
// as with any write whose answer is lost.
func (g *createGroups) submit(r *createReq, write func(context.Context, []*createReq)) error {
	g.mu.Lock()
	g.queue = append(g.queue, r)
	g.mu.Unlock()
	for {
		select {
		case <-r.done:
			return nil
		default:
		}
		select {
		case <-r.done:
			return nil
		case <-r.ctx.Done():
			return g.abandon(r)
		case g.slots <- struct{}{}:
			group := g.take()
			if len(group) > 0 {
				write(context.WithoutCancel(r.ctx), group)
			}
			<-g.slots
			if len(group) == 0 {
				// Nothing queued: r is in a group another caller is writing.
				select {
				case <-r.done:
					return nil
				case <-r.ctx.Done():
					return r.ctx.Err()
				}
			}
		}
	}
}

// take removes up to one batch from the head of the queue. Requests whose callers have gone are
// answered and left out.
func (g *createGroups) take() []*createReq {
	g.mu.Lock()
	defer g.mu.Unlock()
	group := make([]*createReq, 0, min(len(g.queue), g.batch))
	n := 0
	for n < len(g.queue) && len(group) < g.batch {
		r := g.queue[n]
		n++
		if err := r.ctx.Err(); err != nil {
			r.finish(err)
			continue
		}
		group = append(group, r)
	}
	g.queue = append(g.queue[:0:0], g.queue[n:]...)
	return group
}

// abandon answers a caller whose ctx ended: if r is still queued it is removed and never written.
func (g *createGroups) abandon(r *createReq) error {
	g.mu.Lock()
	for i, q := range g.queue {
		if q == r {
			g.queue = append(g.queue[:i:i], g.queue[i+1:]...)
			break
		}
	}
	g.mu.Unlock()
	return r.ctx.Err()
}

// writeCreates writes a group in one implicit transaction and one round trip. If the group fails,
// every request is written again on its own, so that a bad row fails only its own request.
func (s *Store) writeCreates(ctx context.Context, group []*createReq) {
	g := s.creates
	if g.beforeWrite != nil {
		g.beforeWrite(len(group))
	}
	ctx, cancel := context.WithTimeout(ctx, groupWriteTimeout)
	defer cancel()
	err := s.sendCreates(ctx, group, s.lockTimeout)
	if err == nil {
		g.groups.Add(1)
		g.jobs.Add(int64(len(group)))
		s.onCommit(JobsCreated)
		for _, r := range group {
			r.finish(nil)
		}
		return
	}
	if len(group) == 1 {
		group[0].finish(err)
		return
	}
	g.fallbacks.Add(1)
	committed := false
	wait := min(s.lockTimeout, fallbackLockTimeout)
	for _, r := range group {
		if cerr := r.ctx.Err(); cerr != nil {
			r.finish(cerr) // its caller has gone: nothing to answer it with
			continue
		}
		err := s.sendCreates(ctx, []*createReq{r}, wait)
		if err == nil {
			g.groups.Add(1)
			g.jobs.Add(1)
			committed = true
		}
		r.finish(err)
	}
	if committed {
		s.onCommit(JobsCreated)
	}
}

// createRunBytes bounds the images one createJobs statement carries: a group of large uploads
// is split into several statements of the same transaction, so that no one message or array
// value grows with the group (PostgreSQL refuses values over 1 GB).
const createRunBytes = 4 << 20

// sendCreates sends one group batch (see newGroupBatch), then one createJobs per run of
// requests. A create waits for a lock only on a request_id another transaction is inserting.
func (s *Store) sendCreates(ctx context.Context, group []*createReq, lockWait time.Duration) error {
	b := newGroupBatch(lockWait)
	for len(group) > 0 {
		n, size := 1, len(group[0].input)
		for n < len(group) && size+len(group[n].input) <= createRunBytes {
			size += len(group[n].input)
			n++
		}
		if err := queueCreates(b, group[:n]); err != nil {
			return fmt.Errorf("insert job: %w", err)
		}
		group = group[n:]
	}
	if err := s.sendGroup(ctx, b); err != nil {
		return fmt.Errorf("insert job: %w", err)
	}
	return nil
}

// queueCreates queues one createJobs for run, handing each inserted row to its request; a
// request left without a row found its request_id taken.
func queueCreates(b *pgx.Batch, run []*createReq) error {
	args, err := createJobsStmt.Args(createArgs(run))
	if err != nil {
		return err
	}
	byID := make(map[string]*createReq, len(run))
	for _, r := range run {
		r.found = false
		byID[r.id] = r
	}
	b.Queue(createJobsStmt.SQL(), args...).Query(func(rows pgx.Rows) error {
		got, err := pgx.CollectRows(rows, pgx.RowToStructByName[jobRow])
		if err != nil {
			return err
		}
		for _, row := range got {
			if r, ok := byID[row.ID]; ok {
				r.row, r.found = row, true
			}
		}
		return nil
	})
	return nil
}

// GroupCommitStats reports what CreateJob's group commit has written so far.
func (s *Store) GroupCommitStats() GroupCommitStats {
	g := s.creates
	return GroupCommitStats{Groups: g.groups.Load(), Jobs: g.jobs.Load(), Fallbacks: g.fallbacks.Load()}
}
