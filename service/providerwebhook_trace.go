package service

import (
	"context"

	"go.opentelemetry.io/otel/trace"

	"github.com/anonjob/anonjob/internal/telemetry"
)

// TraceStore knows the trace context each job was created in.
type TraceStore interface {
	JobTraceparent(ctx context.Context, id string) (string, error)
}

// continueTrace starts the span of a webhook for job id within the job's trace: a child of the
// call's span when the engine sent the job's trace context, else a child of the context
// stored with the job, linked to the call's span. Without tracing it costs nothing.
func (s *WebhookServer) continueTrace(ctx context.Context, id string) (context.Context, trace.Span) {
	cur := trace.SpanFromContext(ctx)
	if !cur.IsRecording() {
		return ctx, trace.SpanFromContext(context.Background()) // a no-op span
	}
	var stored string
	if s.traces != nil {
		tp, err := s.traces.JobTraceparent(ctx, id)
		if err != nil {
			s.log.DebugContext(ctx, "read the job's trace context", "job_id", id, "err", err)
		}
		if telemetry.SpanContext(tp).TraceID() != cur.SpanContext().TraceID() {
			stored = tp // the engine sent none, or another trace's
		}
	}
	return telemetry.StartQueued(ctx, nil, stored, "provider webhook", telemetry.JobID(id))
}
