-- +goose Up

-- Real revisions start at 2, so every position a client is handed (a list's, a heartbeat's)
-- is at least 1: since_revision=0 means "from now" and must never be a position.
SELECT setval('job_revision_seq',
    GREATEST(1, (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM job_revision_seq)));

-- +goose Down
SELECT 1;
