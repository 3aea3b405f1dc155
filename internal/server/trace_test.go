package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/onnxrt"
	"github.com/anonjob/anonjob/internal/server"
	"github.com/anonjob/anonjob/internal/store"
	"github.com/anonjob/anonjob/internal/telemetry/telemetrytest"
	"github.com/anonjob/anonjob/internal/testlog"
)

// jsonLogs collects a server's JSON log lines.
type jsonLogs struct{ testlog.Buffer }

// lines returns the log lines whose msg is msg and whose fields include every one of match.
func (b *jsonLogs) lines(msg string, match map[string]string) []map[string]any {
	var out []map[string]any
	for _, raw := range bytes.Split(b.Bytes(), []byte("\n")) {
		var l map[string]any
		if json.Unmarshal(raw, &l) != nil || l["msg"] != msg {
			continue
		}
		ok := true
		for k, v := range match {
			ok = ok && asString(l[k]) == v
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

func withLogs(b *jsonLogs) option {
	return func(c *server.Config) {
		c.Log = b.JSONLogger(slog.LevelDebug)
	}
}

// tracingEnv points the OTEL_* environment at recv; the tests using it cannot be parallel.
func tracingEnv(t *testing.T, recv *telemetrytest.Receiver, protocol string) {
	clearOTel(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.Endpoint)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50") // ms: spans arrive while the test waits for them
}

func clearOTel(t *testing.T) {
	for _, v := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		t.Setenv(v, "")
	}
}

// postJob creates a job over REST with the given X-Request-Id ("" for none) and returns its id
// and the response's X-Request-Id.
func (e *env) postJob(requestID string) (id, echoed string) {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, e.base+"/v1/jobs?face=true", bytes.NewReader(testJPEG(e.t)))
	req.Header.Set("Content-Type", "image/jpeg")
	req.Header.Set("Authorization", "Bearer "+e.key)
	if requestID != "" {
		req.Header.Set("X-Request-Id", requestID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var body struct{ ID string }
	if err := json.Unmarshal(raw, &body); err != nil || resp.StatusCode != http.StatusOK || body.ID == "" {
		e.t.Fatalf("create job: %d %s", resp.StatusCode, raw)
	}
	return body.ID, resp.Header.Get("X-Request-Id")
}

// waitSpans waits until ok holds for the spans received (a bound, not a timing).
func waitSpans(t *testing.T, recv *telemetrytest.Receiver, ok func([]telemetrytest.Span) bool) []telemetrytest.Span {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		spans := recv.Spans()
		if ok(spans) {
			return spans
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range spans {
				names = append(names, s.Name+"@"+s.TraceID[:8])
			}
			t.Fatalf("spans received: %v", names)
		}
	}
}

// serverSpan finds the gRPC server span of method (the gateway's client span has its name too).
func serverSpan(spans []telemetrytest.Span, method string) (telemetrytest.Span, bool) {
	for _, s := range spans {
		if s.Name == method && s.Attributes["rpc.system.name"]+s.Attributes["rpc.system"] == "grpc" &&
			s.Attributes["server.address"] == "" {
			return s, true
		}
	}
	for _, s := range spans {
		if s.Name == method {
			return s, true
		}
	}
	return telemetrytest.Span{}, false
}

// connected reports whether spans form one tree: one root, every other span's parent among them.
func connected(spans []telemetrytest.Span) bool {
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanID] = true
	}
	roots := 0
	for _, s := range spans {
		switch {
		case s.Parent == "":
			roots++
		case !ids[s.Parent]:
			return false
		}
	}
	return roots == 1
}

func inTrace(spans []telemetrytest.Span, traceID string) []telemetrytest.Span {
	var out []telemetrytest.Span
	for _, s := range spans {
		if s.TraceID == traceID {
			out = append(out, s)
		}
	}
	return out
}

