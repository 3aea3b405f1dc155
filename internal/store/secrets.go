package store

import (
	"context"
	"crypto/rand"
	"fmt"
)

// Secret returns the named server secret, creating it with size random bytes the first time.
// Every replica on the database gets the same value.
func (s *Store) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("generate secret: %w", err)
	}
	var v []byte
	err := s.pool.QueryRow(ctx, `
		WITH ins AS (
		    INSERT INTO server_secrets (name, value) VALUES ($1, $2)
		    ON CONFLICT (name) DO NOTHING RETURNING value
		)
		SELECT value FROM ins UNION ALL SELECT value FROM server_secrets WHERE name = $1
		LIMIT 1`, name, fresh).Scan(&v)
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", name, err)
	}
	return v, nil
}
