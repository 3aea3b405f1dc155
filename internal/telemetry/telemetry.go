// Package telemetry sets up OpenTelemetry tracing from the standard OTEL_* environment
// variables and hands out the instrumentation of anonjob's edges (gRPC, HTTP, PostgreSQL).
// Tracing is off, at no cost, unless OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_TRACES_EXPORTER is set: then every edge is
// instrumented, and off every helper returns what it was given.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
)

// Provider is the tracing of one process. A nil *Provider is tracing switched off.
type Provider struct {
	tp *sdktrace.TracerProvider
}

// Enabled reports whether the environment asks for traces: an OTLP endpoint, or an explicit
// OTEL_TRACES_EXPORTER other than "none".
func Enabled(getenv func(string) string) bool {
	if e := getenv("OTEL_TRACES_EXPORTER"); e != "" {
		return e != "none"
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// New reads the OTEL_* environment: with tracing off it returns nil and no error. Otherwise
// the exporter is chosen by autoexport (OTLP over http/protobuf by default, grpc with
// OTEL_EXPORTER_OTLP_PROTOCOL=grpc), the sampler by OTEL_TRACES_SAMPLER, and the resource by
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, with service as the default service name.
// Shutdown flushes what is buffered.
func New(ctx context.Context, service string) (*Provider, error) {
	if !Enabled(os.Getenv) {
		return nil, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("trace exporter (OTEL_* environment): %w", err)
	}
	if autoexport.IsNoneSpanExporter(exp) {
		return nil, nil
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)), // the environment may override it
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithProcessPID())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("trace resource (OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Provider{tp: tp}, nil
}

// Enabled reports whether p records spans.
func (p *Provider) Enabled() bool { return p != nil }

// TracerProvider is p's tracer provider, or a no-op one when tracing is off.
func (p *Provider) TracerProvider() trace.TracerProvider {
	if p == nil {
		return noop.NewTracerProvider()
	}
	return p.tp
}

// Shutdown exports the spans still buffered and stops the exporter.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if err := p.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("flush traces: %w", err)
	}
	return nil
}

// GRPCServerOptions instrument a gRPC server: a span per call, continuing the caller's trace.
func (p *Provider) GRPCServerOptions() []grpc.ServerOption {
	if p == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(p.grpcOptions()...))}
}

// GRPCDialOptions instrument a client connection: a span per call, its context sent along.
func (p *Provider) GRPCDialOptions() []grpc.DialOption {
	if p == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(p.grpcOptions()...))}
}

func (p *Provider) grpcOptions() []otelgrpc.Option {
	// Metrics come from Prometheus (package metrics); the meter stays a no-op. Health probes
	// and reflection would each start a trace per poll.
	return []otelgrpc.Option{otelgrpc.WithTracerProvider(p.tp), otelgrpc.WithPropagators(propagator()),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelgrpc.WithFilter(filters.None(filters.HealthCheck(), filters.ServicePrefix("grpc.reflection.")))}
}

// HTTPHandler gives every request a server span, continuing a trace its traceparent names,
// but the requests to the paths in untraced (probes, scrapes), which would fill the traces with
// one root each per poll.
func (p *Provider) HTTPHandler(h http.Handler, operation string, untraced ...string) http.Handler {
	if p == nil {
		return h
	}
	skip := func(r *http.Request) bool { return !slices.Contains(untraced, r.URL.Path) }
	return otelhttp.NewHandler(h, operation, append(p.httpOptions(), otelhttp.WithFilter(skip))...)
}

// Transport gives an outgoing request a client span and sends its traceparent when it is made
// within a trace; background calls (sign-ins, capacity and status polls) stay out of it. A
// nil rt is http.DefaultTransport.
func (p *Provider) Transport(rt http.RoundTripper) http.RoundTripper {
	if p == nil {
		return rt
	}
	inTrace := func(r *http.Request) bool { return trace.SpanContextFromContext(r.Context()).IsValid() }
	return otelhttp.NewTransport(rt, append(p.httpOptions(), otelhttp.WithFilter(inTrace))...)
}

func (p *Provider) httpOptions() []otelhttp.Option {
	return []otelhttp.Option{otelhttp.WithTracerProvider(p.tp), otelhttp.WithPropagators(propagator()),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider())}
}

// QueryTracer traces the statements run within a traced operation (background loops that
// are not part of a trace run untraced); nil when tracing is off.
func (p *Provider) QueryTracer() pgx.QueryTracer {
	if p == nil {
		return nil
	}
	return otelpgx.NewTracer(otelpgx.WithTracerProvider(p.tp), otelpgx.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelpgx.WithDisableConnectionDetailsInAttributes())
}
