package server

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/anonjob/anonjob/internal/periodic"
	"github.com/anonjob/anonjob/internal/providerhook"
	"github.com/anonjob/anonjob/internal/secretbox"
)

// SecretsKeyFile is the key file written next to the embedded database when --secrets-key-file
// is not given.
const SecretsKeyFile = "secrets.key"

// OpenSecretsBox returns the box that seals secrets at rest: the key in keyFile, or with the
// embedded database (embedded true) the one in DATA_DIR/secrets.key, written the first time.
// An external database without a key file keeps its secrets in clear, and says so.
func OpenSecretsBox(keyFile, dataDir string, embedded bool, log *slog.Logger) (*secretbox.Box, error) {
	if keyFile != "" {
		box, err := secretbox.LoadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("secrets key file: %w", err)
		}
		return box, nil
	}
	if !embedded {
		log.Warn("no secrets key file: webhook secrets and callback keys are stored in clear in the database")
		return nil, nil
	}
	path := filepath.Join(dataDir, SecretsKeyFile)
	box, created, err := secretbox.EnsureKeyFile(path)
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("wrote a new secrets key; keep it with the data, secrets in the database cannot be read without it", "file", path)
	}
	return box, nil
}

// sealAtStart seals rows left in clear by a version without encryption (or a start without a
// key file).
func (s *Server) sealAtStart(ctx context.Context) error {
	n, err := s.Store.SealSecrets(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		s.cfg.Log.Info("sealed secrets stored in clear", "count", n)
	}
	return nil
}

// newSigner makes the callback token signer from the database's callback keys.
func (s *Server) newSigner(ctx context.Context) (providerhook.Signer, error) {
	keys, err := s.Store.CallbackKeys(ctx)
	if err != nil {
		return providerhook.Signer{}, err
	}
	return providerhook.NewKeyedSigner(keys, s.cfg.CallbackTokenTTL), nil
}

// callbackKeyRefresh re-reads the callback keys, so a rotation (anonjobd callback-key rotate,
// on any machine) is picked up: new tokens use the new key, and the old one is dropped once
// its grace period is over.
func (s *Server) callbackKeyRefresh(ctx context.Context) {
	periodic.Run(ctx, s.cfg.CallbackKeyRefresh, func(ctx context.Context) {
		keys, err := s.Store.CallbackKeys(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Log.Warn("re-read callback keys", "err", err)
			}
			return
		}
		s.Signer.SetKeys(keys)
	})
}
