package main

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"testing"
	"time"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/server/servertest"
)

var harness *pgtest.Harness

func TestMain(m *testing.M) { pgtest.Main(m, &harness) }

// TestLifecycle runs a short lifecycle against a real anonjobd that was started before the
// stand-in served anything, and checks the report.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := servertest.Config(t, harness.NewDatabase(t))
	cfg.MaxDBConns = 8
	cfg.Dispatch = true
	cfg.RateLimit = 0 // a load of one customer, as the load commands run it (--rate-limit 0)
	cfg.ProviderURL = "http://" + lis.Addr().String()
	cfg.ProviderCredentials.Username, cfg.ProviderCredentials.Password = "any", "thing"
	srv, keys := servertest.Start(t, cfg, "load")
	conns, err := dialLoopback(srv.GRPCAddr().String(), keys[0], 1)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(conns)

	const jobs = 300
	res, err := runLifecycle(ctx, cfg.Log, lis, anonjobv1.NewJobServiceClient(conns[0]), jobs, 8, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.jobs != jobs || res.failed != 0 || len(res.latency) != jobs || res.elapsed <= 0 || res.webhooksLost != 0 {
		t.Fatalf("result %+v", res)
	}
	var out bytes.Buffer
	res.print(&out)
	last := regexp.MustCompile(`(?m)^lifecycle: 300 jobs in [0-9.]+ s = [0-9]+ jobs/s, create-to-DONE p50 [0-9.]+ ms, p99 [0-9.]+ ms\n\z`)
	if !last.Match(out.Bytes()) {
		t.Errorf("report:\n%s", out.String())
	}
	if st, err := srv.Store.JobStats(ctx); err != nil || st.ByStatus["DONE"] != int64(jobs) {
		t.Errorf("%d jobs DONE in the database (%v), want %d", st.ByStatus["DONE"], err, jobs)
	}
}
