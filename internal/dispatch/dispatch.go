// Package dispatch hands QUEUED jobs to the anonymization engine and makes sure every job the
// engine took ends: the dispatcher uploads with bounded concurrency, and the reconciler polls
// the engine for jobs whose completion webhook never came.
package dispatch

import (
	"context"
	"log/slog"
	"net/url"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/store"
)

// DispatcherProvider is the engine, as the dispatcher uses it.
type DispatcherProvider interface {
	Upload(ctx context.Context, contentType string, image []byte, o celantur.UploadOptions) (celantur.File, error)
	Delete(ctx context.Context, fileID string) error
	// Capacity is how many files the engine holds at once without refusing more;
	// celantur.ErrCapacityUnknown when it does not say.
	Capacity(ctx context.Context) (int, error)
}

// ReconcilerProvider is the engine, as the reconciler uses it.
type ReconcilerProvider interface {
	Status(ctx context.Context, fileID string) (celantur.File, error)
	FileURL(fileID, kind string) string
}

// Provider is the engine, as the dispatcher and reconciler use it.
type Provider interface {
	DispatcherProvider
	ReconcilerProvider
}

// DispatcherStore is the job storage the dispatcher needs.
type DispatcherStore interface {
	ClaimQueued(ctx context.Context, owner string, limit int, lease time.Duration) ([]store.Claim, error)
	RenewClaims(ctx context.Context, owner string, ids []string, lease time.Duration) (int64, error)
	Defer(ctx context.Context, id string, at time.Time, reason string) error
	Release(ctx context.Context, id string) error
	CountProcessing(ctx context.Context) (int, error)
	Transition(ctx context.Context, id string, c store.Change) (job.Job, job.Status, error)
	DeleteInput(ctx context.Context, id string) error
}

// ReconcilerStore is the job storage the reconciler needs.
type ReconcilerStore interface {
	ClaimPolls(ctx context.Context, owner string, limit int, lease time.Duration) ([]store.Claim, error)
	RenewClaims(ctx context.Context, owner string, ids []string, lease time.Duration) (int64, error)
	SchedulePoll(ctx context.Context, id string, at time.Time) error
	Transition(ctx context.Context, id string, c store.Change) (job.Job, job.Status, error)
}

// Store is the job storage the dispatcher and reconciler need.
type Store interface {
	DispatcherStore
	ReconcilerStore
}

// CallbackSigner makes the per-job callback URL the engine posts its webhook to.
type CallbackSigner interface {
	CallbackURL(base *url.URL, jobID string) *url.URL
}

// Config tunes dispatch. Zero values take the defaults noted.
type Config struct {
	PublicURL   *url.URL // base of callback URLs; required
	Concurrency int      // uploads at once per replica, and records of accepted ones (default 8)
	// Capacity is how many jobs the engine holds at once without refusing more (429): the
	// most the dispatcher keeps in flight. 0 asks the engine; until it answers, or if it
	// cannot, the limit starts small and doubles as the engine accepts uploads (a slow
	// start, see flow) until the engine first refuses one or it reaches Concurrency.
	Capacity int
	// Owner is this replica's id, recorded with its claims (default: made up per process).
	Owner string
	// Lease is how long a claim lasts without renewal (default 15s): work under way renews
	// it every third of it, so it bounds how soon a dead replica's jobs go to another.
	Lease time.Duration
	// RecordTimeout is how long the dispatcher tries to record an upload the engine accepted
	// before it deletes the file at the engine, so that the retry of the job is not a second
	// copy there (default half the lease).
	RecordTimeout time.Duration
	MaxAttempts   int           // uploads tried before a job fails (default 8)
	RetryBase     time.Duration // first retry delay, doubling per attempt (default 2s)
	RetryMax      time.Duration // longest retry delay (default 5m)
	// KeepInput keeps a job's image after the engine has it (a retention sweep deletes it
	// later); by default it is deleted then.
	KeepInput bool
	// WebhookDeadline is how long after the upload a job waits for its webhook before the
	// reconciler polls the engine (default 2m).
	WebhookDeadline time.Duration
	PollMax         time.Duration // longest wait between status polls (default 10m)
	Metrics         *Metrics      // upload durations; nil records none
	Tick            time.Duration // how often to look for due work without a wake-up (default 1s)

	// Tracer records upload spans, each in its job's trace; nil records none.
	Tracer trace.TracerProvider
	// Grace is how long work under way may go on once Run's context ends (default
	// DefaultGrace): an upload its first three quarters, so that the engine's answer is not
	// lost and the job uploaded again elsewhere, recording the outcome the rest. Run returns
	// within it.
	Grace time.Duration
}

// DefaultGrace is Config.Grace's default.
const DefaultGrace = 10 * time.Second

// workGrace is the part of a grace period the work itself may take; the rest is for recording
// how it went.
func workGrace(g time.Duration) time.Duration { return g * 3 / 4 }

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	def(&c.Lease, 15*time.Second)
	def(&c.RecordTimeout, c.Lease/2)
	if c.Owner == "" {
		c.Owner = "anonjobd-" + uuid.NewString()
	}
	def(&c.RetryBase, 2*time.Second)
	def(&c.RetryMax, 5*time.Minute)
	def(&c.WebhookDeadline, 2*time.Minute)
	def(&c.PollMax, 10*time.Minute)
	def(&c.Tick, time.Second)
	def(&c.Grace, DefaultGrace)
	return c
}

// delay is the wait before retry n (n >= 1): an interval from base, doubling per retry up to
// limit, and a wait drawn from its upper half (full jitter over [interval/2, interval]) so that
// jobs failing together do not retry together. A job's attempts are counted in the database,
// not in memory, so each delay is the nth step of a fresh backoff. backoff spreads a wait
// evenly around its interval by the randomization factor: centred on 3/4 of the interval,
// a third either way spans exactly its upper half.
func delay(n int, base, limit time.Duration) time.Duration {
	b := &backoff.ExponentialBackOff{InitialInterval: base * 3 / 4, MaxInterval: limit * 3 / 4,
		Multiplier: 2, RandomizationFactor: 1.0 / 3}
	d := b.NextBackOff()
	for range n - 1 {
		d = b.NextBackOff()
	}
	return min(d, limit) // backoff rounds its draw up by a nanosecond at most
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
