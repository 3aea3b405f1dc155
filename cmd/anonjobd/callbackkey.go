package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/anonjob/anonjob/internal/store"
)

type callbackKeyCmd struct {
	sealedDatabaseFlags `set:"secrets_key_help=The secrets key anonjobd uses (default with the embedded database: DATA_DIR/secrets.key)."`

	Rotate callbackKeyRotateCmd `cmd:"" help:"Make a new callback key; the old one is still accepted for --grace."`
}

type callbackKeyRotateCmd struct {
	Grace time.Duration `help:"How long callback tokens of the old key stay valid (at least anonjobd's --callback-token-ttl, or in-flight jobs wait for polling)." default:"${callback_token_ttl}"`
}

func (c *callbackKeyRotateCmd) Run(parent *callbackKeyCmd, log *slog.Logger) error {
	if c.Grace < 0 {
		return fmt.Errorf("--grace %s: must not be negative", c.Grace)
	}
	return parent.withStore(log, func(ctx context.Context, s *store.Store) error {
		if err := s.RotateCallbackKey(ctx, c.Grace); err != nil {
			return err
		}
		fmt.Printf("rotated the callback key; the old one is accepted until %s; running servers pick up the new one within a minute\n",
			time.Now().Add(c.Grace).UTC().Format(time.RFC3339))
		return nil
	})
}
