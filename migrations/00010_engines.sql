-- +goose Up

-- The engines every replica shares: an in-process engine registers itself under its public URL,
-- external ones come from --provider-url or `anonjobd engines add`. Any replica that reaches an
-- engine records the heartbeat; one unheard for --engine-dead-after gets no new work and its
-- jobs go to another.
CREATE TABLE engines (
    id             text PRIMARY KEY,
    base_url       text NOT NULL UNIQUE,
    kind           text NOT NULL CHECK (kind IN ('built-in', 'hosted')),
    capacity       integer NOT NULL DEFAULT 0, -- as the engine tells it (or --provider-concurrency); 0 unknown
    state          text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'draining')),
    -- The replica whose process runs the engine (NULL for external engines), and the host it
    -- runs on: a loopback URL is reachable only from that host.
    replica_id     text,
    host           text,
    username       text NOT NULL DEFAULT '',
    secret         bytea,                      -- password or token, sealed with the secrets key
    secret_is_token boolean NOT NULL DEFAULT false,
    last_heartbeat timestamptz,
    create_time    timestamptz NOT NULL DEFAULT now(),
    update_time    timestamptz NOT NULL DEFAULT now()
);

-- Replicas that dispatch, with their host: an in-process engine may register a loopback URL
-- only while every live replica shares its host.
CREATE TABLE replicas (
    id        text PRIMARY KEY,
    host      text NOT NULL,
    last_seen timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE replicas;
DROP TABLE engines;
