package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/anonjob/anonjob/internal/auth"
	"github.com/anonjob/anonjob/internal/pgembed"
	"github.com/anonjob/anonjob/internal/server"
	"github.com/anonjob/anonjob/internal/store"
)

// databaseFlags say which database the commands that work on it directly (keys, engines,
// callback-key) open.
type databaseFlags struct {
	DatabaseURL string `name:"database-url" help:"PostgreSQL URL; empty uses the embedded database of --data-dir (running or not)." env:"DATABASE_URL"`
	DataDir     string `name:"data-dir" help:"anonjobd's data dir, for its embedded database." default:"${data_dir}" env:"ANONJOB_DATA_DIR"`
}

// sealedDatabaseFlags are databaseFlags and the secrets key, for the commands whose store
// seals and opens secrets (engines, callback-key). Each command says in secrets_key_help what
// the key protects for it.
type sealedDatabaseFlags struct {
	databaseFlags
	SecretsKeyFile string `name:"secrets-key-file" help:"${secrets_key_help}" env:"ANONJOB_SECRETS_KEY_FILE"`
}

// withStore runs fn on the database, with the secrets key opened.
func (f sealedDatabaseFlags) withStore(log *slog.Logger, fn func(ctx context.Context, s *store.Store) error) error {
	return withStore(log, f.DatabaseURL, f.DataDir, f.SecretsKeyFile, true, fn)
}

type keysCmd struct {
	databaseFlags

	Create keysCreateCmd `cmd:"" help:"Create an API key for a customer; the key is shown once, on the last line."`
	List   keysListCmd   `cmd:"" help:"List API keys (never their secrets)."`
	Revoke keysRevokeCmd `cmd:"" help:"Revoke an API key by id."`
}

// withStore runs f on the database: the given URL, the embedded server running on the data
// dir, or else that embedded database started for the command's duration.
func (c *keysCmd) withStore(log *slog.Logger, f func(ctx context.Context, s *store.Store) error) error {
	return withStore(log, c.DatabaseURL, c.DataDir, "", false, f)
}

// withStore runs f on the database of dbURL or of the data dir; with sealed true the store
// seals and opens secrets with the secrets key (keyFile, or the data dir's).
func withStore(log *slog.Logger, dbURL, dataDir, keyFile string, sealed bool, f func(ctx context.Context, s *store.Store) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := dbURL
	if url == "" {
		var ok bool
		if url, ok = pgembed.RunningURL(dataDir); !ok {
			pg, err := pgembed.Start(ctx, pgembed.Config{DataDir: dataDir, Log: log})
			if err != nil {
				return fmt.Errorf("embedded PostgreSQL in %s: %w", dataDir, err)
			}
			defer func() { _ = pg.Stop(context.WithoutCancel(ctx)) }()
			url = pg.URL()
		}
	}
	pool, err := store.Connect(ctx, url, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool, log); err != nil {
		return err
	}
	var cfg store.Config
	if sealed {
		if cfg.SecretBox, err = server.OpenSecretsBox(keyFile, dataDir, dbURL == "", log); err != nil {
			return err
		}
	}
	return f(ctx, store.New(pool, cfg))
}

type keysCreateCmd struct {
	Customer string `required:"" help:"The customer the key acts for."`
}

func (c *keysCreateCmd) Run(parent *keysCmd, log *slog.Logger) error {
	return parent.withStore(log, func(ctx context.Context, s *store.Store) error {
		id, key, err := auth.CreateKey(ctx, s, c.Customer)
		if err != nil {
			return err
		}
		fmt.Printf("created key %s for customer %s; it is shown only now:\n%s\n", id, c.Customer, key)
		return nil
	})
}

type keysListCmd struct{}

func (c *keysListCmd) Run(parent *keysCmd, log *slog.Logger) error {
	return parent.withStore(log, func(ctx context.Context, s *store.Store) error {
		keys, err := s.ListAPIKeys(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		_, _ = fmt.Fprintln(w, "ID\tCUSTOMER\tCREATED\tREVOKED")
		for _, k := range keys {
			revoked := "-"
			if k.RevokeTime != nil {
				revoked = k.RevokeTime.UTC().Format(time.RFC3339)
			}
			_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.ID, k.Customer, k.CreateTime.UTC().Format(time.RFC3339), revoked)
		}
		return w.Flush()
	})
}

type keysRevokeCmd struct {
	ID string `arg:"" help:"Key id (from keys list)."`
}

func (c *keysRevokeCmd) Run(parent *keysCmd, log *slog.Logger) error {
	return parent.withStore(log, func(ctx context.Context, s *store.Store) error {
		err := s.RevokeAPIKey(ctx, c.ID)
		if errors.Is(err, store.ErrKeyNotFound) {
			return fmt.Errorf("no API key has id %q", c.ID)
		}
		if err == nil {
			fmt.Printf("revoked key %s; servers stop accepting it within their key cache time (10s by default)\n", c.ID)
		}
		return err
	})
}
