package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/grace"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/store"
	"github.com/anonjob/anonjob/internal/telemetry"
	"github.com/anonjob/anonjob/internal/workloop"
)

// Dispatcher uploads QUEUED jobs to the engine, keeping it as full as it can take (see flow).
type Dispatcher struct {
	store    DispatcherStore
	provider DispatcherProvider
	signer   CallbackSigner
	cfg      Config
	log      *slog.Logger
	wake     chan struct{}
	flow     *flow
	leases   *leases
	// recording holds a place for each accepted upload whose record is under way, at most
	// Concurrency: a record waits on the database, not the engine, so it gives its upload
	// slot (and its image) up to the next upload.
	recording chan struct{}
	records   sync.WaitGroup
}

// NewDispatcher makes a dispatcher; run it with Run.
func NewDispatcher(s DispatcherStore, p DispatcherProvider, signer CallbackSigner, cfg Config, log *slog.Logger) *Dispatcher {
	cfg = cfg.withDefaults()
	d := &Dispatcher{store: s, provider: p, signer: signer, cfg: cfg, log: logger(log),
		wake: make(chan struct{}, 1), flow: newFlow(cfg.Capacity, cfg.Concurrency, time.Now),
		recording: make(chan struct{}, cfg.Concurrency)}
	d.leases = newLeases(func(ctx context.Context, ids []string) (int64, error) {
		return s.RenewClaims(ctx, cfg.Owner, ids, cfg.Lease)
	}, cfg.Lease, d.log)
	return d
}

// Poke says new jobs may be queued. It never blocks.
func (d *Dispatcher) Poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run claims and uploads due jobs until ctx ends, then waits for the uploads under way.
func (d *Dispatcher) Run(ctx context.Context) {
	if d.cfg.Capacity == 0 && !d.askCapacity(ctx) {
		// Not reachable yet: dispatch without a limit meanwhile, and keep asking.
		go d.learnCapacity(ctx)
	}
	// Leases outlive ctx until the uploads under way have settled.
	lctx, stopLeases := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLeases()
	go d.leases.run(lctx)
	workloop.Run(ctx, workloop.Config{Concurrency: d.cfg.Concurrency, Tick: d.cfg.Tick, Wake: d.wake},
		d.claim, d.dispatch,
		func(err error) { d.log.Warn("claim queued jobs", "err", err) })
	d.records.Wait()
}

// claim leases as many due jobs as there are free upload slots and room at the engine.
func (d *Dispatcher) claim(ctx context.Context, slots int) ([]claim, error) {
	uploads, limited := d.flow.uploads()
	atEngine := 0
	if limited {
		var err error
		if atEngine, err = d.store.CountProcessing(ctx); err != nil {
			return nil, err
		}
	}
	n := min(slots, d.flow.room(atEngine, uploads))
	if n == 0 {
		return nil, nil // a job's end (a commit) or the next tick wakes the loop
	}
	cs, err := d.store.ClaimQueued(ctx, d.cfg.Owner, n, d.cfg.Lease)
	began := d.flow.start(len(cs))
	out := make([]claim, len(cs))
	for i, c := range cs {
		out[i] = claim{Claim: c, began: began}
	}
	return out, err
}

// claim is a leased job and when its upload began, for the flow control.
type claim struct {
	store.Claim
	began time.Time
}

// askCapacity asks the engine for its capacity once, before the first upload, so an engine
// that tells it is never overfilled. It reports whether the question is settled: told, or the
// engine does not tell.
func (d *Dispatcher) askCapacity(ctx context.Context) bool {
	// Bounded: an engine that is not up yet should not hold back dispatch for the client's
	// whole call timeout; learnCapacity asks again.
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := d.provider.Capacity(actx)
	if err == nil {
		d.flow.setCapacity(n)
		d.log.Info("engine capacity", "capacity", n)
		return true
	}
	if errors.Is(err, celantur.ErrCapacityUnknown) {
		d.log.Info("the engine does not tell its capacity; finding it from its 429 answers")
		return true
	}
	if ctx.Err() == nil {
		d.log.Warn("ask the engine for its capacity", "err", err)
	}
	return false
}

// learnCapacity asks again, with backoff, until the question is settled.
func (d *Dispatcher) learnCapacity(ctx context.Context) {
	_, _ = backoff.Retry(ctx, func() (struct{}, error) {
		if d.askCapacity(ctx) {
			d.Poke()
			return struct{}{}, nil
		}
		return struct{}{}, errors.New("capacity not known yet")
	}, backoff.WithBackOff(backoff.NewExponentialBackOff()), backoff.WithMaxElapsedTime(0))
}

