// Package clientwebhook sends anonjob's own clients their completion webhooks: JSON in the provider's
// v1 shape, signed per the Standard Webhooks specification, delivered at least once from a
// transactional outbox with retries on a schedule, every attempt logged.
package clientwebhook

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/store"
	"github.com/anonjob/anonjob/internal/workloop"
)

// Store is the outbox and what a delivery needs to build its message.
type Store interface {
	ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]store.Delivery, error)
	FinishAttempt(ctx context.Context, id string, a store.Attempt, state string, next time.Time) error
	ReleaseDelivery(ctx context.Context, id string) error
	WebhookSecrets(ctx context.Context, customer string, fresh func() string) ([]string, error)
	GetJob(ctx context.Context, id string) (job.Job, error)
}

// DefaultSchedule is the wait before each retry: quick at first for a blip, then spread over
// about a day and a half for an outage, as the best-known webhook senders do.
func DefaultSchedule() []time.Duration {
	return []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
		5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
}

// Config tunes a Sender. Zero values take the defaults noted.
type Config struct {
	PublicURL   *url.URL        // base of the file links in payloads; required
	Client      *http.Client    // must refuse private targets and not follow redirects; required
	Schedule    []time.Duration // retry waits (default DefaultSchedule); after the last, give up
	Concurrency int             // deliveries at once per replica (default 8)
	Lease       time.Duration   // how long a claimed delivery is reserved (default 1m)
	Tick        time.Duration   // how often to look for due deliveries unprompted (default 1s)
	Metrics     *Metrics        // optional
	// Grace is how long a send under way may go on once Run's context ends (default
	// DefaultGrace): the send its first three quarters, so the receiver is not sent the
	// webhook twice, recording the attempt the rest. Run returns within it.
	Grace time.Duration
}

// DefaultGrace is Config.Grace's default.
const DefaultGrace = 10 * time.Second

// Sender delivers due webhooks.
type Sender struct {
	store Store
	cfg   Config
	log   *slog.Logger
	wake  chan struct{}
}

// NewSender makes a sender; run it with Run.
func NewSender(s Store, cfg Config, log *slog.Logger) *Sender {
	if len(cfg.Schedule) == 0 {
		cfg.Schedule = DefaultSchedule()
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	return &Sender{store: s, cfg: cfg, log: log, wake: make(chan struct{}, 1)}
}

// Poke says deliveries may be due. It never blocks.
func (s *Sender) Poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for the sends under way.
func (s *Sender) Run(ctx context.Context) {
	workloop.Run(ctx, workloop.Config{Concurrency: s.cfg.Concurrency, Tick: s.cfg.Tick, Wake: s.wake},
		func(ctx context.Context, n int) ([]store.Delivery, error) {
			return s.store.ClaimDeliveries(ctx, n, s.cfg.Lease)
		},
		s.deliver,
		func(err error) { s.log.Warn("claim deliveries", "err", err) })
}

// next decides what follows an attempt: the delivery's new state and when to try again.
func (s *Sender) next(attempt, code int, retryAfter time.Duration, now time.Time) (string, time.Time) {
	if code >= 200 && code < 300 {
		return "SUCCEEDED", now
	}
	if code == http.StatusGone || attempt > len(s.cfg.Schedule) { // 410: the receiver asks us to stop
		return "FAILED", now
	}
	wait := s.cfg.Schedule[attempt-1]
	if (code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable) && retryAfter > 0 {
		wait = retryAfter
	} else {
		wait += time.Duration(rand.Int64N(int64(wait)/5+1)) - wait/10 // ±10% so retries spread out
	}
	return "PENDING", now.Add(wait)
}
