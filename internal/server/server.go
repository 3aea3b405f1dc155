package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/anonjob/anonjob/internal/clientwebhook"
	"github.com/anonjob/anonjob/internal/engine"
	"github.com/anonjob/anonjob/internal/enginepool"
	"github.com/anonjob/anonjob/internal/metrics"
	"github.com/anonjob/anonjob/internal/pgembed"
	"github.com/anonjob/anonjob/internal/providerhook"
	"github.com/anonjob/anonjob/internal/store"
	"github.com/anonjob/anonjob/internal/telemetry"
	"github.com/anonjob/anonjob/internal/tlsfiles"
	"github.com/anonjob/anonjob/internal/watch"
)

// Server is a running anonjobd.
type Server struct {
	cfg      Config
	embedded *pgembed.Server
	pool     *pgxpool.Pool
	Store    *store.Store
	Hub      *watch.Hub
	Signer   providerhook.Signer

	grpc    *grpc.Server
	health  *health.Server
	http    *http.Server
	gwConn  *grpc.ClientConn
	grpcLis net.Listener
	httpLis net.Listener
	waker   *store.ReplicaWaker
	sender  *clientwebhook.Sender
	// Metrics is the registry /metrics serves.
	Metrics *prometheus.Registry

	engines    *enginepool.Pool // the engines; nil before startProvider
	engine     *engine.Engine   // the built-in engine, when running
	engineHTTP *http.Server
	tls        *tlsfiles.Reloader // nil without TLS
	stopHub    context.CancelFunc
	stopBg     context.CancelFunc
	bg         sync.WaitGroup
	hubDone    chan struct{}
	serveErr   chan error
	ready      *readiness
	tel        *telemetry.Provider // nil: tracing off
}

// Start brings everything up and returns once both listeners accept connections.
// Close (or Shutdown) must be called to release it.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("server config: %w", err)
	}
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, hubDone: make(chan struct{}), serveErr: make(chan error, 3), Metrics: metrics.NewRegistry()}
	s.ready = newReadiness(cfg.ReadyInterval, cfg.Log)
	defer func() {
		if err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
			defer cancel()
			s.release(rctx)
		}
	}()
	if err := s.startTelemetry(ctx); err != nil {
		return nil, err
	}
	if err := s.setupTransport(); err != nil {
		return nil, err
	}
	if err := s.openDatabase(ctx); err != nil {
		return nil, err
	}
	if s.embedded != nil {
		if err := s.ensureDevKey(ctx); err != nil {
			return nil, err
		}
	}
	if s.cfg.ReplicaID, err = s.replicaID(); err != nil {
		return nil, err
	}
	if err := s.releaseOwnClaims(ctx); err != nil {
		return nil, err
	}
	if err := s.sealAtStart(ctx); err != nil {
		return nil, err
	}
	if s.Signer, err = s.newSigner(ctx); err != nil {
		return nil, err
	}
	if err := s.listen(ctx); err != nil {
		return nil, err
	}
	if err := s.startProvider(ctx); err != nil {
		return nil, err
	}
	if err := s.registerServices(ctx); err != nil {
		return nil, err
	}
	s.startBackground()
	go func() { s.serveErr <- s.grpc.Serve(s.grpcLis) }()
	go func() { s.serveErr <- s.serveHTTP() }()
	cfg.Log.Info("anonjobd listening", "grpc", s.grpcLis.Addr().String(), "http", s.httpLis.Addr().String(),
		"public_url", s.cfg.PublicURL, "replica_id", s.cfg.ReplicaID)
	return s, nil
}

