package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Delivery is one completion webhook owed to a client.
type Delivery struct {
	ID            string
	JobID         string
	Customer      string
	MessageID     string // webhook-id: the same on every attempt
	URL           string
	FileStatus    string // done, failed or cancelled
	State         string // PENDING, SUCCEEDED, FAILED
	Attempts      int
	NextAttemptAt time.Time
	CreateTime    time.Time
	UpdateTime    time.Time
	Log           []Attempt
}

// Attempt is one try at a delivery.
type Attempt struct {
	Time       time.Time
	StatusCode int // 0 when no response came
	Error      string
	Latency    time.Duration
}

const deliveryColumns = `id::text, job_id::text, customer, message_id, url, file_status, state, attempts,
	next_attempt_at, create_time, update_time`

func (d *Delivery) scanTargets() []any {
	return []any{&d.ID, &d.JobID, &d.Customer, &d.MessageID, &d.URL, &d.FileStatus, &d.State,
		&d.Attempts, &d.NextAttemptAt, &d.CreateTime, &d.UpdateTime}
}

// ClaimDeliveries leases up to limit due deliveries; SKIP LOCKED lets every replica's sender
// work at once, and the lease lapses if its holder dies mid-send.
func (s *Store) ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]Delivery, error) {
	rows, err := s.pool.Query(ctx, `
		UPDATE deliveries d SET attempts = d.attempts + 1, lease_until = now() + $2::interval
		FROM (
		    SELECT id FROM deliveries
		    WHERE state = 'PENDING' AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
		    ORDER BY next_attempt_at
		    FOR UPDATE SKIP LOCKED
		    LIMIT $1
		) due
		WHERE d.id = due.id
		RETURNING `+prefixed("d", deliveryColumns), limit, lease)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := r.Scan(d.scanTargets()...)
		return d, err
	})
}

// FinishAttempt logs an attempt and moves the delivery on: to state (SUCCEEDED or FAILED), or,
// when state is PENDING, to another attempt at next.
func (s *Store) FinishAttempt(ctx context.Context, id string, a Attempt, state string, next time.Time) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO delivery_attempts (delivery_id, attempt_time, status_code, error, latency_ms)
			VALUES ($1, $2, $3, $4, $5)`, id, a.Time, nullIfZero(a.StatusCode), nullIfEmpty(a.Error),
			a.Latency.Milliseconds()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			UPDATE deliveries SET state = $2, next_attempt_at = $3, lease_until = NULL, update_time = now()
			WHERE id = $1`, id, state, next)
		return err
	})
	if err != nil {
		return fmt.Errorf("record delivery attempt: %w", err)
	}
	return nil
}

