package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// APIKey is a stored key: who it belongs to and the hash of its secret.
type APIKey struct {
	ID         string
	Customer   string
	SecretHash []byte
	CreateTime time.Time
	RevokeTime *time.Time
}

// ErrKeyNotFound means no key has that id.
var ErrKeyNotFound = errors.New("api key not found")

// InsertAPIKey stores a new key.
func (s *Store) InsertAPIKey(ctx context.Context, k APIKey) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, customer, secret_hash) VALUES ($1, $2, $3)`,
		k.ID, k.Customer, k.SecretHash); err != nil {
		return fmt.Errorf("insert api key: %w", err)
	}
	return nil
}

// APIKey returns a key by id, revoked or not.
func (s *Store) APIKey(ctx context.Context, id string) (APIKey, error) {
	var k APIKey
	err := s.pool.QueryRow(ctx, `SELECT id, customer, secret_hash, create_time, revoke_time FROM api_keys WHERE id = $1`, id).
		Scan(&k.ID, &k.Customer, &k.SecretHash, &k.CreateTime, &k.RevokeTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, ErrKeyNotFound
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("read api key: %w", err)
	}
	return k, nil
}

// ListAPIKeys returns every key, oldest first, without their hashes.
func (s *Store) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, customer, create_time, revoke_time FROM api_keys ORDER BY create_time, id`)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) {
		var k APIKey
		err := r.Scan(&k.ID, &k.Customer, &k.CreateTime, &k.RevokeTime)
		return k, err
	})
}

// RevokeAPIKey revokes a key; revoking a revoked key is a no-op.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoke_time = COALESCE(revoke_time, now()) WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrKeyNotFound
	}
	return nil
}