func (s *Server) openDatabase(ctx context.Context) error {
	dbURL := s.cfg.DatabaseURL
	if dbURL == "" {
		pg, err := pgembed.Start(ctx, pgembed.Config{DataDir: s.cfg.DataDir, BinDir: s.cfg.PGBinDir, Log: s.cfg.Log,
			// The pool reconnects by itself once the supervisor has the server back.
			OnExit:    func(error) { s.ready.down("database", errDatabase.Error()) },
			OnRestart: s.ready.check,
		})
		if err != nil {
			return fmt.Errorf("embedded PostgreSQL: %w", err)
		}
		s.embedded, dbURL = pg, pg.URL()
	}
	pool, err := store.Connect(ctx, dbURL, s.cfg.MaxDBConns, store.WithQueryTracer(s.tel.QueryTracer()))
	if err != nil {
		return err
	}
	s.pool = pool
	s.Metrics.MustRegister(metrics.NewPoolCollector(pool))
	if err := store.Migrate(ctx, pool, s.cfg.Log); err != nil {
		return err
	}
	s.Hub = watch.NewHub(watch.Config{FanoutRate: s.cfg.WatchFanoutRate}, s.cfg.Log)
	s.waker = store.NewReplicaWaker(pool, s.cfg.NotifyInterval, s.cfg.Log)
	// Local watchers wake at once; other replicas through a batched NOTIFY.
	box, err := OpenSecretsBox(s.cfg.SecretsKeyFile, s.cfg.DataDir, s.embedded != nil, s.cfg.Log)
	if err != nil {
		return err
	}
	s.Store = store.New(pool, store.Config{SecretBox: box, GroupCommit: s.cfg.GroupCommit, CommitHook: func(c store.Commit) {
		s.Hub.Poke()
		s.waker.Poke()
		if s.engines != nil { // set before serving starts
			s.engines.Poke()
		}
		if s.sender != nil && c != store.JobsCreated {
			s.sender.Poke() // a job's end may owe its client a webhook; a new job owes none
		}
	}})
	s.Metrics.MustRegister(metrics.NewJobsCollector(s.Store, s.cfg.Log.With("component", "metrics")))
	return nil
}

// GRPCAddr is the address the gRPC server listens on.
func (s *Server) GRPCAddr() net.Addr { return s.grpcLis.Addr() }

// HTTPAddr is the address the HTTP gateway listens on.
func (s *Server) HTTPAddr() net.Addr { return s.httpLis.Addr() }

// PublicURL is the base URL callbacks are built on.
func (s *Server) PublicURL() string { return s.cfg.PublicURL }

// Wait blocks until a listener fails or ctx ends.
func (s *Server) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.serveErr:
		if errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) {
			return nil
		}
		return fmt.Errorf("serve: %w", err)
	}
}

// Shutdown stops accepting work, ends watch streams with a resumable UNAVAILABLE, lets
// in-flight calls finish until ctx ends, and releases everything.
func (s *Server) Shutdown(ctx context.Context) {
	s.ready.shutdown()
	s.health.Shutdown()
	s.stopHub() // ends every watch stream, so neither server waits on them
	// No new uploads or webhooks from here; those under way have their grace period while the
	// listeners drain.
	s.stopBg()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.http.Shutdown(ctx); err != nil {
			_ = s.http.Close()
		}
	})
	wg.Go(func() {
		done := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.grpc.Stop()
		}
	})
	wg.Wait()
	s.release(ctx)
}

// Close shuts down with the configured timeout.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.Shutdown(ctx)
}

// await waits for wait to return until ctx ends, and says whether it returned.
func (s *Server) await(ctx context.Context, what string, wait func()) bool {
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		select {
		case <-done: // it stopped as time ran out
			return true
		default:
		}
		s.cfg.Log.Error("shutdown timeout: "+what+" still running; closing the rest under it", "err", ctx.Err())
		return false
	}
}

// release frees what Start acquired, giving up on what does not stop when ctx ends; it is
// safe on a partly started server.
func (s *Server) release(ctx context.Context) {
	if s.stopHub != nil {
		s.stopHub()
		s.await(ctx, "watch hub", func() { <-s.hubDone })
	}
	if s.stopBg != nil {
		s.stopBg()
		s.await(ctx, "background work", s.bg.Wait)
	}
	if s.engineHTTP != nil {
		_ = s.engineHTTP.Shutdown(ctx)
	}
	if s.engine != nil {
		// Images under way may take up to EngineImageTimeout; the shutdown does not wait that long.
		s.await(ctx, "built-in engine", func() { _ = s.engine.Close() })
	}
	if s.gwConn != nil {
		_ = s.gwConn.Close()
	}
	for _, l := range []net.Listener{s.grpcLis, s.httpLis} {
		if l != nil {
			_ = l.Close() // already closed by a served server; harmless
		}
	}
	if s.pool != nil {
		// Close waits for every connection in use, even by a health check of the pool's own
		// on a database that stopped answering.
		s.await(ctx, "closing the database pool", s.pool.Close)
	}
	if s.embedded != nil {
		if err := s.embedded.Stop(ctx); err != nil {
			s.cfg.Log.Warn("stop embedded PostgreSQL", "err", err)
		}
	}
	s.stopTelemetry(ctx) // last: the spans of everything above are flushed
}