// ReleaseDelivery gives a claimed delivery back uncounted, due at once: its attempt was cut
// off by a shutdown, not failed by the receiver.
func (s *Store) ReleaseDelivery(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE deliveries SET attempts = attempts - 1, lease_until = NULL,
		next_attempt_at = now() WHERE id = $1 AND state = 'PENDING'`, id); err != nil {
		return fmt.Errorf("release delivery: %w", err)
	}
	return nil
}

func nullIfZero(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

// JobDeliveries returns a customer's job's deliveries with their attempts, oldest first.
func (s *Store) JobDeliveries(ctx context.Context, customer, jobID string) ([]Delivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE job_id = $1 AND customer = $2 ORDER BY create_time, id`, jobID, customer)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := r.Scan(d.scanTargets()...)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	// All attempts of the job's deliveries in one read, not one per delivery.
	rows, err = s.pool.Query(ctx, `SELECT a.delivery_id::text, a.attempt_time, COALESCE(a.status_code, 0),
			COALESCE(a.error, ''), a.latency_ms
		FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
		WHERE d.job_id = $1 AND d.customer = $2 ORDER BY a.attempt_time, a.id`, jobID, customer)
	if err != nil {
		return nil, fmt.Errorf("list delivery attempts: %w", err)
	}
	defer rows.Close()
	index := make(map[string]int, len(out))
	for i, d := range out {
		index[d.ID] = i
	}
	for rows.Next() {
		var id string
		var a Attempt
		var ms int64
		if err := rows.Scan(&id, &a.Time, &a.StatusCode, &a.Error, &ms); err != nil {
			return nil, fmt.Errorf("scan delivery attempt: %w", err)
		}
		a.Latency = time.Duration(ms) * time.Millisecond
		if i, ok := index[id]; ok {
			out[i].Log = append(out[i].Log, a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list delivery attempts: %w", err)
	}
	return out, nil
}

// ErrNotDeliverable means the job has not ended, or has no callback_url.
var ErrNotDeliverable = errors.New("the job has no completion webhook to send: it has not ended or has no callback_url")

// Redeliver queues a new delivery (a new message) of a customer's ended job's webhook.
func (s *Store) Redeliver(ctx context.Context, customer, jobID string) (Delivery, error) {
	var d Delivery
	err := s.pool.QueryRow(ctx, `
		INSERT INTO deliveries (id, job_id, customer, message_id, url, file_status)
		SELECT gen_random_uuid(), id, customer, 'msg_' || replace(gen_random_uuid()::text, '-', ''),
		       callback_url, lower(status)
		FROM jobs WHERE id = $1 AND customer = $2 AND callback_url IS NOT NULL
		  AND status IN ('DONE', 'FAILED', 'CANCELLED')
		RETURNING `+deliveryColumns, jobID, customer).Scan(d.scanTargets()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return Delivery{}, ErrNotDeliverable
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("redeliver: %w", err)
	}
	return d, nil
}

// WebhookSecrets returns the customer's signing secrets that are still valid, newest first,
// creating one if there is none.
func (s *Store) WebhookSecrets(ctx context.Context, customer string, fresh func() string) ([]string, error) {
	for range 2 {
		rows, err := s.pool.Query(ctx, `SELECT secret FROM webhook_secrets
			WHERE customer = $1 AND (expire_time IS NULL OR expire_time > now()) ORDER BY id DESC`, customer)
		if err != nil {
			return nil, fmt.Errorf("read webhook secrets: %w", err)
		}
		stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("read webhook secrets: %w", err)
		}
		if len(stored) > 0 {
			secrets := make([]string, len(stored))
			for i, v := range stored {
				clear, err := s.box.Open([]byte(v), webhookSecretContext(customer))
				if err != nil {
					return nil, fmt.Errorf("webhook secret of %s: %w", customer, err)
				}
				secrets[i] = string(clear)
			}
			return secrets, nil
		}
		sealed, err := s.box.Seal([]byte(fresh()), webhookSecretContext(customer))
		if err != nil {
			return nil, err
		}
		// The customer's first webhook: make its secret (a racing replica may win; then read
		// the winner's).
		if _, err := s.pool.Exec(ctx, `
			INSERT INTO webhook_secrets (customer, secret) VALUES ($1, $2)
			ON CONFLICT (customer) WHERE expire_time IS NULL DO NOTHING`, customer, string(sealed)); err != nil {
			return nil, fmt.Errorf("create webhook secret: %w", err)
		}
	}
	return nil, errors.New("no webhook secret after creating one")
}

// webhookSecretContext binds a sealed webhook secret to its customer.
func webhookSecretContext(customer string) string { return "webhook_secret\x00" + customer }

// RotateWebhookSecret makes secret the customer's current one; the previous current secret
// stays valid for overlap, so both sign meanwhile. Any older previous secret ends now: at most
// two are valid at once.
func (s *Store) RotateWebhookSecret(ctx context.Context, customer, secret string, overlap time.Duration) error {
	sealed, err := s.box.Seal([]byte(secret), webhookSecretContext(customer))
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Rotations of one customer take turns, so two at once cannot leave three valid.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('webhook_secrets:' || $1, 0))`, customer); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_secrets SET expire_time = now()
			WHERE customer = $1 AND expire_time > now()`, customer); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_secrets SET expire_time = now() + $2::interval
			WHERE customer = $1 AND expire_time IS NULL`, customer, overlap); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO webhook_secrets (customer, secret) VALUES ($1, $2)`, customer, string(sealed))
		return err
	})
	if err != nil {
		return fmt.Errorf("rotate webhook secret: %w", err)
	}
	return nil
}

// RevokePreviousWebhookSecrets ends, now, every secret of the customer but the current one,
// and returns how many were still valid.
func (s *Store) RevokePreviousWebhookSecrets(ctx context.Context, customer string) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_secrets SET expire_time = now()
		WHERE customer = $1 AND expire_time > now()`, customer)
	if err != nil {
		return 0, fmt.Errorf("revoke previous webhook secret: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
