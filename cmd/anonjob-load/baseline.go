package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// baseline inserts rows shaped like CreateJob's into scratch copies of the service's tables:
// the same columns, constraints and indexes, so the rate is what the schema allows with no
// service in between.
type baseline struct {
	pool   *pgxpool.Pool
	schema string
	jobs   string // qualified, quoted table names
	events string
	seq    string
}

// openBaseline connects with one connection per worker and creates the scratch tables.
func openBaseline(ctx context.Context, url string, workers int) (*baseline, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("--baseline-database-url: %w", err)
	}
	cfg.MaxConns = int32(workers)
	cfg.MinConns = int32(workers) // connect up front: connection setup is not insert cost
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect baseline database: %w", err)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	schema := "anonjob_load_" + hex.EncodeToString(suffix)
	b := &baseline{
		pool:   pool,
		schema: schema,
		jobs:   pgx.Identifier{schema, "jobs"}.Sanitize(),
		events: pgx.Identifier{schema, "job_events"}.Sanitize(),
		seq:    pgx.Identifier{schema, "revision_seq"}.Sanitize(),
	}
	var present bool
	err = pool.QueryRow(ctx, `SELECT to_regclass('public.jobs') IS NOT NULL AND
		to_regclass('public.job_events') IS NOT NULL`).Scan(&present)
	if err == nil && !present {
		err = errors.New("no jobs and job_events tables: point it at anonjobd's database")
	}
	if err == nil {
		_, err = pool.Exec(ctx, fmt.Sprintf(`
			CREATE SCHEMA %s;
			CREATE TABLE %s (LIKE public.jobs INCLUDING ALL);
			CREATE TABLE %s (LIKE public.job_events INCLUDING ALL);
			CREATE SEQUENCE %s AS bigint CACHE 1;`,
			pgx.Identifier{schema}.Sanitize(), b.jobs, b.events, b.seq))
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("prepare baseline tables: %w", err)
	}
	return b, nil
}

// insert runs one transaction: a QUEUED job row and its CREATED event, sent as one batch (an
// implicit transaction, one round trip), as the store does.
func (b *baseline) insert(ctx context.Context) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	// A snapshot about the size of the real one (to_jsonb of the jobs row).
	snap := fmt.Sprintf(`{"id":%q,"status":"QUEUED","revision":0,"method":"blur","face":true,`+
		`"license_plate":false,"person":false,"vehicle":false,"request_id":null,"callback_url":null,`+
		`"content_type":"image/png","input_size":%d,"provider_file_id":null,"error_code":null,`+
		`"error_message":null,"original_link":null,"anonymized_link":null,"binary_mask_link":null,`+
		`"instance_mask_link":null,"metadata_link":null,"create_time":%q,"update_time":%q}`,
		id, len(tinyPNG), now, now)
	batch := &pgx.Batch{}
	batch.Queue(`INSERT INTO `+b.jobs+` (id, status, revision, method, face, license_plate, person,
		vehicle, content_type, input_size)
		VALUES ($1, 'QUEUED', nextval('`+b.seq+`'), 'blur', true, false, false, false, 'image/png', $2)`,
		id, len(tinyPNG))
	batch.Queue(`INSERT INTO `+b.events+` (revision, job_id, type, job)
		VALUES (currval('`+b.seq+`'), $1, 'CREATED', $2::jsonb)`, id, snap)
	if err := b.pool.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("baseline insert: %w", err)
	}
	return nil
}

// close drops the scratch tables and disconnects.
func (b *baseline) close(ctx context.Context) error {
	defer b.pool.Close()
	if _, err := b.pool.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{b.schema}.Sanitize()+` CASCADE`); err != nil {
		return fmt.Errorf("drop baseline tables: %w", err)
	}
	return nil
}
