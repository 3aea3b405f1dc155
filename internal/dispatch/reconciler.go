package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/grace"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/store"
)

// Reconciler polls the engine for PROCESSING jobs whose webhook is overdue, so that a lost
// webhook never leaves a job hanging.
type Reconciler struct {
	store    ReconcilerStore
	provider ReconcilerProvider
	cfg      Config
	log      *slog.Logger
	leases   *leases
}

// NewReconciler makes a reconciler; run it with Run.
func NewReconciler(s ReconcilerStore, p ReconcilerProvider, cfg Config, log *slog.Logger) *Reconciler {
	cfg = cfg.withDefaults()
	r := &Reconciler{store: s, provider: p, cfg: cfg, log: logger(log)}
	r.leases = newLeases(func(ctx context.Context, ids []string) (int64, error) {
		return s.RenewClaims(ctx, cfg.Owner, ids, cfg.Lease)
	}, cfg.Lease, r.log)
	return r
}

// Run polls due jobs until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	tick := time.NewTicker(r.cfg.Tick)
	defer tick.Stop()
	go r.leases.run(ctx)
	// Recording what a poll found outlives ctx by the grace period, for all polls together.
	sctx, stop := grace.Context(ctx, r.cfg.Grace)
	defer stop()
	for {
		claims, err := r.store.ClaimPolls(ctx, r.cfg.Owner, r.cfg.Concurrency, r.cfg.Lease)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("claim overdue jobs", "err", err)
		}
		// Polls run one after another: the batch's later claims are held from the start.
		drops := make([]func(), len(claims))
		for i, c := range claims {
			drops[i] = r.leases.hold(c.Job.ID)
		}
		for i, c := range claims {
			r.poll(ctx, sctx, c)
			drops[i]()
		}
		if err == nil && len(claims) == r.cfg.Concurrency {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// poll asks the engine about one job and applies the answer, in sctx: the answer is recorded
// although a shutdown cut the poll short.
func (r *Reconciler) poll(ctx, sctx context.Context, c store.Claim) {
	j := c.Job
	log := r.log.With("job_id", j.ID, "file_id", j.ProviderFileID, "poll", c.Attempts)
	f, err := r.provider.Status(ctx, j.ProviderFileID)
	if err != nil && !celantur.IsNotFound(err) {
		log.Warn("poll engine", "err", err)
	}
	change := r.outcome(j.ProviderFileID, f, err)
	if change == nil {
		at := time.Now().Add(delay(c.Attempts, r.cfg.WebhookDeadline/4, r.cfg.PollMax))
		if err := r.store.SchedulePoll(sctx, j.ID, at); err != nil {
			log.Warn("schedule poll", "err", err)
		}
		return
	}
	_, _, err = r.store.Transition(sctx, j.ID, *change)
	var te *job.TransitionError
	if err == nil {
		log.Info("job ended by status poll; its webhook never came", "status", change.To)
	} else if !errors.As(err, &te) { // a refused move: the webhook or a cancel got there first
		log.Error("apply polled status", "err", err)
	}
}

// outcome is the change the engine's answer about a file calls for: nil while the engine is
// still at it, or could not be asked.
func (r *Reconciler) outcome(fileID string, f celantur.File, err error) *store.Change {
	if celantur.IsNotFound(err) {
		return &store.Change{To: job.StatusFailed, Error: &job.Error{Code: "PROVIDER_LOST",
			Message: "the engine no longer knows the job's file"}}
	}
	if err != nil {
		return nil
	}
	if f.FileStatus == celantur.StatusDone {
		return &store.Change{To: job.StatusDone, Results: &job.Results{
			OriginalLink:     r.provider.FileURL(fileID, "original"),
			AnonymizedLink:   r.provider.FileURL(fileID, "anonymized"),
			BinaryMaskLink:   r.provider.FileURL(fileID, "binary-mask"),
			InstanceMaskLink: r.provider.FileURL(fileID, "instance-mask"),
			MetadataLink:     r.provider.FileURL(fileID, "metadata"),
		}}
	}
	if f.FileStatus == celantur.StatusFailed {
		return &store.Change{To: job.StatusFailed, Error: &job.Error{Code: "PROVIDER_FAILED",
			Message: "the anonymization engine reported file_status failed"}}
	}
	return nil
}
