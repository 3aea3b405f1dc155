package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/server"
	"github.com/anonjob/anonjob/internal/server/servertest"
)

var harness *pgtest.Harness

func TestMain(m *testing.M) { pgtest.Main(m, &harness) }

// TestLifecycle runs short lifecycles against a real anonjobd that was started before the
// stand-in served anything, and checks the report: as fast as the callers go, and on a
// schedule, whose last job cannot be sent before its place in it.
func TestLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name string
		load lifecycleLoad
	}{
		{"unpaced", lifecycleLoad{count: 300, clients: 8}},
		// A schedule far slower than the unpaced run (which takes a fraction of its second),
		// so that a rate ignored shows.
		{"scheduled", lifecycleLoad{count: 100, clients: 8, rate: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, out, srv := runLifecycleAgainstServer(t, tc.load)
			n := tc.load.count
			if res.jobs != n || res.failed != 0 || len(res.latency) != n || res.elapsed <= 0 || res.webhooksLost != 0 {
				t.Fatalf("result %+v", res)
			}
			last := regexp.MustCompile(fmt.Sprintf(`(?m)^lifecycle: %d jobs in [0-9.]+ s = [0-9]+ jobs/s, create-to-DONE p50 [0-9.]+ ms, p99 [0-9.]+ ms\n\z`, n))
			if !last.MatchString(out) {
				t.Errorf("report:\n%s", out)
			}
			if tc.load.rate > 0 {
				if !strings.Contains(out, "schedule: 100 jobs/s") {
					t.Errorf("report without its schedule:\n%s", out)
				}
				if least := time.Duration(float64(n-1) / tc.load.rate * float64(time.Second)); res.elapsed < least {
					t.Errorf("%d jobs at %v/s ended within %v, before the schedule's %v", n, tc.load.rate, res.elapsed, least)
				}
			}
			if st, err := srv.Store.JobStats(context.Background()); err != nil || st.ByStatus["DONE"] != int64(n) {
				t.Errorf("%d jobs DONE in the database (%v), want %d", st.ByStatus["DONE"], err, n)
			}
		})
	}
}

func runLifecycleAgainstServer(t *testing.T, load lifecycleLoad) (lifecycleResult, string, *server.Server) {
	t.Helper()
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
	res, err := runLifecycle(ctx, cfg.Log, lis, anonjobv1.NewJobServiceClient(conns[0]), load, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res.print(&out)
	return res, out.String(), srv
}
