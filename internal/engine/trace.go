package engine

import (
	"net/http"

	"github.com/anonjob/anonjob/internal/telemetry"
)

// traceparentOf is the trace context an upload came in: its server span's when the engine's
// handler is traced, else the caller's traceparent header as sent, so that the webhook still
// carries the caller's trace when this engine records none of its own.
func traceparentOf(r *http.Request) string {
	if tp := telemetry.Traceparent(r.Context()); tp != "" {
		return tp
	}
	return telemetry.HeaderTraceparent(r.Header)
}
