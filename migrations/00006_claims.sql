-- +goose Up

-- Who holds a job's claim (a replica id), so that a replica restarting after a crash can give
-- back at once the claims it held, instead of leaving them to run out; and when an upload was
-- last begun and not yet settled, so that the next claimer knows an earlier upload's outcome
-- is unknown.
ALTER TABLE jobs
    ADD COLUMN claimed_by      text,
    ADD COLUMN upload_began_at timestamptz;

CREATE INDEX jobs_claimed_by_idx ON jobs (claimed_by) WHERE claimed_by IS NOT NULL;

-- +goose Down
DROP INDEX jobs_claimed_by_idx;
ALTER TABLE jobs DROP COLUMN claimed_by, DROP COLUMN upload_began_at;
