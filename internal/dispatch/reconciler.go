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
	store    Store
	provider Provider
	cfg      Config
	log      *slog.Logger
	leases   *leases
}

// NewReconciler makes a reconciler; run it with Run.
func NewReconciler(s Store, p Provider, cfg Config, log *slog.Logger) *Reconciler {
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
	var change *store.Change
	switch {
	case celantur.IsNotFound(err):
		change = &store.Change{To: job.StatusFailed, Error: &job.Error{Code: "PROVIDER_LOST",
			Message: "the engine no longer knows the job's file"}}
	case err != nil:
		log.Warn("poll engine", "err", err)
	case f.FileStatus == "done":
		change = &store.Change{To: job.StatusDone, Results: &job.Results{
			OriginalLink:     r.provider.FileURL(j.ProviderFileID, "original"),
			AnonymizedLink:   r.provider.FileURL(j.ProviderFileID, "anonymized"),
			BinaryMaskLink:   r.provider.FileURL(j.ProviderFileID, "binary-mask"),
			InstanceMaskLink: r.provider.FileURL(j.ProviderFileID, "instance-mask"),
			MetadataLink:     r.provider.FileURL(j.ProviderFileID, "metadata"),
		}}
	case f.FileStatus == "failed":
		change = &store.Change{To: job.StatusFailed, Error: &job.Error{Code: "PROVIDER_FAILED",
			Message: "the anonymization engine reported file_status failed"}}
	}
	if change == nil {
		at := time.Now().Add(delay(c.Attempts, r.cfg.WebhookDeadline/4, r.cfg.PollMax))
		if err := r.store.SchedulePoll(sctx, j.ID, at); err != nil {
			log.Warn("schedule poll", "err", err)
		}
		return
	}
	_, _, err = r.store.Transition(sctx, j.ID, *change)
	var te *job.TransitionError
	switch {
	case err == nil:
		log.Info("job ended by status poll; its webhook never came", "status", change.To)
	case errors.As(err, &te):
		// The webhook or a cancel got there first.
	default:
		log.Error("apply polled status", "err", err)
	}
}
