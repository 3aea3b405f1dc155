-- +goose Up

-- Revisions of all job changes. CACHE 1 (the default) matters: a per-session cache would hand
-- out values far out of time order across sessions.
CREATE SEQUENCE job_revision_seq AS bigint CACHE 1;

CREATE TABLE jobs (
    id                 uuid PRIMARY KEY,
    status             text NOT NULL
                       CHECK (status IN ('QUEUED', 'PROCESSING', 'DONE', 'FAILED', 'CANCELLED')),
    revision           bigint NOT NULL,
    method             text NOT NULL CHECK (method IN ('blur', 'pixelate', 'blacken', 'detect')),
    face               boolean NOT NULL,
    license_plate      boolean NOT NULL,
    person             boolean NOT NULL,
    vehicle            boolean NOT NULL,
    request_id         text,
    request_hash       bytea,
    callback_url       text,
    content_type       text NOT NULL,
    input_size         bigint NOT NULL,
    provider_file_id   text,
    error_code         text,
    error_message      text,
    original_link      text,
    anonymized_link    text,
    binary_mask_link   text,
    instance_mask_link text,
    metadata_link      text,
    create_time        timestamptz NOT NULL DEFAULT now(),
    update_time        timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX jobs_request_id_key ON jobs (request_id) WHERE request_id IS NOT NULL;
CREATE UNIQUE INDEX jobs_provider_file_id_key ON jobs (provider_file_id)
    WHERE provider_file_id IS NOT NULL;
-- ListJobs pages newest first, optionally by status.
CREATE INDEX jobs_create_time_idx ON jobs (create_time DESC, id DESC);
CREATE INDEX jobs_status_create_time_idx ON jobs (status, create_time DESC, id DESC);

-- The submitted image, kept apart so that job reads never drag it along.
CREATE TABLE job_inputs (
    job_id uuid PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    data   bytea NOT NULL
);
ALTER TABLE job_inputs ALTER COLUMN data SET STORAGE EXTERNAL; -- images do not compress

-- Append-only history: one row per committed change, with the job as it was after it.
CREATE TABLE job_events (
    revision        bigint PRIMARY KEY,
    job_id          uuid NOT NULL,
    type            text NOT NULL CHECK (type IN ('CREATED', 'STATUS_CHANGED', 'UPDATED')),
    previous_status text,
    job             jsonb NOT NULL,
    create_time     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_events_create_time_idx ON job_events (create_time);

-- How far the event history has been pruned; watchers asking for older revisions must re-list.
CREATE TABLE watch_history (
    singleton          boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    compacted_revision bigint NOT NULL DEFAULT 0
);
INSERT INTO watch_history DEFAULT VALUES;

-- Secrets shared by every replica, such as the key that signs provider callback URLs.
CREATE TABLE server_secrets (
    name        text PRIMARY KEY,
    value       bytea NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE server_secrets;
DROP TABLE watch_history;
DROP TABLE job_events;
DROP TABLE job_inputs;
DROP TABLE jobs;
DROP SEQUENCE job_revision_seq;
