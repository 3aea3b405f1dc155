package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/gen/openapiv2"
	"github.com/anonjob/anonjob/internal/auth"
	"github.com/anonjob/anonjob/internal/clientwebhook"
	"github.com/anonjob/anonjob/internal/console"
	"github.com/anonjob/anonjob/internal/engine"
	"github.com/anonjob/anonjob/internal/httpapi"
	"github.com/anonjob/anonjob/internal/inflight"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/netguard"
	"github.com/anonjob/anonjob/internal/openapi"
	"github.com/anonjob/anonjob/internal/ratelimit"
	"github.com/anonjob/anonjob/internal/telemetry"
	"github.com/anonjob/anonjob/service"
)

func (s *Server) listen(ctx context.Context) error {
	var err error
	var lc net.ListenConfig
	if s.grpcLis, err = lc.Listen(ctx, "tcp", s.cfg.GRPCAddr); err != nil {
		return fmt.Errorf("listen on GRPCAddr: %w", err)
	}
	if s.httpLis, err = lc.Listen(ctx, "tcp", s.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("listen on HTTPAddr: %w", err)
	}
	if s.cfg.PublicURL == "" {
		s.cfg.PublicURL = defaultPublicURL(s.httpLis.Addr(), s.scheme())
	}
	return nil
}

// registerServices builds the gRPC server and the HTTP gateway in front of it.
func (s *Server) registerServices(ctx context.Context) error {
	guards := s.newCallGuards()
	// First in the chains, so calls refused by size, key or UTF-8 checks are counted too.
	rpcMetrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	if err := s.Metrics.Register(rpcMetrics); err != nil {
		return fmt.Errorf("register gRPC metrics: %w", err)
	}
	if err := registerUploadGauges(s.Metrics, guards.uploads); err != nil {
		return err
	}
	s.grpc = grpc.NewServer(s.grpcServerOptions(guards, rpcMetrics)...)
	policy := netguard.NewPolicy(s.cfg.CallbackAllowCIDRs, false).WithPorts(s.cfg.CallbackAllowPorts)
	s.sender = clientwebhook.NewSender(s.Store, clientwebhook.Config{
		PublicURL: mustURL(s.cfg.PublicURL), Client: policy.HTTPClient(15 * time.Second),
		Schedule: s.cfg.DeliverySchedule, Metrics: clientwebhook.NewMetrics(s.Metrics), Grace: s.cfg.ShutdownGrace,
	}, s.cfg.Log.With("component", "webhooks"))
	s.registerAPIs(policy)
	s.registerHealth()
	rpcMetrics.InitializeMetrics(s.grpc) // every method's series from zero, not from its first call

	if err := s.dialGateway(guards); err != nil {
		return err
	}
	handler, err := s.httpHandler(ctx, guards)
	if err != nil {
		return err
	}
	s.http = &http.Server{
		Handler:           s.tel.HTTPHandler(telemetry.RequestIDs(handler), "anonjobd", "/livez", "/readyz", "/healthz", "/metrics"),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // a 25 MiB upload on a slow link
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: watch streams stay open.
	}
	return nil
}

// callGuards are the key check, rate limit and upload budget that both the gRPC server and
// the HTTP gateway enforce. They are shared, so that a customer has one budget and one rate
// whichever way it calls.
type callGuards struct {
	authn   *auth.Authenticator
	limiter *ratelimit.Limiter
	uploads *inflight.Budget
	sizes   methodLimits
	gate    *gate
	maxMsg  int // the gRPC receive and send limit
}

