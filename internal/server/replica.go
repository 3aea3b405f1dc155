package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
)

// ReplicaIDFile is where, on the embedded database, a replica keeps the id its claims are
// recorded under, so that after a crash the restarted process knows them as its own.
const ReplicaIDFile = "replica-id"

// replicaID settles this process's replica id: the configured one; else, on the embedded
// database (whose data dir only one process can use), the one kept in the data dir; else one
// made up for this run, whose claims a restart cannot recognise (their leases run out).
func (s *Server) replicaID() (string, error) {
	if id := strings.TrimSpace(s.cfg.ReplicaID); id != "" {
		return id, nil
	}
	if s.embedded == nil {
		// Several replicas may share a data dir with an external database: an id kept there
		// could be two processes' at once, and each would release the other's live claims.
		return "anonjobd-" + uuid.NewString(), nil
	}
	path := filepath.Join(s.cfg.DataDir, ReplicaIDFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil && strings.TrimSpace(string(b)) != "":
		return strings.TrimSpace(string(b)), nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	id := "anonjobd-" + uuid.NewString()
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return id, nil
}

// releaseOwnClaims gives back the claims this replica held when it last stopped without
// settling them (a crash, a kill -9), so that its jobs go again now rather than when their
// leases run out.
func (s *Server) releaseOwnClaims(ctx context.Context) error {
	n, err := s.Store.ReleaseClaimsOf(ctx, s.cfg.ReplicaID)
	if err != nil {
		return err
	}
	if n > 0 {
		s.cfg.Log.Warn("released the claims this replica held when it stopped", "replica_id", s.cfg.ReplicaID, "jobs", n)
	}
	return nil
}

// DatabasePID is the process id of the embedded PostgreSQL, or 0 with an external database:
// for operators' tools and fault tests.
func (s *Server) DatabasePID() int {
	if s.embedded == nil {
		return 0
	}
	return s.embedded.PID()
}
