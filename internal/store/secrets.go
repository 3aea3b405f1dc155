package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Secret returns the named server secret, creating it with size random bytes the first time.
// Every replica on the database gets the same value. It is sealed at rest with the store's box.
func (s *Store) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("generate secret: %w", err)
	}
	sealed, err := s.box.Seal(fresh, serverSecretContext(name))
	if err != nil {
		return nil, err
	}
	var v []byte
	err = s.pool.QueryRow(ctx, `
		WITH ins AS (
		    INSERT INTO server_secrets (name, value) VALUES (@name, @value)
		    ON CONFLICT (name) DO NOTHING RETURNING value
		)
		SELECT value FROM ins UNION ALL SELECT value FROM server_secrets WHERE name = @name
		LIMIT 1`, pgx.StrictNamedArgs{"name": name, "value": sealed}).Scan(&v)
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", name, err)
	}
	return s.box.Open(v, serverSecretContext(name))
}

func serverSecretContext(name string) string { return "server_secret\x00" + name }

const callbackKeyContext = "callback_key"

// CallbackKeys returns the keys that sign provider callback tokens, the current one first and
// then rotated ones still accepted; the first call on a database makes the current key.
func (s *Store) CallbackKeys(ctx context.Context) ([][]byte, error) {
	for range 2 {
		rows, err := s.pool.Query(ctx, `SELECT key FROM callback_keys
			WHERE expire_time IS NULL OR expire_time > now() ORDER BY expire_time IS NULL DESC, id DESC`)
		if err != nil {
			return nil, fmt.Errorf("read callback keys: %w", err)
		}
		stored, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			return nil, fmt.Errorf("read callback keys: %w", err)
		}
		if len(stored) > 0 {
			keys := make([][]byte, len(stored))
			for i, v := range stored {
				if keys[i], err = s.box.Open(v, callbackKeyContext); err != nil {
					return nil, fmt.Errorf("callback key: %w", err)
				}
			}
			return keys, nil
		}
		key, err := s.newCallbackKey()
		if err != nil {
			return nil, err
		}
		// A racing replica may win; then the next round reads its key.
		if _, err := s.pool.Exec(ctx, `INSERT INTO callback_keys (key) VALUES (@key)
			ON CONFLICT ((true)) WHERE expire_time IS NULL DO NOTHING`, pgx.StrictNamedArgs{"key": key}); err != nil {
			return nil, fmt.Errorf("create callback key: %w", err)
		}
	}
	return nil, errors.New("no callback key after creating one")
}

func (s *Store) newCallbackKey() ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate callback key: %w", err)
	}
	return s.box.Seal(key, callbackKeyContext)
}

// RotateCallbackKey makes a new current callback key. The previous one stays accepted for
// grace (tokens minted before the rotation keep working); older ones end now.
func (s *Store) RotateCallbackKey(ctx context.Context, grace time.Duration) error {
	key, err := s.newCallbackKey()
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE callback_keys IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE callback_keys SET expire_time = now() WHERE expire_time > now()`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE callback_keys SET expire_time = now() + @grace::interval
			WHERE expire_time IS NULL`, pgx.StrictNamedArgs{"grace": grace}); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO callback_keys (key) VALUES (@key)`, pgx.StrictNamedArgs{"key": key})
		return err
	})
	if err != nil {
		return fmt.Errorf("rotate callback key: %w", err)
	}
	return nil
}

// SealSecrets seals every secret still stored in clear (rows from before a secrets key was
// given) and returns how many it sealed. Without a box it does nothing. Each row is replaced
// only if unchanged, so replicas starting at once do no harm.
func (s *Store) SealSecrets(ctx context.Context) (int, error) {
	if !s.box.Enabled() {
		return 0, nil
	}
	n := 0
	type row struct {
		ID    int64  `db:"id"`
		Owner string `db:"owner"`
		Value []byte `db:"value"`
	}
	tables := []struct {
		read, write string
		context     func(owner string) string
	}{
		{`SELECT id, customer AS owner, convert_to(secret, 'UTF8') AS value FROM webhook_secrets
			WHERE secret NOT LIKE 'ajs1:%'`,
			`UPDATE webhook_secrets SET secret = convert_from(@sealed, 'UTF8')
			WHERE id = @id AND secret = convert_from(@clear, 'UTF8')`,
			webhookSecretContext},
		{`SELECT id, '' AS owner, key AS value FROM callback_keys WHERE position('ajs1:'::bytea IN key) <> 1`,
			`UPDATE callback_keys SET key = @sealed WHERE id = @id AND key = @clear`,
			func(string) string { return callbackKeyContext }},
	}
	for _, t := range tables {
		rows, err := s.pool.Query(ctx, t.read)
		if err != nil {
			return n, fmt.Errorf("read clear secrets: %w", err)
		}
		clear, err := pgx.CollectRows(rows, pgx.RowToStructByName[row])
		if err != nil {
			return n, fmt.Errorf("read clear secrets: %w", err)
		}
		for _, x := range clear {
			sealed, err := s.box.Seal(x.Value, t.context(x.Owner))
			if err != nil {
				return n, err
			}
			tag, err := s.pool.Exec(ctx, t.write, pgx.StrictNamedArgs{"id": x.ID, "sealed": sealed, "clear": x.Value})
			if err != nil {
				return n, fmt.Errorf("seal secret: %w", err)
			}
			n += int(tag.RowsAffected())
		}
	}
	return n, nil
}
