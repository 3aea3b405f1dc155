package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/auth"
	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/dispatch"
	"github.com/anonjob/anonjob/internal/engine"
	"github.com/anonjob/anonjob/internal/httpapi"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/netguard"
	"github.com/anonjob/anonjob/internal/notify"
	"github.com/anonjob/anonjob/internal/pgembed"
	"github.com/anonjob/anonjob/internal/providerhook"
	"github.com/anonjob/anonjob/internal/store"
	"github.com/anonjob/anonjob/internal/watch"
	"github.com/anonjob/anonjob/service"
)

// Server is a running anonjobd.
type Server struct {
	cfg      Config
	embedded *pgembed.Server
	pool     *pgxpool.Pool
	Store    *store.Store
	Hub      *watch.Hub
	Signer   providerhook.Signer

	grpc     *grpc.Server
	health   *health.Server
	http     *http.Server
	gwConn   *grpc.ClientConn
	grpcLis  net.Listener
	httpLis  net.Listener
	notifier *store.Notifier
	sender   *notify.Sender
	// Metrics is the registry /metrics serves.
	Metrics *prometheus.Registry

	provider   *celantur.Client // nil without an engine
	engine     *engine.Engine   // the built-in engine, when running
	engineHTTP *http.Server
	dispatcher *dispatch.Dispatcher
	reconciler *dispatch.Reconciler
	stopHub    context.CancelFunc
	stopBg     context.CancelFunc
	bg         sync.WaitGroup
	hubDone    chan struct{}
	serveErr   chan error
}

// Start brings everything up and returns once both listeners accept connections.
// Close (or Shutdown) must be called to release it.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	s := &Server{cfg: cfg, hubDone: make(chan struct{}), serveErr: make(chan error, 3), Metrics: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			s.release(context.WithoutCancel(ctx))
		}
	}()
	if err := s.openDatabase(ctx); err != nil {
		return nil, err
	}
	if s.cfg.PublicURL != "" {
		if u, err := url.Parse(s.cfg.PublicURL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("--public-url %q: must be an absolute http or https URL", s.cfg.PublicURL)
		}
	}
	if s.embedded != nil {
		if err := s.ensureDevKey(ctx); err != nil {
			return nil, err
		}
	}
	key, err := s.Store.Secret(ctx, "provider_callback_key", 32)
	if err != nil {
		return nil, err
	}
	s.Signer = providerhook.NewSigner(key)
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
	go func() { s.serveErr <- s.http.Serve(s.httpLis) }()
	go func() {
		select {
		case <-s.Hub.Ready():
			s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		case <-s.hubDone:
		}
	}()
	cfg.Log.Info("anonjobd listening", "grpc", s.grpcLis.Addr().String(), "http", s.httpLis.Addr().String(),
		"public_url", s.cfg.PublicURL)
	return s, nil
}

func (s *Server) openDatabase(ctx context.Context) error {
	dbURL := s.cfg.DatabaseURL
	if dbURL == "" {
		pg, err := pgembed.Start(ctx, pgembed.Config{DataDir: s.cfg.DataDir, BinDir: s.cfg.PGBinDir, Log: s.cfg.Log})
		if err != nil {
			return fmt.Errorf("embedded PostgreSQL: %w", err)
		}
		s.embedded, dbURL = pg, pg.URL()
	}
	pool, err := store.Connect(ctx, dbURL, s.cfg.MaxDBConns)
	if err != nil {
		return err
	}
	s.pool = pool
	if err := store.Migrate(ctx, pool, s.cfg.Log); err != nil {
		return err
	}
	s.Hub = watch.NewHub(watch.Config{}, s.cfg.Log)
	s.notifier = store.NewNotifier(pool, s.cfg.NotifyInterval, s.cfg.Log)
	// Local watchers wake at once; other replicas through a batched NOTIFY.
	s.Store = store.New(pool, store.WithCommitHook(func() {
		s.Hub.Poke()
		s.notifier.Poke()
		if s.dispatcher != nil { // set before serving starts
			s.dispatcher.Poke()
		}
		if s.sender != nil {
			s.sender.Poke() // a job's end may owe its client a webhook
		}
	}))
	return nil
}

