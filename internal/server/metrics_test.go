package server_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/server"
)

// scrape returns the text of e's /metrics.
func scrape(t *testing.T, e *env) string {
	t.Helper()
	resp, body := get(t, e.base+"/metrics", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	return string(body)
}

// sample sums the values of the samples of family whose labels include every one of labels
// (each written as name="value"); found is false when none matches.
func sample(body, family string, labels ...string) (sum float64, found bool) {
	for _, line := range strings.Split(body, "\n") {
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '{'); i >= 0 {
			name = line[:i]
			end := strings.LastIndexByte(line, '}')
			if end < i {
				continue
			}
			rest = strings.TrimSpace(line[end+1:])
		}
		if name != family {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

// linesWith returns the lines of body that contain substr, for a failure message.
func linesWith(body, substr string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMetricsFamilies scrapes /metrics of a running server and checks the families it must
// always expose: Go runtime, process and database pool statistics.
func TestMetricsFamilies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := scrape(t, e)
	for _, family := range []string{
		"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_open_fds",
		"pgxpool_acquired_conns", "pgxpool_idle_conns", "pgxpool_total_conns", "pgxpool_max_conns 8",
		"pgxpool_acquires_total", "pgxpool_acquire_duration_seconds_total", "pgxpool_new_conns_total",
		"anonjob_upload_bytes_in_flight 0", "anonjob_upload_bytes_limit",
	} {
		if !strings.Contains(body, "\n"+family) {
			t.Errorf("/metrics lacks %q", family)
		}
	}
}

// TestMetricsAfterJob runs a job to its end through a provider and checks that the request
// and job families count what happened.
func TestMetricsAfterJob(t *testing.T) {
	t.Parallel()
	prov := newFakeProvider(t)
	e := newEnv(t, withProvider(prov), func(c *server.Config) { c.WebhookDeadline = 50 * time.Millisecond })
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := e.jobs.WatchJobs(wctx, &anonjobv1.WatchJobsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil { // the opening heartbeat: the watch is open
		t.Fatal(err)
	}
	j := e.createJob(t)
	waitStatus(t, e, j.GetId(), anonjobv1.JobStatus_JOB_STATUS_PROCESSING)
	prov.mu.Lock()
	prov.status = "done"
	prov.mu.Unlock()
	waitStatus(t, e, j.GetId(), anonjobv1.JobStatus_JOB_STATUS_DONE)
	// A failed call is counted under its code.
	if _, err := e.jobs.GetJob(context.Background(), &anonjobv1.GetJobRequest{Id: "not-an-id"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("GetJob of a malformed id: %v", err)
	}
	if r := e.do(http.MethodGet, "/v1/jobs/"+j.GetId(), "", nil); r.status != http.StatusOK {
		t.Fatalf("GET job: %d", r.status)
	}
	if r := e.do(http.MethodGet, "/v1/no/such/route/"+j.GetId(), "", nil); r.status != http.StatusNotFound {
		t.Fatalf("GET of no route: %d", r.status)
	}
	if _, err := e.hooks.HandleCelanturWebhook(context.Background(), &anonjobv1.HandleCelanturWebhookRequest{JobId: j.GetId(), Token: "forged"}); status.Code(err) != codes.NotFound {
		t.Fatalf("webhook with a forged token: %v", err)
	}
	body := scrape(t, e)
	if strings.Contains(body, j.GetId()) {
		t.Errorf("/metrics names a job id: routes must be patterns")
	}
	checks := []struct {
		family string
		labels []string
		min    float64
	}{
		{"grpc_server_handled_total", []string{`grpc_method="CreateJob"`, `grpc_code="OK"`}, 1},
		{"grpc_server_handled_total", []string{`grpc_method="GetJob"`, `grpc_code="OK"`}, 1},
		{"grpc_server_handled_total", []string{`grpc_method="GetJob"`, `grpc_code="InvalidArgument"`}, 1},
		{"grpc_server_started_total", []string{`grpc_method="CreateJob"`}, 1},
		{"grpc_server_handling_seconds_count", []string{`grpc_method="CreateJob"`}, 1},
		{"anonjob_http_requests_total", []string{`method="get"`, `code="200"`, `route="/v1/jobs/{id=*}"`}, 1},
		{"anonjob_http_requests_total", []string{`method="get"`, `code="404"`, `route="unmatched"`}, 1},
		{"anonjob_jobs", []string{`status="DONE"`}, 1},
		{"anonjob_jobs", []string{`status="QUEUED"`}, 0},
		{"anonjob_jobs_queued", nil, 0},
		{"anonjob_jobs_oldest_queued_age_seconds", nil, 0},
		{"anonjob_watch_streams_open", nil, 1},
		{"anonjob_provider_webhooks_total", []string{`outcome="forged"`}, 1},
		{"anonjob_dispatch_upload_seconds_count", []string{`outcome="ok"`}, 1},
		{"anonjob_http_request_duration_seconds_count", []string{`route="/v1/jobs/{id=*}"`}, 1},
	}
	for _, c := range checks {
		v, ok := sample(body, c.family, c.labels...)
		if !ok || v < c.min {
			t.Errorf("%s%v = %v (found %v), want >= %v", c.family, c.labels, v, ok, c.min)
		}
	}
}
