-- +goose Up

-- Dispatch bookkeeping. Leases and schedules are not job changes a client sees, so they carry
-- no revision and no event.
ALTER TABLE jobs
    ADD COLUMN attempts        integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN lease_until     timestamptz,
    ADD COLUMN last_attempt_error text,
    ADD COLUMN polls           integer NOT NULL DEFAULT 0,
    ADD COLUMN next_poll_at    timestamptz;

CREATE INDEX jobs_dispatch_idx ON jobs (next_attempt_at, create_time) WHERE status = 'QUEUED';
CREATE INDEX jobs_reconcile_idx ON jobs (next_poll_at) WHERE status = 'PROCESSING';

-- Every provider webhook whose token checked out, as received, with what it did.
CREATE TABLE webhook_receipts (
    id           bigserial PRIMARY KEY,
    job_id       uuid NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    content_type text NOT NULL,
    payload      bytea NOT NULL,
    file_id      text,
    file_status  text,
    outcome      text NOT NULL,
    detail       text
);
CREATE INDEX webhook_receipts_job_idx ON webhook_receipts (job_id, received_at);

-- +goose Down
DROP TABLE webhook_receipts;
DROP INDEX jobs_reconcile_idx;
DROP INDEX jobs_dispatch_idx;
ALTER TABLE jobs
    DROP COLUMN attempts, DROP COLUMN next_attempt_at, DROP COLUMN lease_until,
    DROP COLUMN last_attempt_error, DROP COLUMN polls, DROP COLUMN next_poll_at;
