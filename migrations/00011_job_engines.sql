-- +goose Up

-- The engine that has a job (set with the claim that uploads to it), so that any replica sends
-- its downloads, polls, deletions and cancels there; and how often the job was handed over
-- from an engine that died.
ALTER TABLE jobs
    ADD COLUMN engine_id text,
    ADD COLUMN handovers integer NOT NULL DEFAULT 0;

CREATE INDEX jobs_engine_processing_idx ON jobs (engine_id) WHERE status = 'PROCESSING';

-- Files given up at an engine that died: the job went to another engine, and a late webhook
-- naming one of these is ignored.
CREATE TABLE job_abandoned_files (
    job_id       uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    file_id      text NOT NULL,
    engine_id    text NOT NULL,
    abandoned_at timestamptz NOT NULL DEFAULT now(),
    -- deleted at the engine once it answered again (or it no longer had the file)
    deleted      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (job_id, file_id)
);
CREATE INDEX job_abandoned_files_undeleted_idx ON job_abandoned_files (engine_id) WHERE NOT deleted;

-- +goose Down
DROP TABLE job_abandoned_files;
DROP INDEX jobs_engine_processing_idx;
ALTER TABLE jobs DROP COLUMN engine_id, DROP COLUMN handovers;