// registerUploadGauges reports the upload budget: what uploads hold now against its bound, so
// that an operator sees a replica refusing uploads coming before it does.
func registerUploadGauges(reg prometheus.Registerer, uploads *inflight.Budget) error {
	for _, g := range []prometheus.GaugeFunc{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "anonjob_upload_bytes_in_flight",
			Help: "Bytes held from the upload budget: uploads being received (REST and gRPC) and calls of methods open without a key."},
			func() float64 { return float64(uploads.InUse()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "anonjob_upload_bytes_limit",
			Help: "The bound on anonjob_upload_bytes_in_flight (--max-inflight-upload-bytes); 0: none."},
			func() float64 { return float64(uploads.Max()) }),
	} {
		if err := reg.Register(g); err != nil {
			return fmt.Errorf("register upload gauges: %w", err)
		}
	}
	return nil
}

func (s *Server) newCallGuards() callGuards {
	// Every call needs an API key but health, reflection and the provider's webhook, which
	// carries a per-job token of its own.
	authn := auth.New(s.Store, s.cfg.KeyCacheTTL, "/grpc.health.v1.Health/", "/grpc.reflection.",
		"/"+anonjobv1.WebhookService_ServiceDesc.ServiceName+"/")
	// A gRPC message carries the image plus a little framing. That is the server's receive
	// limit; each method's own is checked by sizes (see methodLimits), behind the gate.
	maxMsg := int(s.cfg.MaxUploadBytes) + maxMessageOverhead
	uploads := inflight.New(s.cfg.MaxInflightUploadBytes)
	limiter := ratelimit.New(s.cfg.RateLimit, s.cfg.RateBurst)
	return callGuards{
		authn: authn, limiter: limiter, uploads: uploads, maxMsg: maxMsg,
		sizes: methodLimits{upload: int64(maxMsg), webhook: httpapi.DefaultMaxWebhookBytes, other: httpapi.DefaultMaxBodyBytes},
		gate: &gate{authn: authn, limiter: limiter, uploads: uploads, maxMsg: int64(maxMsg), mark: newGatewayMark(),
			lookup: 2 * time.Second, nowFunc: time.Now},
	}
}

func (s *Server) grpcServerOptions(guards callGuards, rpcMetrics *grpcprom.ServerMetrics) []grpc.ServerOption {
	return append(append(s.grpcCreds(), s.tel.GRPCServerOptions()...),
		grpc.MaxRecvMsgSize(guards.maxMsg),
		grpc.InTapHandle(guards.gate.tap), // key, rate and upload budget before a message is read
		grpc.StatsHandler(payloadStats{}),
		grpc.MaxConcurrentStreams(s.cfg.GRPCMaxConcurrentStreams),
		grpc.ForceServerCodecV2(service.Codec()), // sends pre-encoded watch batches as they are
		grpc.ChainUnaryInterceptor(telemetry.UnaryServerRequestID(), rpcMetrics.UnaryServerInterceptor(), unaryInterceptor(s.cfg.Log), budgetUnary(guards.uploads), guards.sizes.unary(), guards.authn.Unary(), service.UnaryUTF8Check()),
		grpc.ChainStreamInterceptor(telemetry.StreamServerRequestID(), rpcMetrics.StreamServerInterceptor(), streamInterceptor(s.cfg.Log), guards.sizes.stream(), guards.authn.Stream(), service.StreamUTF8Check()),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: s.cfg.GRPCMaxConnectionIdle, MaxConnectionAge: s.cfg.GRPCMaxConnectionAge,
			MaxConnectionAgeGrace: s.cfg.GRPCMaxConnectionAgeGrace,
			Time:                  5 * time.Minute, Timeout: 20 * time.Second, // drop dead peers
		}),
	)
}

// registerAPIs registers the job, delivery and webhook services; policy decides which
// callback URLs a job may name.
func (s *Server) registerAPIs(policy *netguard.Policy) {
	anonjobv1.RegisterJobServiceServer(s.grpc, service.NewJobServer(s.Store, s.Hub, s.jobServerConfig(policy)))
	anonjobv1.RegisterDeliveryServiceServer(s.grpc, service.NewDeliveryServer(s.Store, service.DeliveryServerConfig{
		Wake: s.sender.Poke, Log: s.cfg.Log,
	}))
	anonjobv1.RegisterWebhookServiceServer(s.grpc, service.NewWebhookServer(s.Store, s.Store, s.Signer, service.WebhookServerConfig{
		WebhookDeadline: s.cfg.WebhookDeadline, Metrics: s.Metrics, Traces: s.Store, Log: s.cfg.Log,
	}))
}

