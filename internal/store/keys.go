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
	ID         string     `db:"id"`
	Customer   string     `db:"customer"`
	SecretHash []byte     `db:"secret_hash"` // nil from ListAPIKeys
	CreateTime time.Time  `db:"create_time"`
	RevokeTime *time.Time `db:"revoke_time"`
}

// ErrKeyNotFound means no key has that id.
var ErrKeyNotFound = errors.New("api key not found")

// InsertAPIKey stores a new key.
func (s *Store) InsertAPIKey(ctx context.Context, k APIKey) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, customer, secret_hash) VALUES (@id, @customer, @secret_hash)`,
		pgx.StrictNamedArgs{"id": k.ID, "customer": k.Customer, "secret_hash": k.SecretHash}); err != nil {
		return fmt.Errorf("insert api key: %w", err)
	}
	return nil
}

// APIKey returns a key by id, revoked or not.
func (s *Store) APIKey(ctx context.Context, id string) (APIKey, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id, customer, secret_hash, create_time, revoke_time FROM api_keys WHERE id = @id`,
		pgx.StrictNamedArgs{"id": id})
	k, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[APIKey])
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
	return pgx.CollectRows(rows, pgx.RowToStructByNameLax[APIKey])
}

// RevokeAPIKey revokes a key; revoking a revoked key is a no-op.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoke_time = COALESCE(revoke_time, now()) WHERE id = @id`,
		pgx.StrictNamedArgs{"id": id})
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrKeyNotFound
	}
	return nil
}
