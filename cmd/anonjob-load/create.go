package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/anonjob/anonjob/internal/loadgen"
)

type createCmd struct {
	serverFlags `embed:""`
	Clients     int           `help:"Concurrent clients, each calling CreateJob back to back." default:"32"`
	Conns       int           `help:"gRPC connections shared by the clients; 0 gives each client its own." default:"0"`
	Duration    time.Duration `help:"How long each measured phase runs." default:"10s"`
	Count       int64         `help:"Stop a phase after this many calls; 0 means only --duration bounds it." default:"0"`
	Warmup      time.Duration `help:"Unmeasured load before each phase (connections, caches)." default:"1s"`

	BaselineDatabaseURL string `name:"baseline-database-url" help:"anonjobd's PostgreSQL database: first measure the raw job+event insert transaction rate there with the same concurrency, and report CreateJob as a share of it."`
}

func (c *createCmd) Run(ctx context.Context, log *slog.Logger) error {
	if c.Clients < 1 || c.Duration <= 0 || c.Duration > time.Hour {
		return errors.New("--clients must be at least 1 and --duration between 0 and 1h")
	}
	nconns := c.Conns
	if nconns <= 0 || nconns > c.Clients {
		nconns = c.Clients
	}
	img, err := loadgen.TinyPNG()
	if err != nil {
		return err
	}
	loop := loadgen.ClosedLoop{Workers: c.Clients, Duration: c.Duration, Count: c.Count}
	warm := loadgen.ClosedLoop{Workers: c.Clients, Duration: c.Warmup}

	var raw *loadgen.Result
	if c.BaselineDatabaseURL != "" {
		r, err := c.baseline(ctx, log, loop, warm, len(img))
		if err != nil {
			return err
		}
		raw = &r
	}

	clients, closeConns, err := c.jobClients(nconns)
	if err != nil {
		return err
	}
	defer closeConns()
	create := func(ctx context.Context, w int) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := clients[w%len(clients)].CreateJob(ctx, loadgen.CreateJobRequest(img))
		return err
	}
	log.Info("measuring CreateJob", "addr", c.Addr, "clients", c.Clients, "conns", nconns, "duration", c.Duration)
	warm.Run(ctx, create)
	res := loop.Run(ctx, create)
	if res.OK == 0 {
		return fmt.Errorf("CreateJob: nothing succeeded: %w", res.FirstErr)
	}

	w := os.Stdout
	_, _ = fmt.Fprintf(w, "CreateJob load: %d clients over %d gRPC connections to %s, %s per phase\n",
		c.Clients, nconns, c.Addr, c.Duration)
	if raw != nil {
		printPhase(w, "raw insert txn (job + event)", *raw)
	}
	printPhase(w, "CreateJob", res)
	if raw != nil {
		_, _ = fmt.Fprintf(w, "CreateJob %.0f/s = %.1f%% of raw insert %.0f/s\n",
			res.Rate(), 100*res.Rate()/raw.Rate(), raw.Rate())
	}
	return nil
}

// baseline measures the raw insert rate in scratch tables of --baseline-database-url.
func (c *createCmd) baseline(ctx context.Context, log *slog.Logger, loop, warm loadgen.ClosedLoop, inputSize int) (loadgen.Result, error) {
	if err := checkDatabaseURL(c.BaselineDatabaseURL); err != nil {
		return loadgen.Result{}, err
	}
	cfg, err := pgxpool.ParseConfig(c.BaselineDatabaseURL)
	if err != nil {
		return loadgen.Result{}, fmt.Errorf("--baseline-database-url: %w", err)
	}
	b, err := loadgen.OpenScratch(ctx, cfg, c.Clients, inputSize)
	if err != nil {
		return loadgen.Result{}, err
	}
	log.Info("measuring raw insert baseline", "clients", c.Clients, "duration", c.Duration)
	insert := func(ctx context.Context, _ int) error { return b.Insert(ctx) }
	warm.Run(ctx, insert)
	r := loop.Run(ctx, insert)
	if err := b.Close(context.WithoutCancel(ctx)); err != nil {
		log.Warn("baseline cleanup", "err", err)
	}
	if r.OK == 0 {
		return loadgen.Result{}, fmt.Errorf("raw insert baseline: nothing succeeded: %w", r.FirstErr)
	}
	return r, nil
}

func printPhase(w *os.File, name string, r loadgen.Result) {
	_, _ = fmt.Fprintf(w, "  %-30s %8.0f/s  %s  (%d ok, %d failed in %s)\n", name, r.Rate(),
		r.Latency.Summary(), r.OK, r.Failed, r.Elapsed.Round(time.Millisecond))
	if r.FirstErr != nil {
		_, _ = fmt.Fprintf(w, "  %-30s first error: %v\n", "", r.FirstErr)
	}
}
