package telemetry

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// propagator is how trace context crosses process boundaries: the W3C traceparent header.
func propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// Traceparent is the W3C traceparent of ctx's span, to be kept with work that outlives the
// request (a queued job, a queued file); "" when ctx is not part of a trace.
func Traceparent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagator().Inject(ctx, c)
	return c["traceparent"]
}

// SpanContext parses a traceparent kept by Traceparent; the zero SpanContext if it is empty
// or malformed.
func SpanContext(traceparent string) trace.SpanContext {
	if traceparent == "" {
		return trace.SpanContext{}
	}
	ctx := propagator().Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
	return trace.SpanContextFromContext(ctx)
}

// WithTraceparent makes ctx part of the trace traceparent names, as a remote parent; ctx
// unchanged if traceparent is empty or malformed.
func WithTraceparent(ctx context.Context, traceparent string) context.Context {
	sc := SpanContext(traceparent)
	if !sc.IsValid() {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// Inject writes ctx's trace context into h (a request about to be sent).
func Inject(ctx context.Context, h http.Header) {
	propagator().Inject(ctx, propagation.HeaderCarrier(h))
}

// HeaderTraceparent is the valid traceparent of an incoming request's header, or "".
func HeaderTraceparent(h http.Header) string {
	tp := h.Get("traceparent")
	if !SpanContext(tp).IsValid() {
		return ""
	}
	return tp
}

// JobID and FileID name what a span works on: an anonjob job, a file at the engine.
func JobID(id string) attribute.KeyValue  { return attribute.String("anonjob.job_id", id) }
func FileID(id string) attribute.KeyValue { return attribute.String("anonjob.file_id", id) }

// StartQueued starts a span of work that was queued: the child of the trace the work was
// queued in (traceparent, kept with it), or a new trace if it has none. When the caller's ctx
// is itself in another trace, the span links to it. A nil tp is the pipeline of ctx's span.
func StartQueued(ctx context.Context, tp trace.TracerProvider, traceparent, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if tp == nil {
		tp = trace.SpanFromContext(ctx).TracerProvider()
	}
	opts := []trace.SpanStartOption{trace.WithAttributes(attrs...)}
	if parent := SpanContext(traceparent); parent.IsValid() {
		if cur := trace.SpanContextFromContext(ctx); cur.IsValid() && cur.TraceID() != parent.TraceID() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: cur}))
		}
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	return tp.Tracer(instrumentation).Start(ctx, name, opts...)
}

// instrumentation names the tracer of anonjob's own spans.
const instrumentation = "github.com/anonjob/anonjob"

// Fail marks span failed with err, if err is not nil.
func Fail(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
}
