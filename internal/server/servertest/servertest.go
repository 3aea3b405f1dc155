// Package servertest starts anonjobd in process for the tests that drive it: the server's
// own, the console's and the commands'.
package servertest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/anonjob/anonjob/internal/auth"
	"github.com/anonjob/anonjob/internal/server"
)

// Config is server.Defaults() for a test: gRPC, HTTP and the built-in engine listen on random
// loopback ports, the database is dbURL (empty: the embedded one), state goes to a folder of
// the test's own and the log is discarded.
func Config(t testing.TB, dbURL string) server.Config {
	t.Helper()
	cfg := server.Defaults()
	cfg.GRPCAddr, cfg.HTTPAddr, cfg.EngineAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.DatabaseURL, cfg.DataDir = dbURL, t.TempDir()
	cfg.Log = slog.New(slog.DiscardHandler)
	return cfg
}

// Start starts a server with cfg, closed when the test ends, and returns it with an API key
// for each of customers, in their order.
func Start(t testing.TB, cfg server.Config, customers ...string) (*server.Server, []string) {
	t.Helper()
	ctx := context.Background()
	srv, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(srv.Close)
	keys := make([]string, len(customers))
	for i, c := range customers {
		if _, keys[i], err = auth.CreateKey(ctx, srv.Store, c); err != nil {
			t.Fatalf("API key of %s: %v", c, err)
		}
	}
	return srv, keys
}
