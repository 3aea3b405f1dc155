// Package httpapi is the HTTP face of the API: the grpc-gateway translation of every RPC to
// REST, including the provider webhook, with its marshalers, error statuses and body limits.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/apierr"
)

// Config tunes the handler New returns. As with net/http, a zero field means its documented
// default.
type Config struct {
	// Limits bound request bodies per route. Zero fields: the Default*Bytes limits.
	Limits Limits
	// Security is checked before a request reaches the API. The zero value checks nothing:
	// keys are left to the gRPC server, there is no rate limit and /metrics is open.
	Security Security
	// MetricsHandler is served at GET /metrics. nil: no such route.
	MetricsHandler http.Handler
	// RequestMetrics counts and times the handler's requests. nil: they are not counted.
	RequestMetrics *Metrics
	// Log receives a line per request. nil: the lines are discarded.
	Log *slog.Logger
}

// New returns the HTTP handler serving the REST API through conn, a client connection to the
// gRPC server. Going through gRPC (rather than calling the handlers in process) is what lets
// server-streaming calls and interceptors work.
func New(ctx context.Context, conn *grpc.ClientConn, cfg Config) (http.Handler, error) {
	limits := cfg.Limits.withDefaults()
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := append(marshalerOptions(),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithStreamErrorHandler(streamErrorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
		runtime.WithMiddlewares(routeMiddleware),
	)
	mux := runtime.NewServeMux(opts...)
	if err := anonjobv1.RegisterJobServiceHandler(ctx, mux, conn); err != nil {
		return nil, fmt.Errorf("register job gateway: %w", err)
	}
	if err := anonjobv1.RegisterWebhookServiceHandler(ctx, mux, conn); err != nil {
		return nil, fmt.Errorf("register webhook gateway: %w", err)
	}
	if err := anonjobv1.RegisterDeliveryServiceHandler(ctx, mux, conn); err != nil {
		return nil, fmt.Errorf("register delivery gateway: %w", err)
	}
	if metrics := cfg.MetricsHandler; metrics != nil {
		if err := mux.HandlePath(http.MethodGet, "/metrics", func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
			metrics.ServeHTTP(w, r)
		}); err != nil {
			return nil, fmt.Errorf("register metrics route: %w", err)
		}
	}
	// Registered after the generated routes, so it takes GetJobFile's route over from them.
	if err := mux.HandlePath(http.MethodGet, filesPattern, fileHandler(mux, anonjobv1.NewJobServiceClient(conn))); err != nil {
		return nil, fmt.Errorf("register file route: %w", err)
	}
	fail := func(w http.ResponseWriter, r *http.Request, err error) {
		_, outbound := runtime.MarshalerForRequest(mux, r)
		runtime.HTTPError(r.Context(), mux, outbound, w, r, err)
	}
	h := protect(cfg.Security, limits, fail, guard(limits, apiRoutes(), fail, mux))
	if cfg.RequestMetrics != nil {
		h = cfg.RequestMetrics.instrument(h)
	}
	return accessLog(log, h), nil
}

var errMetricsToken = status.Error(codes.Unauthenticated, "metrics: send authorization: Bearer <the --metrics-token>")

func tooLarge(limit int64) error {
	return apierr.New(codes.ResourceExhausted, apierr.BodyTooLarge,
		fmt.Sprintf("request body: exceeds the limit of %d bytes", limit),
		map[string]string{"limit_bytes": fmt.Sprint(limit)}, "body")
}

// errorHandler writes gRPC errors as the default handler does, with more precise HTTP
// statuses for some reasons and 413 for a body cut off at its limit. An error of the gateway's
// own (a body it could not decode; query and path were checked before it) gets the API's shape.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	err = apierr.Normalize(err, "body")
	if d, ok := apierr.RetryDelay(status.Convert(err)); ok {
		w.Header().Set("Retry-After", strconv.Itoa(apierr.RetrySeconds(d)))
	}
	if st := stateOf(r.Context()); st != nil {
		if st.overLimit {
			err = tooLarge(st.limit)
		}
		if c := apierr.HTTPStatus(status.Convert(err)); c != 0 {
			st.code = c
		}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// routingErrorHandler answers a known path with the wrong method 405, not the gateway's 501,
// and words routing errors like every other error.
func routingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
	var err error
	switch code {
	case http.StatusMethodNotAllowed:
		if st := stateOf(r.Context()); st != nil {
			st.code = code
		}
		err = apierr.New(codes.Unimplemented, "METHOD_NOT_ALLOWED",
			fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path), nil, "")
	case http.StatusNotFound:
		err = apierr.New(codes.NotFound, "ROUTE_NOT_FOUND", "no such path: "+r.URL.Path, nil, "")
	case http.StatusBadRequest:
		err = apierr.New(codes.InvalidArgument, "BAD_PATH", "the path cannot be parsed: "+r.URL.Path, nil, "path")
	default:
		runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, code)
		return
	}
	errorHandler(ctx, mux, m, w, r, err)
}

// streamErrorHandler sets the HTTP status of a stream that fails before its first message.
func streamErrorHandler(ctx context.Context, err error) *status.Status {
	st := runtime.DefaultStreamErrorHandler(ctx, err)
	if rs := stateOf(ctx); rs != nil {
		rs.code = apierr.HTTPStatus(st)
	}
	return st
}
