package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/anonjob/anonjob/internal/job"
)

// Reads of what the engine pool records: which jobs an engine has, what became of the files
// given up at engines that died, and how a set of jobs stands. They answer an operator's
// questions (what does removing this engine lose, did the files given up get deleted) and the
// checks of the pool's guarantees.

// JobsAtEngine returns the ids of the jobs recorded at an engine in a status (status "": in
// any), least recently moved first, at most limit (0: no bound). Ended jobs keep their engine,
// since their result files are fetched from it: the DONE jobs at an engine are the ones whose
// files go with it when it is removed.
func (s *Store) JobsAtEngine(ctx context.Context, engineID string, status job.Status, limit int) ([]string, error) {
	rows, _ := s.pool.Query(ctx, `
		SELECT id::text FROM jobs
		WHERE engine_id = @engine AND (@status::text IS NULL OR status = @status::text)
		ORDER BY update_time, id LIMIT @limit`,
		pgx.StrictNamedArgs{"engine": engineID, "status": nullIfEmpty(string(status)), "limit": noBound(limit)})
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("jobs at engine %s: %w", engineID, err)
	}
	return ids, nil
}

// Abandonment is a file given up at an engine that died, and what became of it.
type Abandonment struct {
	AbandonedFile
	EngineID    string    `db:"engine_id"`
	AbandonedAt time.Time `db:"abandoned_at"`
	// Deleted: the file was deleted at the engine once it answered again, or it no longer had it.
	// Until then the engine may still hold the image and send late webhooks for it.
	Deleted bool `db:"deleted"`
}

// AbandonedQuery selects files given up. Empty fields match any.
type AbandonedQuery struct {
	JobID    string
	EngineID string
	Limit    int // 0: no bound
}

// Abandonments lists the files given up at engines that died, oldest first: those of a job
// (each handover of it gave one up), or those at an engine, deleted there or not.
func (s *Store) Abandonments(ctx context.Context, q AbandonedQuery) ([]Abandonment, error) {
	rows, _ := s.pool.Query(ctx, `
		SELECT job_id::text, file_id, engine_id, abandoned_at, deleted FROM job_abandoned_files
		WHERE (@job::uuid IS NULL OR job_id = @job::uuid) AND (@engine::text IS NULL OR engine_id = @engine::text)
		ORDER BY abandoned_at, job_id, file_id LIMIT @limit`,
		pgx.StrictNamedArgs{"job": nullIfEmpty(q.JobID), "engine": nullIfEmpty(q.EngineID), "limit": noBound(q.Limit)})
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Abandonment])
	if err != nil {
		return nil, fmt.Errorf("files given up: %w", err)
	}
	return out, nil
}

// CountByStatus counts the given jobs in each status: how a batch of jobs stands. An id no job
// has is not counted, and a status no job is in is absent.
func (s *Store) CountByStatus(ctx context.Context, ids []string) (map[job.Status]int, error) {
	type statusRow struct {
		Status string `db:"status"`
		Count  int    `db:"count"`
	}
	rows, _ := s.pool.Query(ctx, `
		SELECT status, count(*)::int AS count FROM jobs WHERE id = ANY(@ids::uuid[]) GROUP BY status`,
		pgx.StrictNamedArgs{"ids": ids})
	got, err := pgx.CollectRows(rows, pgx.RowToStructByName[statusRow])
	if err != nil {
		return nil, fmt.Errorf("count jobs by status: %w", err)
	}
	out := make(map[job.Status]int, len(got))
	for _, r := range got {
		out[job.Status(r.Status)] = r.Count
	}
	return out, nil
}

// noBound makes a limit of 0 a LIMIT NULL, which PostgreSQL reads as no limit.
func noBound(limit int) *int {
	if limit <= 0 {
		return nil
	}
	return &limit
}
