-- +goose Up

-- Retention finds the ended jobs older than its cutoff without reading the live ones.
CREATE INDEX jobs_ended_update_time_idx ON jobs (update_time)
    WHERE status IN ('DONE', 'FAILED', 'CANCELLED');

-- +goose Down
DROP INDEX jobs_ended_update_time_idx;