// dispatch makes one upload attempt for a claimed job and tells the flow control how it went.
// An accepted upload's record continues on its own (see recording) once this returns.
func (d *Dispatcher) dispatch(ctx context.Context, cl claim) {
	j := cl.Job
	log := d.log.With("job_id", j.ID, "attempt", cl.Attempts)
	unhold := d.leases.hold(j.ID)
	ctx, span := telemetry.StartQueued(ctx, d.cfg.Tracer, cl.Traceparent, "dispatch upload", telemetry.JobID(j.ID))
	// The attempt's bookkeeping outlives a shutdown that began during the upload, within the
	// grace period (the upload itself gets its first three quarters).
	wctx, cancelSettle := grace.Context(ctx, d.cfg.Grace)
	settled := func() {
		cancelSettle()
		span.End()
		unhold()
	}
	if !cl.UnsettledUpload.IsZero() {
		// Its claimer died between upload and record, or deleted the file at the engine when
		// it could not record it: the engine may hold a copy this upload will not replace.
		log.Warn("an earlier upload of this job has no recorded outcome; uploading again",
			"earlier_upload_began", cl.UnsettledUpload)
	}
	if cl.Input == nil {
		defer settled()
		d.flow.ended()
		d.fail(wctx, j.ID, "INPUT_MISSING", "the job's image is no longer stored")
		return
	}
	f, err := d.upload(ctx, j, cl.Input)
	telemetry.Fail(span, err)
	if err != nil {
		defer settled()
		d.uploadFailed(ctx, wctx, log, cl, err)
		return
	}
	d.recording <- struct{}{}
	d.records.Go(func() {
		defer func() { <-d.recording }()
		defer settled()
		d.handedOver(wctx, log, j.ID, f.FileID)
	})
}

// upload sends the job's image to the engine: the one POST of this attempt.
func (d *Dispatcher) upload(ctx context.Context, j job.Job, image []byte) (celantur.File, error) {
	// An upload under way when shutdown comes may finish: cut off, the engine may have the file
	// anyway and the next replica would upload it again.
	uctx, cancel := grace.Context(ctx, workGrace(d.cfg.Grace))
	defer cancel()
	began := time.Now()
	f, err := d.provider.Upload(uctx, j.ContentType, image, celantur.UploadOptions{
		Method: string(j.Method), Face: j.Face, LicensePlate: j.LicensePlate, Person: j.Person,
		Vehicle: j.Vehicle, Webhook: d.signer.CallbackURL(d.cfg.PublicURL, j.ID).String(), Name: j.ID,
	})
	d.cfg.Metrics.observeUpload(time.Since(began), err)
	return f, err
}

// uploadFailed settles an attempt whose upload failed: released when the engine was full or
// shutdown cut it off, both costing no attempt; deferred with backoff when it may succeed
// later and attempts are left; else the job fails. ctx is the attempt's (ended: a shutdown),
// wctx the bookkeeping's, which outlives ctx within the grace period.
func (d *Dispatcher) uploadFailed(ctx, wctx context.Context, log *slog.Logger, cl claim, err error) {
	if wait, ok := celantur.IsThrottled(err); ok {
		d.throttled(wctx, log, cl, wait)
		return
	}
	d.flow.ended()
	id := cl.Job.ID
	if ctx.Err() != nil {
		// Not the engine's fault, and the next replica may go at once.
		log.Info("upload cut off by shutdown; job stays queued", "err", err)
		d.release(wctx, log, id)
		return
	}
	if celantur.IsRetryable(err) && cl.Attempts < d.cfg.MaxAttempts {
		at := time.Now().Add(delay(cl.Attempts, d.cfg.RetryBase, d.cfg.RetryMax))
		log.Warn("upload failed; will retry", "err", err, "retry_at", at)
		if err := d.store.Defer(wctx, id, at, err.Error()); err != nil {
			log.Error("defer job", "err", err)
		}
		return
	}
	log.Warn("upload failed for good", "err", err)
	d.fail(wctx, id, "PROVIDER_REJECTED", err.Error())
}

// throttled settles an upload the engine refused with 429: it is full, so the job was not
// tried and goes again as soon as there is room.
func (d *Dispatcher) throttled(ctx context.Context, log *slog.Logger, cl claim, wait time.Duration) {
	atEngine := 0
	if _, limited := d.flow.uploads(); !limited {
		// The first refusal of an engine of unknown capacity sets the limit from what it
		// holds; later ones need no count.
		if n, err := d.store.CountProcessing(ctx); err == nil {
			atEngine = n
		}
	}
	limit, paused := d.flow.refused(cl.began, wait, atEngine)
	log.Info("engine full; job stays queued", "in_flight_limit", limit, "paused", paused)
	d.release(ctx, log, cl.Job.ID)
}

