package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"google.golang.org/grpc"

	"github.com/anonjob/anonjob/internal/loadgen"
)

type watchCmd struct {
	serverFlags `embed:""`
	Watchers    int           `help:"Concurrent WatchJobs streams." default:"1000"`
	Conns       int           `help:"gRPC connections the watchers are spread over." default:"4"`
	Rate        float64       `help:"Target events per second (a CreateJob or a CancelJob is one event each)." default:"500"`
	Writers     int           `help:"Concurrent callers driving the events." default:"16"`
	Duration    time.Duration `help:"How long events are driven." default:"10s"`
	Drain       time.Duration `help:"Longest wait after the last event for every watcher to receive it." default:"10s"`
	Idle        time.Duration `help:"How long the open watchers stay idle before events are driven: a window to read the server's memory per idle watcher." default:"0s"`
	DecodeJobs  bool          `help:"Decode every event's job in full, as a real client does. By default the watchers read only revisions and event times: decoding the jobs takes about half of this command's CPU, on the cores anonjobd shares."`
}

func (c *watchCmd) Run(ctx context.Context, log *slog.Logger) error {
	if c.Watchers < 1 || c.Conns < 1 || c.Writers < 1 || c.Rate <= 0 || c.Rate > 100_000 ||
		c.Duration <= 0 || c.Duration > time.Hour || c.Idle < 0 || c.Idle > time.Hour {
		return errors.New("--watchers, --conns and --writers must be at least 1, --rate in (0, 100000], --duration in (0, 1h], --idle in [0, 1h]")
	}
	img, err := loadgen.TinyPNG()
	if err != nil {
		return err
	}
	clients, closeConns, err := c.jobClients(c.Conns + 1) // the last one drives the events
	if err != nil {
		return err
	}
	defer closeConns()
	driver := loadgen.Driver{
		Client: clients[c.Conns], Image: img,
		Rate: c.Rate, Writers: c.Writers, Duration: c.Duration,
	}

	log.Info("opening watchers", "watchers", c.Watchers, "conns", c.Conns)
	var opts []grpc.CallOption
	if !c.DecodeJobs {
		opts = append(opts, loadgen.SkimJobs())
	}
	f, err := loadgen.OpenFanout(ctx, clients[:c.Conns], c.Watchers, opts...)
	if err != nil {
		return err
	}
	defer f.Stop()
	if c.Idle > 0 {
		log.Info("watchers open and idle", "for", c.Idle)
		select {
		case <-time.After(c.Idle):
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	log.Info("driving events", "rate", c.Rate, "writers", c.Writers, "duration", c.Duration)
	d := driver.Run(ctx)
	if d.Events == 0 {
		return fmt.Errorf("driving events: nothing committed: %w", d.FirstErr)
	}
	drained := f.WaitFor(ctx, d.LastRevision, c.Drain)
	f.Stop()
	rep := f.Report()

	w := os.Stdout
	expected := d.Events * c.Watchers
	delivered := loadgen.PerSecond(rep.Delivered, d.Elapsed)
	_, _ = fmt.Fprintf(w, "WatchJobs fan-out: %d watchers over %d gRPC connections to %s\n", c.Watchers, c.Conns, c.Addr)
	_, _ = fmt.Fprintf(w, "  driven    %8.0f events/s (target %.0f; %d events in %s, %d failed calls)\n",
		d.Rate(), c.Rate, d.Events, d.Elapsed.Round(time.Millisecond), d.Failed)
	if d.FirstErr != nil {
		_, _ = fmt.Fprintf(w, "            first error: %v\n", d.FirstErr)
	}
	_, _ = fmt.Fprintf(w, "  delivered %8.0f events/s in total, %.0f per watcher; %d of %d expected (%.2f%%)\n",
		delivered, delivered/float64(c.Watchers), rep.Delivered, expected, 100*float64(rep.Delivered)/float64(expected))
	_, _ = fmt.Fprintf(w, "  commit-to-receipt latency: %s\n", rep.Latency.Summary())
	_, _ = fmt.Fprintf(w, "  watchers cut off and resumed: %d; all caught up within --drain: %v\n", rep.Resumed, drained)
	return nil
}
