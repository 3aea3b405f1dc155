package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// channel is the LISTEN/NOTIFY channel that tells replicas new events may be readable.
// It only wakes readers; they catch up by revision, so a lost notification costs latency, not
// events.
const channel = "anonjob_events"

// ReplicaWaker sends at most one NOTIFY per interval, outside every write transaction: NOTIFY
// takes a cluster-wide lock at commit, so sending one per write would serialize the writers.
type ReplicaWaker struct {
	pool     *pgxpool.Pool
	interval time.Duration
	poke     chan struct{}
	log      *slog.Logger
}

// NewReplicaWaker makes a replica waker; run it with Run.
func NewReplicaWaker(pool *pgxpool.Pool, interval time.Duration, log *slog.Logger) *ReplicaWaker {
	return &ReplicaWaker{pool: pool, interval: interval, poke: make(chan struct{}, 1), log: orDiscard(log)}
}

// Poke asks for a NOTIFY soon. It never blocks; pokes during an interval are merged.
func (n *ReplicaWaker) Poke() {
	select {
	case n.poke <- struct{}{}:
	default:
	}
}

// Run sends the merged notifications until ctx ends.
func (n *ReplicaWaker) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.poke:
		}
		if _, err := n.pool.Exec(ctx, `SELECT pg_notify(@channel, '')`, pgx.StrictNamedArgs{"channel": channel}); err != nil && ctx.Err() == nil {
			n.log.Warn("notify replicas", "err", err)
		}
		t.Reset(n.interval)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Listen calls wake for every notification on the channel until ctx ends, reconnecting with
// backoff when the connection drops. It calls wake after each (re)connect too, since
// notifications sent while disconnected are lost.
func (s *Store) Listen(ctx context.Context, wake func(), log *slog.Logger) {
	log = orDiscard(log)
	b := backoff.NewExponentialBackOff()
	b.MaxInterval = 5 * time.Second
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, wake, b.Reset)
		if ctx.Err() != nil {
			return
		}
		d := b.NextBackOff()
		log.Warn("event listener disconnected", "err", err, "retry_in", d)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, wake, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connect listener: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	connected()
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		wake()
	}
}
