// Command anonjob-load measures a running anonjobd on this machine: CreateJob throughput and
// latency next to the raw insert rate of the same PostgreSQL, WatchJobs fan-out latency from
// commit to receipt, and whole job lifecycles through a zero-cost engine stand-in.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/alecthomas/kong"
)

const description = `Load generator for anonjobd, for loopback use on one machine.

Every run is bounded by --duration (and for create also --count), talks only to loopback
addresses, and prints its report on standard output.

To measure with fsync on (what production runs with), start anonjobd on its embedded
PostgreSQL, which keeps fsync on:

  go run ./cmd/anonjobd --data-dir /tmp/anonjob-load

It logs "embedded PostgreSQL running" with a socket_dir; the database URL is then

  postgres:///anonjob?host=SOCKET_DIR&user=postgres&sslmode=disable

and in a second shell:

  go run ./cmd/anonjob-load create --addr localhost:9090 \
      --baseline-database-url 'postgres:///anonjob?host=SOCKET_DIR&user=postgres&sslmode=disable'
  go run ./cmd/anonjob-load watch --addr localhost:9090

For whole lifecycles, run anonjobd against the stand-in that anonjob-load serves (anonjobd
keeps retrying until the stand-in is up):

  CELANTUR_USERNAME=load CELANTUR_PASSWORD=load go run ./cmd/anonjobd --data-dir /tmp/anonjob-load \
      --provider-url http://127.0.0.1:8091
  go run ./cmd/anonjob-load lifecycle --addr localhost:9090 --engine-addr 127.0.0.1:8091 --count 10000

The baseline inserts into scratch copies of the jobs and job_events tables (same columns,
constraints and indexes, in a schema of its own that is dropped afterwards), so the service's
history and its watchers are untouched.`

type cli struct {
	LogLevel   slog.Level `help:"Log level: debug, info, warn or error." default:"info"`
	CPUProfile string     `help:"Write a CPU profile of this command (not of anonjobd) to this file: what the load itself costs the shared cores." type:"path"`

	Create    createCmd    `cmd:"" help:"CreateJob throughput and latency, optionally next to the raw insert rate."`
	Watch     watchCmd     `cmd:"" help:"WatchJobs fan-out: many watchers, a steady event rate, commit-to-receipt latency."`
	Lifecycle lifecycleCmd `cmd:"" help:"Jobs through the whole path (create, dispatch, a zero-cost engine stand-in, webhook, DONE): jobs/s and create-to-DONE latency."`
}

func main() {
	var c cli
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	k := kong.Parse(&c, kong.Name("anonjob-load"), kong.Description(description),
		kong.UsageOnError(), kong.BindTo(ctx, (*context.Context)(nil)))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: c.LogLevel}))
	if err := run(k, &c, log); err != nil {
		fmt.Fprintln(os.Stderr, "anonjob-load:", err)
		os.Exit(1)
	}
}

// run runs the chosen command, under a CPU profile when one is asked for.
func run(k *kong.Context, c *cli, log *slog.Logger) error {
	if c.CPUProfile == "" {
		return k.Run(log)
	}
	f, err := os.Create(c.CPUProfile)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("cpu profile: %w", err)
	}
	err = k.Run(log)
	pprof.StopCPUProfile()
	return errors.Join(err, f.Close())
}