func (s *Server) listen(ctx context.Context) error {
	var err error
	var lc net.ListenConfig
	if s.grpcLis, err = lc.Listen(ctx, "tcp", s.cfg.GRPCAddr); err != nil {
		return fmt.Errorf("--grpc-addr: %w", err)
	}
	if s.httpLis, err = lc.Listen(ctx, "tcp", s.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("--http-addr: %w", err)
	}
	if s.cfg.PublicURL == "" {
		s.cfg.PublicURL = defaultPublicURL(s.httpLis.Addr())
	}
	return nil
}

// registerServices builds the gRPC server and the HTTP gateway in front of it.
func (s *Server) registerServices(ctx context.Context) error {
	var err error
	// Every call needs an API key but health, reflection and the provider's webhook, which
	// carries a per-job token of its own.
	authn := auth.New(s.Store, s.cfg.KeyCacheTTL, "/grpc.health.v1.Health/", "/grpc.reflection.",
		"/"+anonjobv1.WebhookService_ServiceDesc.ServiceName+"/")
	// A gRPC message carries the image plus a little framing.
	maxMsg := int(s.cfg.MaxUploadBytes) + 64<<10
	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(maxMsg),
		grpc.ForceServerCodecV2(service.Codec()), // sends pre-encoded watch batches as they are
		grpc.ChainUnaryInterceptor(unaryInterceptor(s.cfg.Log), authn.Unary()),
		grpc.ChainStreamInterceptor(streamInterceptor(s.cfg.Log), authn.Stream()),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	limits := job.DefaultLimits()
	limits.MaxInputBytes = s.cfg.MaxUploadBytes
	var files service.FileSource
	if s.provider != nil {
		files = s.provider // a nil *Client in the interface would not compare nil
	}
	policy := netguard.NewPolicy(s.cfg.CallbackAllowCIDRs, false)
	s.sender = notify.NewSender(s.Store, notify.Config{
		PublicURL: mustURL(s.cfg.PublicURL), Client: policy.HTTPClient(15 * time.Second),
		Schedule: s.cfg.DeliverySchedule, Metrics: notify.NewMetrics(s.Metrics),
	}, s.cfg.Log.With("component", "webhooks"))
	jobs := service.NewJobServer(s.Store, s.Hub, files, limits, s.cfg.Heartbeat, s.cfg.MaxWatchesPerCustomer, s.cfg.Log).
		WithCallbackCheck(func(ctx context.Context, raw string) error { return policy.CheckURL(ctx, raw, nil) })
	anonjobv1.RegisterJobServiceServer(s.grpc, jobs)
	anonjobv1.RegisterDeliveryServiceServer(s.grpc, service.NewDeliveryServer(s.Store, notify.FreshSecret, s.sender.Poke, s.cfg.Log))
	anonjobv1.RegisterWebhookServiceServer(s.grpc, service.NewWebhookServer(s.Store, s.Store, s.Signer, s.cfg.WebhookDeadline, s.cfg.Log))
	s.health = health.NewServer()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)

	// The gateway dials the gRPC server: the in-process handler cannot stream.
	s.gwConn, err = grpc.NewClient(dialTarget(s.grpcLis.Addr()),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(maxMsg), grpc.MaxCallRecvMsgSize(maxMsg)))
	if err != nil {
		return fmt.Errorf("dial own gRPC server: %w", err)
	}
	gw, err := httpapi.New(ctx, s.gwConn, httpapi.Limits{
		MaxImageBytes: s.cfg.MaxUploadBytes, MaxWebhookBytes: 64 << 10, MaxBodyBytes: 1 << 20,
	}, promhttp.HandlerFor(s.Metrics, promhttp.HandlerOpts{}), s.cfg.Log)
	if err != nil {
		return err
	}
	s.http = &http.Server{
		Handler:           gw,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // a 25 MiB upload on a slow link
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: watch streams stay open.
	}
	return nil
}

