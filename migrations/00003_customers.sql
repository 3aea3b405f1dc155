-- +goose Up

-- Every job belongs to a customer; every read is scoped to the caller's.
ALTER TABLE jobs ADD COLUMN customer text NOT NULL DEFAULT 'dev';
ALTER TABLE jobs ALTER COLUMN customer DROP DEFAULT;

-- request_id is unique per customer, not globally.
DROP INDEX jobs_request_id_key;
CREATE UNIQUE INDEX jobs_customer_request_id_key ON jobs (customer, request_id)
    WHERE request_id IS NOT NULL;
DROP INDEX jobs_create_time_idx;
DROP INDEX jobs_status_create_time_idx;
CREATE INDEX jobs_customer_create_time_idx ON jobs (customer, create_time DESC, id DESC);
CREATE INDEX jobs_customer_status_create_time_idx ON jobs (customer, status, create_time DESC, id DESC);

-- API keys: shown once, stored only as a SHA-256 of their secret part (the secret is 256
-- random bits, so a slow hash adds nothing).
CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    customer    text NOT NULL,
    secret_hash bytea NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    revoke_time timestamptz
);
CREATE INDEX api_keys_customer_idx ON api_keys (customer);

-- +goose Down
DROP TABLE api_keys;
DROP INDEX jobs_customer_status_create_time_idx;
DROP INDEX jobs_customer_create_time_idx;
DROP INDEX jobs_customer_request_id_key;
CREATE UNIQUE INDEX jobs_request_id_key ON jobs (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX jobs_create_time_idx ON jobs (create_time DESC, id DESC);
CREATE INDEX jobs_status_create_time_idx ON jobs (status, create_time DESC, id DESC);
ALTER TABLE jobs DROP COLUMN customer;
