package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/anonjob/anonjob/internal/auth"
)

// DevKeyFile is where, on the embedded database, the first start leaves an API key for the
// "dev" customer, so that a newcomer's client works with no setup.
const DevKeyFile = "dev-api-key"

// ensureDevKey writes DATA_DIR/dev-api-key (mode 0600) unless it holds a key that works.
func (s *Server) ensureDevKey(ctx context.Context) error {
	path := filepath.Join(s.cfg.DataDir, DevKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		if _, err := auth.New(s.Store, 0).Check(ctx, strings.TrimSpace(string(b))); err == nil {
			s.cfg.Log.Info("API key of customer dev", "file", path)
			return nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	_, key, err := auth.CreateKey(ctx, s.Store, "dev")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	s.cfg.Log.Info("created an API key for customer dev; clients read it from the file", "file", path)
	return nil
}
