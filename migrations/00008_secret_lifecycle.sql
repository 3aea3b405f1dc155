-- +goose Up

-- At most two webhook secrets of a customer are valid at once (the current one and the one it
-- replaced). Older rotations left more: keep only the newest previous one.
UPDATE webhook_secrets w SET expire_time = now()
WHERE expire_time > now()
  AND id <> (SELECT max(p.id) FROM webhook_secrets p
             WHERE p.customer = w.customer AND p.expire_time > now());

-- The keys that sign provider callback tokens: the current one (expire_time NULL) and rotated
-- ones still accepted until expire_time. The value is sealed with the secrets key when there
-- is one.
CREATE TABLE callback_keys (
    id          bigserial PRIMARY KEY,
    key         bytea NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    expire_time timestamptz
);
CREATE UNIQUE INDEX callback_keys_current_key ON callback_keys ((true)) WHERE expire_time IS NULL;
INSERT INTO callback_keys (key, create_time)
SELECT value, create_time FROM server_secrets WHERE name = 'provider_callback_key';
DELETE FROM server_secrets WHERE name = 'provider_callback_key';

-- +goose Down
INSERT INTO server_secrets (name, value, create_time)
SELECT 'provider_callback_key', key, create_time FROM callback_keys WHERE expire_time IS NULL
ON CONFLICT (name) DO NOTHING;
DROP TABLE callback_keys;
