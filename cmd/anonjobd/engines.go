package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/enginepool"
	"github.com/anonjob/anonjob/internal/store"
)

type enginesCmd struct {
	sealedDatabaseFlags `set:"secrets_key_help=The replicas' secrets key, which seals the engines' credentials; default with the embedded database: DATA_DIR/secrets.key."`

	List   enginesListCmd   `cmd:"" help:"List the engines, their state, capacity, jobs and last heartbeat."`
	Add    enginesAddCmd    `cmd:"" help:"Add an engine (or update one by its URL); credentials from CELANTUR_USERNAME and CELANTUR_PASSWORD, or CELANTUR_TOKEN."`
	Drain  enginesDrainCmd  `cmd:"" help:"Give an engine no new work; its jobs finish there."`
	Remove enginesRemoveCmd `cmd:"" help:"Remove an engine that has no processing job (drain it first)."`
}

type enginesListCmd struct {
	DeadAfter time.Duration `name:"engine-dead-after" help:"Heartbeat age past which an engine shows as dead." default:"30s" env:"ANONJOB_ENGINE_DEAD_AFTER"`
}

func (c *enginesListCmd) Run(parent *enginesCmd, log *slog.Logger) error {
	return parent.withStore(log, func(ctx context.Context, s *store.Store) error {
		engines, err := s.ListEngines(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		_, _ = fmt.Fprintln(w, "ID\tURL\tKIND\tSTATE\tCAPACITY\tPROCESSING\tHEARTBEAT\tREPLICA")
		for _, e := range engines {
			state, heard := e.State, "never"
			if e.SinceHeartbeat >= 0 {
				heard = e.SinceHeartbeat.Round(100*time.Millisecond).String() + " ago"
			}
			if e.SinceHeartbeat < 0 || e.SinceHeartbeat > c.DeadAfter {
				state += ",dead"
			}
			_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", e.ID, e.BaseURL, e.Kind, state, e.Capacity,
				e.Processing, heard, or(e.ReplicaID, "-"))
		}
		return w.Flush()
	})
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

type enginesAddCmd struct {
	URL      string `arg:"" help:"Base URL every replica reaches the engine at, e.g. http://engine-1:8090."`
	Kind     string `help:"built-in (anonjob's engine) or hosted; empty: built-in if the engine tells its capacity, else hosted." enum:",built-in,hosted" default:""`
	Capacity int    `help:"Jobs the engine takes at once; 0: what the engine tells, or found from its 429 answers."`
}

func (c *enginesAddCmd) Run(parent *enginesCmd, log *slog.Logger) error {
	id, err := enginepool.EngineID(c.URL)
	if err != nil {
		return err
	}
	creds := celantur.Credentials{Username: os.Getenv("CELANTUR_USERNAME"), Password: os.Getenv("CELANTUR_PASSWORD"),
		Token: os.Getenv("CELANTUR_TOKEN")}
	client, err := celantur.New(celantur.Config{BaseURL: c.URL, Credentials: creds, Logger: log})
	if err != nil {
		return err
	}
	return parent.withStore(log, func(ctx context.Context, s *store.Store) error {
		kind, capacity, ok := enginepool.Probe(ctx, client)
		if c.Kind != "" {
			kind = c.Kind
		}
		if c.Capacity > 0 {
			capacity = c.Capacity
		}
		e := store.Engine{ID: id, BaseURL: strings.TrimRight(c.URL, "/"), Kind: kind, Capacity: capacity,
			Username: creds.Username, Secret: creds.Password}
		if creds.Token != "" {
			e.Secret, e.SecretIsToken = creds.Token, true
		}
		if enginepool.IsLoopback(c.URL) {
			e.Host = enginepool.HostName() // only replicas on this host reach it
		}
		if err := s.UpsertEngine(ctx, e, ok); err != nil {
			return err
		}
		answered := "it answered"
		if !ok {
			answered = "it does not answer yet; it gets work once a replica reaches it"
		}
		fmt.Printf("added engine %s (%s, %s, capacity %d): %s\n", id, e.BaseURL, kind, capacity, answered)
		return nil
	})
}

type enginesDrainCmd struct {
	ID     string `arg:"" help:"Engine id (from engines list)."`
	Resume bool   `help:"Make a draining engine active again."`
}

func (c *enginesDrainCmd) Run(parent *enginesCmd, log *slog.Logger) error {
	state, done := store.EngineDraining, "draining: it gets no new work, and finishes what it has"
	if c.Resume {
		state, done = store.EngineActive, "active again"
	}
	return parent.withStore(log, func(ctx context.Context, s *store.Store) error {
		err := s.SetEngineState(ctx, c.ID, state)
		if errors.Is(err, store.ErrEngineNotFound) {
			return fmt.Errorf("no engine has id %q", c.ID)
		}
		if err == nil {
			fmt.Printf("engine %s is %s (replicas see it within a few seconds)\n", c.ID, done)
		}
		return err
	})
}

type enginesRemoveCmd struct {
	ID string `arg:"" help:"Engine id (from engines list)."`
}

func (c *enginesRemoveCmd) Run(parent *enginesCmd, log *slog.Logger) error {
	return parent.withStore(log, func(ctx context.Context, s *store.Store) error {
		err := s.RemoveEngine(ctx, c.ID)
		switch {
		case errors.Is(err, store.ErrEngineNotFound):
			return fmt.Errorf("no engine has id %q", c.ID)
		case errors.Is(err, store.ErrEngineBusy):
			return fmt.Errorf("engine %s still has processing jobs: drain it (anonjobd engines drain %s) and remove it once they ended", c.ID, c.ID)
		case err == nil:
			fmt.Printf("removed engine %s; the result files of jobs it finished can no longer be fetched\n", c.ID)
		}
		return err
	})
}
