-- +goose Up

-- Signing secrets of the customers' completion webhooks. A rotated-out secret keeps signing
-- until expire_time, so receivers can switch over without dropping a message.
CREATE TABLE webhook_secrets (
    id          bigserial PRIMARY KEY,
    customer    text NOT NULL,
    secret      text NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    expire_time timestamptz
);
CREATE UNIQUE INDEX webhook_secrets_current_key ON webhook_secrets (customer) WHERE expire_time IS NULL;

-- The outbox: one row per completion webhook owed to a client, written in the transaction
-- that ends the job, so a crash between commit and send loses nothing.
CREATE TABLE deliveries (
    id              uuid PRIMARY KEY,
    job_id          uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    customer        text NOT NULL,
    message_id      text NOT NULL,
    url             text NOT NULL,
    file_status     text NOT NULL,
    state           text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'SUCCEEDED', 'FAILED')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    create_time     timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE state = 'PENDING';
CREATE INDEX deliveries_job_idx ON deliveries (job_id, create_time);

-- Every attempt, for the delivery log.
CREATE TABLE delivery_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  uuid NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt_time timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    error        text,
    latency_ms   integer NOT NULL
);
CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, attempt_time);

-- +goose Down
DROP TABLE delivery_attempts;
DROP TABLE deliveries;
DROP TABLE webhook_secrets;
