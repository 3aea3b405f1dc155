package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/anonjob/anonjob/internal/telemetry"
	"github.com/anonjob/anonjob/internal/telemetry/telemetrytest"
)

// otelVars are the variables that could switch tracing on; tests clear them all first.
var otelVars = []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_SERVICE_NAME", "OTEL_TRACES_SAMPLER"}

func clearEnv(t *testing.T) {
	for _, v := range otelVars {
		t.Setenv(v, "")
	}
}

func TestEnabled(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"only a protocol", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false},
		{"only a service name", map[string]string{"OTEL_SERVICE_NAME": "x"}, false},
		{"an endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{"a traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{"an exporter", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{"exporter none wins", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := telemetry.Enabled(func(k string) string { return c.env[k] }); got != c.want {
				t.Fatalf("Enabled = %v, want %v", got, c.want)
			}
		})
	}
}

type plain struct{}

func (*plain) ServeHTTP(http.ResponseWriter, *http.Request) {}

// TestOffByDefault: with no OTEL_* variables there is no exporter, the tracer provider is a
// no-op, and nothing is instrumented.
func TestOffByDefault(t *testing.T) {
	clearEnv(t)
	p, err := telemetry.New(context.Background(), "test")
	if err != nil || p != nil || p.Enabled() {
		t.Fatalf("New = %v, %v; want nil, nil", p, err)
	}
	if _, ok := p.TracerProvider().(noop.TracerProvider); !ok {
		t.Fatalf("tracer provider %T, want the no-op one", p.TracerProvider())
	}
	h := &plain{}
	if got := p.HTTPHandler(h, "x"); got != http.Handler(h) {
		t.Fatalf("handler wrapped while tracing is off: %T", got)
	}
	if p.Transport(http.DefaultTransport) != http.DefaultTransport || p.QueryTracer() != nil ||
		p.GRPCServerOptions() != nil || p.GRPCDialOptions() != nil {
		t.Fatal("instrumentation handed out while tracing is off")
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestExportsOverBothProtocols sends a span through the instrumented HTTP face to a receiver
// of each OTLP protocol, and checks the client's trace is continued and flushed at Shutdown.
func TestExportsOverBothProtocols(t *testing.T) {
	for _, proto := range []string{"http/protobuf", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			clearEnv(t)
			recv := telemetrytest.NewHTTP(t)
			if proto == "grpc" {
				recv = telemetrytest.NewGRPC(t)
			}
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.Endpoint)
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", proto)
			t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
			ctx := context.Background()
			p, err := telemetry.New(ctx, "anonjob-test")
			if err != nil || !p.Enabled() {
				t.Fatalf("New: %v %v", p, err)
			}
			var seen trace.SpanContext
			srv := httptest.NewServer(p.HTTPHandler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				seen = trace.SpanContextFromContext(r.Context())
			}), "test"))
			defer srv.Close()
			const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/x", nil)
			req.Header.Set("traceparent", parent)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := p.Shutdown(sctx); err != nil {
				t.Fatal(err)
			}
			spans := recv.Spans()
			if len(spans) != 1 {
				t.Fatalf("%d spans exported, want 1: %+v", len(spans), spans)
			}
			s := spans[0]
			if s.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || s.Parent != "00f067aa0ba902b7" ||
				s.Service != "anonjob-test" || s.SpanID != seen.SpanID().String() {
				t.Fatalf("span %+v, handler saw %v", s, seen)
			}
		})
	}
}

func TestTraceparentRoundTrip(t *testing.T) {
	t.Parallel()
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := telemetry.WithTraceparent(context.Background(), tp)
	if got := telemetry.Traceparent(ctx); got != tp {
		t.Fatalf("Traceparent = %q, want %q", got, tp)
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		if got := telemetry.Traceparent(telemetry.WithTraceparent(context.Background(), bad)); got != "" {
			t.Fatalf("traceparent %q kept as %q", bad, got)
		}
	}
}