func (s *Server) jobServerConfig(policy *netguard.Policy) service.JobServerConfig {
	cfg := service.JobServerConfig{
		Limits:                job.Limits{MaxInputBytes: s.cfg.MaxUploadBytes, MaxImagePixels: s.imageLimits().MaxPixels},
		Heartbeat:             s.cfg.Heartbeat,
		MaxWatchesPerCustomer: s.cfg.MaxWatchesPerCustomer,
		PublicURL:             mustURL(s.cfg.PublicURL),
		CheckCallback:         func(ctx context.Context, raw string) error { return policy.CheckURL(ctx, raw, nil) },
		Metrics:               s.Metrics,
		Log:                   s.cfg.Log,
	}
	if s.engines != nil {
		cfg.Files = s.engines // a nil *Pool in the interface would not compare nil
	}
	if len(s.providerURLs()) == 0 {
		// A hosted provider is assumed to detect every class; the built-in engine's are known.
		can := engine.Detects()
		cfg.EngineName, cfg.EngineTargets = "built-in", &can
	}
	return cfg
}

// registerHealth registers health, NOT_SERVING until ready says otherwise, and reflection.
func (s *Server) registerHealth() {
	s.health = health.NewServer()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	s.ready.attach(s.health)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
}

// dialGateway connects the gateway to the gRPC server: the in-process handler cannot stream.
func (s *Server) dialGateway(guards callGuards) error {
	var err error
	s.gwConn, err = grpc.NewClient(dialTarget(s.grpcLis.Addr()), append(s.tel.GRPCDialOptions(),
		s.gatewayCreds(),
		grpc.WithChainUnaryInterceptor(telemetry.UnaryClientRequestID()), grpc.WithChainStreamInterceptor(telemetry.StreamClientRequestID()),
		grpc.WithPerRPCCredentials(gatewayCreds(guards.gate.mark)),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(guards.maxMsg), grpc.MaxCallRecvMsgSize(guards.maxMsg)))...)
	if err != nil {
		return fmt.Errorf("dial own gRPC server: %w", err)
	}
	return nil
}

// httpHandler is everything the HTTP listener serves: the REST gateway, the OpenAPI
// document, the console and the probes.
func (s *Server) httpHandler(ctx context.Context, guards callGuards) (http.Handler, error) {
	gw, err := httpapi.New(ctx, s.gwConn, httpapi.Config{
		Limits:         httpapi.Limits{MaxImageBytes: s.cfg.MaxUploadBytes},
		Security:       httpapi.Security{Keys: guards.authn, Limiter: guards.limiter, Uploads: guards.uploads, MetricsToken: s.cfg.MetricsToken},
		MetricsHandler: promhttp.HandlerFor(s.Metrics, promhttp.HandlerOpts{}),
		RequestMetrics: httpapi.NewMetrics(s.Metrics),
		Log:            s.cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	root := http.NewServeMux()
	if err := openapi.Register(root, openapiv2.JSON); err != nil {
		return nil, err
	}
	root.Handle("/", console.Mount(httpapi.SecurityHeaders(s.ready.routes(gw)))) // the console at /ui/ and the probes, keyless
	// CORS outermost: preflights carry no API key and must be answered before any auth.
	return httpapi.CORS(s.cfg.CORSOrigins, root)
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
func defaultPublicURL(a net.Addr, scheme string) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return scheme + "://" + a.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}

// mustURL parses a URL already checked at start.
func mustURL(raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		panic("server: public URL was checked at start: " + err.Error())
	}
	return u
}
