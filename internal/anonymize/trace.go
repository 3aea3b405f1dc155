package anonymize

import (
	"context"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// stage starts the span of one step of Process in the trace of ctx, with the tracer provider
// of ctx's span: without a recording span (tracing off) it is a no-op and costs nothing.
func stage(ctx context.Context, name string) (context.Context, trace.Span) {
	return trace.SpanFromContext(ctx).TracerProvider().
		Tracer("github.com/anonjob/anonjob/internal/anonymize").Start(ctx, name)
}

func endStage(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
