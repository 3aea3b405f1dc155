package server

import (
	"context"
	"log/slog"

	"github.com/anonjob/anonjob/internal/telemetry"
)

// startTelemetry sets up tracing from the OTEL_* environment (off unless it names an
// exporter) and makes every log line of a request carry its request and trace ids.
func (s *Server) startTelemetry(ctx context.Context) error {
	s.cfg.Log = slog.New(telemetry.LogHandler(s.cfg.Log.Handler()))
	tel, err := telemetry.New(ctx, "anonjobd")
	if err != nil {
		return err
	}
	s.tel = tel
	if tel.Enabled() {
		s.cfg.Log.Info("tracing on: spans are exported as the OTEL_* environment says")
	}
	return nil
}

// stopTelemetry flushes the spans not yet exported.
func (s *Server) stopTelemetry(ctx context.Context) {
	if err := s.tel.Shutdown(ctx); err != nil {
		s.cfg.Log.Warn("flush traces", "err", err)
	}
}
