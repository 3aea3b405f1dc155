package httpapi

import (
	"context"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics counts and times the gateway's requests by method, status code and route.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the HTTP request families on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	labels := []string{"method", "code", "route"}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anonjob_http_requests_total", Help: "HTTP requests to the gateway by method, status code and route pattern.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "anonjob_http_request_duration_seconds", Help: "Time to answer HTTP requests to the gateway, by method, status code and route pattern.",
			Buckets: prometheus.DefBuckets,
		}, labels),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

type routeKey struct{}

// unmatchedRoute labels requests that no route took (404s, refusals before routing), so a
// scanner's random paths add no series.
const unmatchedRoute = "unmatched"

// instrument wraps next, which must run routeMiddleware, in the request families. The route
// is the gateway's pattern ("/v1/jobs/{id=*}"), never the raw path: cardinality stays bounded.
func (m *Metrics) instrument(next http.Handler) http.Handler {
	route := promhttp.WithLabelFromCtx("route", func(ctx context.Context) string {
		if p, ok := ctx.Value(routeKey{}).(*string); ok && *p != "" {
			return *p
		}
		return unmatchedRoute
	})
	h := promhttp.InstrumentHandlerDuration(m.duration, promhttp.InstrumentHandlerCounter(m.requests, next, route), route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, new(string))))
	})
}

// routeMiddleware records the pattern the gateway matched where instrument reads it.
func routeMiddleware(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if p, ok := r.Context().Value(routeKey{}).(*string); ok {
			if pattern, ok := runtime.HTTPPattern(r.Context()); ok {
				*p = pattern.String()
			}
		}
		next(w, r, params)
	}
}
