-- +goose Up

-- The W3C traceparent of the request that created the job, so the dispatcher's upload (and
-- what follows it at the engine and in its webhook) joins that trace. Null: not traced.
ALTER TABLE jobs ADD COLUMN trace_parent text;

-- +goose Down
ALTER TABLE jobs DROP COLUMN trace_parent;
