package telemetry_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/anonjob/anonjob/internal/telemetry"
)

// BenchmarkLogLine compares a request's log line through the plain handler with the same line
// through LogHandler (request id, and trace and span ids when traced).
func BenchmarkLogLine(b *testing.B) {
	plain := slog.NewJSONHandler(io.Discard, nil)
	ctx := telemetry.WithRequestID(context.Background(), "0123456789abcdef01234567")
	traced := telemetry.WithTraceparent(ctx, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	cases := []struct {
		name string
		log  *slog.Logger
		ctx  context.Context
	}{
		{"plain", slog.New(plain), ctx},
		{"request_id", slog.New(telemetry.LogHandler(plain)), ctx},
		{"request_and_trace_ids", slog.New(telemetry.LogHandler(plain)), traced},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.log.InfoContext(c.ctx, "http request", "method", "POST", "path", "/v1/jobs", "status", 200)
			}
		})
	}
}
