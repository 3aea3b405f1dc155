package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/auth"
	"github.com/anonjob/anonjob/internal/engine"
	"github.com/anonjob/anonjob/internal/httpapi"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/netguard"
	"github.com/anonjob/anonjob/internal/notify"
	"github.com/anonjob/anonjob/service"
)

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
	if s.cfg.ProviderURL == "" {
		// A hosted provider is assumed to detect every class; the built-in engine's are known.
		jobs.WithEngineTargets("built-in", engine.Detects())
	}
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
