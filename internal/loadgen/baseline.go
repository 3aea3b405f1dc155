package loadgen

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

// Tables names the tables a raw insert writes, as SQL identifiers (quoted where needed).
type Tables struct {
	Jobs, Events string
	Seq          string // the revision sequence
}

// ServiceTables are the service's own tables, in the connection's search path.
func ServiceTables() Tables {
	return Tables{Jobs: "jobs", Events: "job_events", Seq: "job_revision_seq"}
}

// Inserter writes rows shaped like CreateJob's with no service in between: the baseline
// CreateJob's rate is compared with.
type Inserter struct {
	Pool      *pgxpool.Pool
	Tables    Tables
	InputSize int // the input_size recorded, the length of the image CreateJob would get
}

// Insert runs one transaction: a QUEUED job row and its CREATED event, sent as one batch (an
// implicit transaction, one round trip), as the store does.
func (in Inserter) Insert(ctx context.Context) error {
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("baseline job id: %w", err)
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	// A snapshot about the size of the real one (to_jsonb of the jobs row).
	snap := fmt.Sprintf(`{"id":%q,"status":"QUEUED","revision":0,"method":"blur","face":true,`+
		`"license_plate":false,"person":false,"vehicle":false,"request_id":null,"callback_url":null,`+
		`"content_type":"image/png","input_size":%d,"provider_file_id":null,"error_code":null,`+
		`"error_message":null,"original_link":null,"anonymized_link":null,"binary_mask_link":null,`+
		`"instance_mask_link":null,"metadata_link":null,"create_time":%q,"update_time":%q,`+
		`"customer":"baseline"}`,
		id, in.InputSize, now, now)
	t := in.Tables
	batch := &pgx.Batch{}
	batch.Queue(`INSERT INTO `+t.Jobs+` (id, status, revision, method, face, license_plate, person,
		vehicle, content_type, input_size, customer)
		VALUES ($1, 'QUEUED', nextval('`+t.Seq+`'), 'blur', true, false, false, false, 'image/png', $2,
		'baseline')`,
		id, in.InputSize)
	batch.Queue(`INSERT INTO `+t.Events+` (revision, job_id, type, job)
		VALUES (currval('`+t.Seq+`'), $1, 'CREATED', $2::jsonb)`, id, snap)
	if err := in.Pool.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("baseline insert: %w", err)
	}
	return nil
}

// Connect opens a pool of conns connections (a copy of cfg with both bounds set to conns), one
// per worker, so that connection setup is not counted as insert cost.
func Connect(ctx context.Context, cfg *pgxpool.Config, conns int) (*pgxpool.Pool, error) {
	cfg = cfg.Copy()
	cfg.MaxConns = int32(conns)
	cfg.MinConns = int32(conns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect baseline database: %w", err)
	}
	return pool, nil
}

// Scratch is an Inserter into scratch copies of the service's tables, in a schema of its own:
// the same columns, constraints and indexes, so the rate is what the schema allows, while the
// service's history and its watchers are untouched.
type Scratch struct {
	Inserter
	schema string
}

// OpenScratch connects with conns connections to anonjobd's database and creates the scratch
// tables there. Close drops them.
func OpenScratch(ctx context.Context, cfg *pgxpool.Config, conns, inputSize int) (*Scratch, error) {
	pool, err := Connect(ctx, cfg, conns)
	if err != nil {
		return nil, err
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	schema := "anonjob_load_" + hex.EncodeToString(suffix)
	s := &Scratch{
		Inserter: Inserter{Pool: pool, InputSize: inputSize, Tables: Tables{
			Jobs:   pgx.Identifier{schema, "jobs"}.Sanitize(),
			Events: pgx.Identifier{schema, "job_events"}.Sanitize(),
			Seq:    pgx.Identifier{schema, "revision_seq"}.Sanitize(),
		}},
		schema: schema,
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
			pgx.Identifier{schema}.Sanitize(), s.Tables.Jobs, s.Tables.Events, s.Tables.Seq))
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("prepare baseline tables: %w", err)
	}
	return s, nil
}

// Close drops the scratch tables and disconnects.
func (s *Scratch) Close(ctx context.Context) error {
	defer s.Pool.Close()
	if _, err := s.Pool.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{s.schema}.Sanitize()+` CASCADE`); err != nil {
		return fmt.Errorf("drop baseline tables: %w", err)
	}
	return nil
}
