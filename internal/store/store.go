// Package store keeps jobs, their inputs and their event history in PostgreSQL. All SQL of the
// service lives here.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/anonjob/anonjob/internal/secretbox"
	"github.com/anonjob/anonjob/migrations"
)

// Store is the PostgreSQL job store. Its methods are safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	// onCommit is called after every committed change, to wake watchers without a NOTIFY in
	// the write transaction.
	onCommit func(Commit)
	// creates gathers concurrent CreateJob calls into shared transactions.
	creates *createGroups
	// transitions gathers concurrent Transition calls the same way.
	transitions *groups[*transitionReq]
	// lockTimeout bounds a group write's wait for a row lock.
	lockTimeout time.Duration
	// box seals secrets at rest; nil keeps them in clear.
	box *secretbox.Box
}

// Config tunes a Store. As with net/http, a zero field means its documented default.
type Config struct {
	// CommitHook is called after each committed job change, to wake watchers without a
	// NOTIFY in the write transaction, with what the commit wrote. It must not block. nil:
	// nothing is called.
	CommitHook func(Commit)
	// SecretBox seals the secrets the store keeps (webhook secrets, callback keys, engine
	// secrets). nil: they are kept in clear.
	SecretBox *secretbox.Box
	// GroupCommit bounds how concurrent CreateJob and Transition calls share transactions.
	// Zero fields: DefaultGroupCommitBatch, DefaultGroupCommitWriters,
	// DefaultTransitionWriters and DefaultGroupLockTimeout.
	GroupCommit GroupCommit
}

// Commit says what a committed write did, so that the commit hook wakes only what it concerns.
type Commit int

const (
	// JobsCreated: new jobs, all QUEUED; no job ended.
	JobsCreated Commit = iota + 1
	// JobsChanged: jobs moved; some may have ended and owe their client a webhook.
	JobsChanged
)

// New wraps an open pool; zero fields of c are the defaults.
func New(pool *pgxpool.Pool, c Config) *Store {
	if c.CommitHook == nil {
		c.CommitHook = func(Commit) {}
	}
	lockTimeout := c.GroupCommit.LockTimeout
	if lockTimeout <= 0 {
		lockTimeout = DefaultGroupLockTimeout
	}
	return &Store{pool: pool, onCommit: c.CommitHook, box: c.SecretBox, lockTimeout: lockTimeout,
		creates: newCreateGroups(c.GroupCommit), transitions: newGroups[*transitionReq](c.GroupCommit.Batch, c.GroupCommit.TransitionWriters)}
}

// Pool returns the underlying pool, for listeners that need a dedicated connection.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Connect opens a pool to the database URL.
func Connect(ctx context.Context, url string, maxConns int32, opts ...PoolOption) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	// A cancelled call must stop its work in the server, not only stop waiting for it: a
	// group's batch, COMMIT included, is sent at once, so a statement waiting for a lock (or a
	// database coming back) would otherwise commit after its callers gave up. So a
	// cancellation sends PostgreSQL a cancel request, and closes the connection a second
	// later if the server does not answer.
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: time.Second}
	}
	for _, o := range opts {
		o(cfg)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("reach database: %w", err)
	}
	return pool, nil
}

// Migrate applies every pending migration. Replicas starting together are serialized by a
// PostgreSQL advisory lock, so each migration runs once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	log = orDiscard(log)
	db := stdlib.OpenDBFromPool(pool)
	defer func() { _ = db.Close() }()
	return migrateDB(ctx, db, log)
}

func migrateDB(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	log = orDiscard(log)
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range results {
		log.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	return nil
}

// orDiscard is log, or a logger that discards when it is nil.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