func (s *Server) startBackground() {
	hubCtx, stopHub := context.WithCancel(context.Background())
	bgCtx, stopBg := context.WithCancel(context.Background())
	s.stopHub, s.stopBg = stopHub, stopBg
	go func() {
		defer close(s.hubDone)
		_ = s.Hub.Run(hubCtx, s.Store)
	}()
	s.bg.Add(4)
	go func() { defer s.bg.Done(); s.sender.Run(bgCtx) }()
	if s.dispatcher != nil {
		s.bg.Add(2)
		go func() { defer s.bg.Done(); s.dispatcher.Run(bgCtx) }()
		go func() { defer s.bg.Done(); s.reconciler.Run(bgCtx) }()
	}
	go func() { defer s.bg.Done(); s.notifier.Run(bgCtx) }()
	go func() { defer s.bg.Done(); s.Store.Listen(bgCtx, s.Hub.Poke, s.cfg.Log) }()
	go func() { defer s.bg.Done(); s.compactLoop(bgCtx) }()
	if s.cfg.InputRetention > 0 {
		s.bg.Add(1)
		go func() { defer s.bg.Done(); s.inputSweep(bgCtx) }()
	}
}

// compactLoop prunes event history older than the retention, hourly.
func (s *Server) compactLoop(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if rev, err := s.Store.Compact(ctx, time.Now().Add(-s.cfg.EventRetention)); err != nil && ctx.Err() == nil {
			s.cfg.Log.Warn("compact event history", "err", err)
		} else if err == nil && rev > 0 {
			s.cfg.Log.Debug("compacted event history", "revision", rev)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// inputSweep deletes the images the engine has had for longer than the input retention.
func (s *Server) inputSweep(ctx context.Context) {
	t := time.NewTicker(min(max(s.cfg.InputRetention/4, time.Minute), time.Hour))
	defer t.Stop()
	for {
		if n, err := s.Store.DeleteInputsBefore(ctx, time.Now().Add(-s.cfg.InputRetention)); err != nil && ctx.Err() == nil {
			s.cfg.Log.Warn("delete old inputs", "err", err)
		} else if n > 0 {
			s.cfg.Log.Info("deleted images past their retention", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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
	s.health.Shutdown()
	s.stopHub() // ends every watch stream, so neither server waits on them
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := s.http.Shutdown(ctx); err != nil {
			_ = s.http.Close()
		}
	}()
	go func() {
		defer wg.Done()
		done := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.grpc.Stop()
		}
	}()
	wg.Wait()
	s.release(ctx)
}

// Close shuts down with the configured timeout.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.Shutdown(ctx)
}

// release frees what Start acquired; it is safe on a partly started server.
func (s *Server) release(ctx context.Context) {
	if s.stopHub != nil {
		s.stopHub()
		<-s.hubDone
	}
	if s.stopBg != nil {
		s.stopBg()
		s.bg.Wait()
	}
	if s.engineHTTP != nil {
		_ = s.engineHTTP.Shutdown(ctx)
	}
	if s.engine != nil {
		_ = s.engine.Close()
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
		s.pool.Close()
	}
	if s.embedded != nil {
		if err := s.embedded.Stop(ctx); err != nil {
			s.cfg.Log.Warn("stop embedded PostgreSQL", "err", err)
		}
	}
}

// dialTarget turns a listening address into one to dial: a wildcard host becomes loopback.
func dialTarget(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if tcp.IP.IsUnspecified() {
		return fmt.Sprintf("127.0.0.1:%d", tcp.Port)
	}
	return tcp.String()
}

// defaultPublicURL is the HTTP listener's own address, with a wildcard host as localhost:
// right for a single machine, and what --public-url overrides.
func defaultPublicURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}

// mustURL parses a URL already checked at start.
func mustURL(raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		panic("server: public URL was checked at start: " + err.Error())
	}
	return u
}
