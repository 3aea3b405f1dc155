package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsFamilies scrapes /metrics of a running server and checks the families it must
// always expose: Go runtime, process and database pool statistics.
func TestMetricsFamilies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, e.base+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	for _, family := range []string{
		"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_open_fds",
		"pgxpool_acquired_conns", "pgxpool_idle_conns", "pgxpool_total_conns", "pgxpool_max_conns 8",
		"pgxpool_acquires_total", "pgxpool_acquire_duration_seconds_total", "pgxpool_new_conns_total",
	} {
		if !strings.Contains(string(body), "\n"+family) {
			t.Errorf("/metrics lacks %q", family)
		}
	}
}
