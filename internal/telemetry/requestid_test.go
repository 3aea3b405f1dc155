package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/telemetry"
)

func TestValidRequestID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		id   string
		want bool
	}{
		{"abc-123", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{"has space", false},
		{"line\nbreak", false},
		{"tab\t", false},
		{"caf\u00e9", false},
		{"\x7f", false},
	}
	for _, c := range cases {
		if got := telemetry.ValidRequestID(c.id); got != c.want {
			t.Errorf("ValidRequestID(%q) = %v, want %v", c.id, got, c.want)
		}
	}
}

// TestRequestIDs: a valid incoming X-Request-Id is kept, an invalid or missing one replaced;
// the response carries it, and so does every line logged with the request's context.
func TestRequestIDs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		keep     bool
	}{
		{"kept", "client-id-1", true},
		{"missing", "", false},
		{"too long", strings.Repeat("x", 200), false},
		{"unprintable", "a\x01b", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil)))
			h := telemetry.RequestIDs(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				log.InfoContext(r.Context(), "inside")
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if c.in != "" {
				req.Header.Set(telemetry.RequestIDHeader, c.in)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get(telemetry.RequestIDHeader)
			if c.keep && got != c.in || !c.keep && (got == c.in || !telemetry.ValidRequestID(got)) {
				t.Fatalf("response id %q for incoming %q", got, c.in)
			}
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatal(err)
			}
			if line["request_id"] != got {
				t.Fatalf("log line %s lacks request_id %q", buf.Bytes(), got)
			}
			if _, ok := line["trace_id"]; ok {
				t.Fatalf("trace_id logged without a trace: %s", buf.Bytes())
			}
		})
	}
}

func TestLogHandlerAddsTraceIDs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "x")
	ctx := telemetry.WithTraceparent(context.Background(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	log.InfoContext(telemetry.WithRequestID(ctx, "r1"), "traced")
	log.Info("no context")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	var first, second map[string]any
	if len(lines) != 2 || json.Unmarshal(lines[0], &first) != nil || json.Unmarshal(lines[1], &second) != nil {
		t.Fatalf("log: %s", buf.Bytes())
	}
	if first["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || first["span_id"] != "00f067aa0ba902b7" ||
		first["request_id"] != "r1" || first["component"] != "x" {
		t.Fatalf("traced line: %s", lines[0])
	}
	if _, ok := second["trace_id"]; ok {
		t.Fatalf("untraced line: %s", lines[1])
	}
}