// TestJobTraceFollowsTheJob runs one job through the built-in engine with tracing on: its
// CreateJob, upload, the engine's stages and the webhook back are one trace, exported over
// OTLP/HTTP, and the request's log lines carry its request id and trace id.
func TestJobTraceFollowsTheJob(t *testing.T) {
	if !onnxrt.Available() {
		t.Skip("the built-in engine needs cgo")
	}
	recv := telemetrytest.NewHTTP(t)
	tracingEnv(t, recv, "http/protobuf")
	var logs jsonLogs
	e := newEnv(t, withLogs(&logs), func(c *server.Config) {
		c.Dispatch = true
		c.DataDir = t.TempDir()
	})
	id, echoed := e.postJob("trace-test-1")
	if echoed != "trace-test-1" {
		t.Fatalf("X-Request-Id answered %q", echoed)
	}
	waitStatus(t, e, id, anonjobv1.JobStatus_JOB_STATUS_DONE)

	want := []string{"dispatch upload", "engine process", "decode", "detect", "anonymize", "encode",
		"engine webhook", "provider webhook", "/anonjob.v1.WebhookService/HandleCelanturWebhook"[1:]}
	var traceID string
	spans := waitSpans(t, recv, func(spans []telemetrytest.Span) bool {
		create, ok := serverSpan(spans, "anonjob.v1.JobService/CreateJob")
		if !ok {
			return false
		}
		traceID = create.TraceID
		var names []string
		for _, s := range inTrace(spans, traceID) {
			names = append(names, s.Name)
		}
		for _, w := range want {
			if !slices.Contains(names, w) {
				return false
			}
		}
		return connected(inTrace(spans, traceID)) // parents end after their children
	})
	trace := inTrace(spans, traceID)
	scopes := map[string]bool{}
	for _, s := range trace {
		scopes[s.Scope] = true
		if s.Service != "anonjobd" {
			t.Errorf("span %q of service %q", s.Name, s.Service)
		}
		if s.Name == "provider webhook" && len(s.Links) != 0 {
			t.Errorf("the engine's webhook came without the job's traceparent: %+v", s)
		}
	}
	for _, sc := range []string{"github.com/exaring/otelpgx", "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
		"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"} {
		if !scopes[sc] {
			t.Errorf("no span of %s in the job's trace (scopes %v)", sc, scopes)
		}
	}
	stored, err := e.st.JobTraceparent(context.Background(), id)
	if err != nil ||
		!strings.Contains(stored, traceID) {
		t.Fatalf("stored traceparent %q (%v), trace %s", stored, err, traceID)
	}
	// One request id and one trace id on both faces' lines of the request.
	match := map[string]string{"request_id": "trace-test-1", "trace_id": traceID}
	if l := logs.lines("http request", match); len(l) != 1 || asString(l[0]["path"]) != "/v1/jobs" {
		t.Errorf("http request lines %v", l)
	}
	if l := logs.lines("grpc call", match); len(l) != 1 || asString(l[0]["method"]) != "/anonjob.v1.JobService/CreateJob" {
		t.Errorf("grpc call lines %v", l)
	}
}

// TestWebhookWithoutTraceparentJoinsTheJobsTrace: the hosted provider sends no traceparent, so
// the webhook's span is put in the job's stored trace, linked to the webhook request's own.
// Exported over OTLP/gRPC.
func TestWebhookWithoutTraceparentJoinsTheJobsTrace(t *testing.T) {
	recv := telemetrytest.NewGRPC(t)
	tracingEnv(t, recv, "grpc")
	e := newEnv(t)
	id, _ := e.postJob("")
	if _, _, err := e.srv.Store.Transition(context.Background(), id, store.Change{To: job.StatusProcessing, ProviderFileID: "f-1"}); err != nil {
		t.Fatal(err)
	}
	if r := e.do(http.MethodPost, e.callback(id), "application/json", []byte(donePayload("f-1"))); r.status != http.StatusOK {
		t.Fatalf("webhook: %d %s", r.status, r.raw)
	}
	var create, hook telemetrytest.Span
	waitSpans(t, recv, func(spans []telemetrytest.Span) bool {
		var ok1, ok2 bool
		create, ok1 = serverSpan(spans, "anonjob.v1.JobService/CreateJob")
		for _, s := range spans {
			if s.Name == "provider webhook" {
				hook, ok2 = s, true
			}
		}
		return ok1 && ok2
	})
	if hook.TraceID != create.TraceID || len(hook.Links) != 1 || hook.Links[0] == create.TraceID ||
		hook.Attributes["anonjob.job_id"] != id {
		t.Fatalf("webhook span %+v, CreateJob in trace %s", hook, create.TraceID)
	}
}

// TestTracingOffByDefault: with no OTEL_* variables nothing is traced (no trace context is
// stored with a job, no log line has a trace id), yet every request has an id, over REST
// and gRPC.
func TestTracingOffByDefault(t *testing.T) {
	clearOTel(t)
	var logs jsonLogs
	e := newEnv(t, withLogs(&logs))
	id, echoed := e.postJob("")
	if len(echoed) != 24 {
		t.Fatalf("X-Request-Id %q, want a new id", echoed)
	}
	if tp, err := e.st.JobTraceparent(context.Background(), id); err != nil || tp != "" {
		t.Fatalf("a trace context %q was stored with tracing off (%v)", tp, err)
	}
	if l := logs.lines("http request", map[string]string{"request_id": echoed}); len(l) != 1 || l[0]["trace_id"] != nil {
		t.Fatalf("http request lines %v", l)
	}
	cases := []struct{ in, wantOut string }{
		{"grpc-id-1", "grpc-id-1"},
		{"bad id with spaces", ""}, // replaced
	}
	for _, c := range cases {
		var header metadata.MD
		ctx := metadata.AppendToOutgoingContext(context.Background(), "x-request-id", c.in)
		if _, err := e.jobs.CreateJob(ctx, &anonjobv1.CreateJobRequest{Image: &httpbody.HttpBody{ContentType: "image/png", Data: testPNG(t)}, Face: true},
			grpc.Header(&header)); err != nil {
			t.Fatal(err)
		}
		got := header.Get("x-request-id")
		if len(got) != 1 || c.wantOut != "" && got[0] != c.wantOut || c.wantOut == "" && (got[0] == c.in || len(got[0]) != 24) {
			t.Fatalf("x-request-id %q answered %v", c.in, got)
		}
		if l := logs.lines("grpc call", map[string]string{"request_id": got[0], "method": "/anonjob.v1.JobService/CreateJob"}); len(l) != 1 {
			t.Fatalf("grpc call lines with request id %s: %v", got[0], l)
		}
	}
}