// release gives a claimed job back uncounted, due at once.
func (d *Dispatcher) release(ctx context.Context, log *slog.Logger, id string) {
	if err := d.store.Release(ctx, id); err != nil {
		log.Error("release job", "err", err)
	}
}

// handedOver records the file the engine accepted and settles what the record finds: the job
// is now at the engine, in the database or (if recording failed) not at all.
func (d *Dispatcher) handedOver(ctx context.Context, log *slog.Logger, id, fileID string) {
	err := d.record(ctx, id, fileID)
	d.flow.accepted()
	if err == nil {
		log.Info("job handed to the engine", "file_id", fileID)
	} else if !d.changedMeanwhile(ctx, log, fileID, err) {
		d.unrecorded(ctx, log, id, fileID, err)
		return
	}
	if !d.cfg.KeepInput && err != nil { // a move that applied deleted the input with it
		if err := d.store.DeleteInput(ctx, id); err != nil {
			log.Warn("delete input", "err", err)
		}
	}
}

// changedMeanwhile settles a record the state machine refused because the job moved during
// its upload, and reports whether that was why: the webhook came first and recorded this
// very file, or the job was cancelled (its copy at the engine is deleted). Any other refusal
// means another upload was recorded (this one's lease ran out): this file is unrecorded.
func (d *Dispatcher) changedMeanwhile(ctx context.Context, log *slog.Logger, fileID string, err error) bool {
	var te *job.TransitionError
	if !errors.As(err, &te) {
		return false
	}
	if te.Current.ProviderFileID == fileID {
		return true
	}
	if te.From != job.StatusCancelled {
		return false
	}
	log.Info("job was cancelled during its upload; deleting it at the engine", "file_id", fileID)
	if err := d.provider.Delete(ctx, fileID); err != nil {
		log.Warn("delete cancelled file at the engine", "file_id", fileID, "err", err)
	}
	return true
}

// record moves the job to PROCESSING with the engine's file. That must not be lost to a
// passing database error, or the job would be uploaded again when its lease ends. Bounded by
// RecordTimeout, so that a file that cannot be recorded is deleted at the engine before the
// lease can run out and another replica upload the job again. A refused move is final.
func (d *Dispatcher) record(ctx context.Context, id, fileID string) error {
	rctx, cancel := context.WithTimeout(ctx, d.cfg.RecordTimeout)
	defer cancel()
	var last error // what went wrong, where Retry would say only that time ran out
	_, err := backoff.Retry(rctx, func() (struct{}, error) {
		_, _, err := d.store.Transition(rctx, id, store.Change{To: job.StatusProcessing, ProviderFileID: fileID,
			NextPollAt: time.Now().Add(d.cfg.WebhookDeadline), DropInput: !d.cfg.KeepInput})
		last = err
		var te *job.TransitionError
		if errors.As(err, &te) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(recordBackOff()), backoff.WithMaxElapsedTime(d.cfg.RecordTimeout))
	if err != nil && last != nil {
		return last
	}
	return err
}

// unrecorded deals with a file the engine accepted whose recording failed: it is deleted at the
// engine before the job is tried again, so the engine never holds (nor, for a hosted provider,
// bills) two copies of one job. Only if the record committed and its answer alone was lost,
// with the database gone for the whole RecordTimeout, does this delete a recorded file: the
// job then ends FAILED (PROVIDER_LOST) at its first status poll, not silently.
func (d *Dispatcher) unrecorded(ctx context.Context, log *slog.Logger, id, fileID string, recordErr error) {
	log.Error("could not record the engine's file; deleting it there before the job is tried again",
		"file_id", fileID, "err", recordErr)
	dctx, cancel := context.WithTimeout(ctx, d.cfg.Lease/2)
	defer cancel()
	if err := d.provider.Delete(dctx, fileID); err != nil && !celantur.IsNotFound(err) {
		log.Error("delete unrecorded file at the engine; the engine may get this job twice", "file_id", fileID, "err", err)
		return
	}
	log.Info("deleted unrecorded file at the engine", "file_id", fileID)
	// Due again at once if the database is back; else its lease runs out.
	if err := d.store.Defer(dctx, id, time.Now(), "the engine's answer could not be recorded: "+recordErr.Error()); err != nil {
		log.Warn("requeue job after deleting its unrecorded file", "err", err)
	}
}

// recordBackOff retries a record quickly: the database is usually back within a second.
func recordBackOff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 50 * time.Millisecond
	b.MaxInterval = time.Second
	return b
}

func (d *Dispatcher) fail(ctx context.Context, id, code, msg string) {
	_, _, err := d.store.Transition(ctx, id, store.Change{To: job.StatusFailed, Error: &job.Error{Code: code, Message: msg}})
	var te *job.TransitionError
	if err != nil && !errors.As(err, &te) {
		d.log.Error("fail job", "job_id", id, "err", err)
	}
}
