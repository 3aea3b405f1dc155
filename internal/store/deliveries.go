package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Delivery is one completion webhook owed to a client. Rows of deliveryColumns scan into it by
// column name.
type Delivery struct {
	ID            string    `db:"id"`
	JobID         string    `db:"job_id"`
	Customer      string    `db:"customer"`
	MessageID     string    `db:"message_id"` // webhook-id: the same on every attempt
	URL           string    `db:"url"`
	FileStatus    string    `db:"file_status"` // done, failed or cancelled
	State         string    `db:"state"`       // PENDING, SUCCEEDED, FAILED
	Attempts      int       `db:"attempts"`
	NextAttemptAt time.Time `db:"next_attempt_at"`
	CreateTime    time.Time `db:"create_time"`
	UpdateTime    time.Time `db:"update_time"`
	Log           []Attempt `db:"-"`
}

// Attempt is one try at a delivery.
type Attempt struct {
	Time       time.Time
	StatusCode int // 0 when no response came
	Error      string
	Latency    time.Duration
}

// deliveryColumns is the select list of every query that returns deliveries.
const deliveryColumns = `id, job_id, customer, message_id, url, file_status, state, attempts,
	next_attempt_at, create_time, update_time`

// ClaimDeliveries leases up to limit due deliveries; SKIP LOCKED lets every replica's sender
// work at once, and the lease lapses if its holder dies mid-send.
func (s *Store) ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]Delivery, error) {
	rows, _ := s.pool.Query(ctx, `
		UPDATE deliveries d SET attempts = d.attempts + 1, lease_until = now() + @lease::interval
		FROM (
		    SELECT id AS due_id FROM deliveries
		    WHERE state = 'PENDING' AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
		    ORDER BY next_attempt_at
		    FOR UPDATE SKIP LOCKED
		    LIMIT @limit
		) due
		WHERE d.id = due.due_id
		RETURNING `+deliveryColumns, pgx.StrictNamedArgs{"limit": limit, "lease": lease})
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Delivery])
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return out, nil
}

// FinishAttempt logs an attempt and moves the delivery on: to state (SUCCEEDED or FAILED), or,
// when state is PENDING, to another attempt at next.
func (s *Store) FinishAttempt(ctx context.Context, id string, a Attempt, state string, next time.Time) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO delivery_attempts (delivery_id, attempt_time, status_code, error, latency_ms)
			VALUES (@id, @time, @status_code, @error, @latency_ms)`, pgx.StrictNamedArgs{
			"id":          id,
			"time":        a.Time,
			"status_code": nullIfZero(a.StatusCode),
			"error":       nullIfEmpty(a.Error),
			"latency_ms":  a.Latency.Milliseconds(),
		}); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			UPDATE deliveries SET state = @state, next_attempt_at = @next, lease_until = NULL, update_time = now()
			WHERE id = @id`, pgx.StrictNamedArgs{"id": id, "state": state, "next": next})
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
		next_attempt_at = now() WHERE id = @id AND state = 'PENDING'`, pgx.StrictNamedArgs{"id": id}); err != nil {
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
	args := pgx.StrictNamedArgs{"job_id": jobID, "customer": customer}
	rows, _ := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE job_id = @job_id AND customer = @customer ORDER BY create_time, id`, args)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Delivery])
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	// All attempts of the job's deliveries in one read, not one per delivery.
	type attemptRow struct {
		DeliveryID string    `db:"delivery_id"`
		Time       time.Time `db:"attempt_time"`
		StatusCode int       `db:"status_code"`
		Error      string    `db:"error"`
		LatencyMS  int64     `db:"latency_ms"`
	}
	rows, _ = s.pool.Query(ctx, `
		SELECT a.delivery_id, a.attempt_time, COALESCE(a.status_code, 0) AS status_code,
		       COALESCE(a.error, '') AS error, a.latency_ms
		FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
		WHERE d.job_id = @job_id AND d.customer = @customer ORDER BY a.attempt_time, a.id`, args)
	attempts, err := pgx.CollectRows(rows, pgx.RowToStructByName[attemptRow])
	if err != nil {
		return nil, fmt.Errorf("list delivery attempts: %w", err)
	}
	index := make(map[string]int, len(out))
	for i, d := range out {
		index[d.ID] = i
	}
	for _, a := range attempts {
		if i, ok := index[a.DeliveryID]; ok {
			out[i].Log = append(out[i].Log, Attempt{Time: a.Time, StatusCode: a.StatusCode, Error: a.Error,
				Latency: time.Duration(a.LatencyMS) * time.Millisecond})
		}
	}
	return out, nil
}

// ErrNotDeliverable means the job has not ended, or has no callback_url.
var ErrNotDeliverable = errors.New("the job has no completion webhook to send: it has not ended or has no callback_url")

// Redeliver queues a new delivery (a new message) of a customer's ended job's webhook.
func (s *Store) Redeliver(ctx context.Context, customer, jobID string) (Delivery, error) {
	rows, _ := s.pool.Query(ctx, `
		WITH ended AS (
		    SELECT id, customer, callback_url, status FROM jobs WHERE id = @job_id AND customer = @customer
		)`+enqueueDeliveries+`
		RETURNING `+deliveryColumns, pgx.StrictNamedArgs{"job_id": jobID, "customer": customer})
	d, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[Delivery])
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
			WHERE customer = @customer AND (expire_time IS NULL OR expire_time > now()) ORDER BY id DESC`,
			pgx.StrictNamedArgs{"customer": customer})
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
			INSERT INTO webhook_secrets (customer, secret) VALUES (@customer, @secret)
			ON CONFLICT (customer) WHERE expire_time IS NULL DO NOTHING`,
			pgx.StrictNamedArgs{"customer": customer, "secret": string(sealed)}); err != nil {
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
	args := pgx.StrictNamedArgs{"customer": customer}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Rotations of one customer take turns, so two at once cannot leave three valid.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('webhook_secrets:' || @customer, 0))`, args); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, endPreviousWebhookSecrets, args); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_secrets SET expire_time = now() + @overlap::interval
			WHERE customer = @customer AND expire_time IS NULL`,
			pgx.StrictNamedArgs{"customer": customer, "overlap": overlap}); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO webhook_secrets (customer, secret) VALUES (@customer, @secret)`,
			pgx.StrictNamedArgs{"customer": customer, "secret": string(sealed)})
		return err
	})
	if err != nil {
		return fmt.Errorf("rotate webhook secret: %w", err)
	}
	return nil
}

// endPreviousWebhookSecrets ends now every secret of the customer that is valid but not current.
const endPreviousWebhookSecrets = `UPDATE webhook_secrets SET expire_time = now()
	WHERE customer = @customer AND expire_time > now()`

// RevokePreviousWebhookSecrets ends, now, every secret of the customer but the current one,
// and returns how many were still valid.
func (s *Store) RevokePreviousWebhookSecrets(ctx context.Context, customer string) (int, error) {
	tag, err := s.pool.Exec(ctx, endPreviousWebhookSecrets, pgx.StrictNamedArgs{"customer": customer})
	if err != nil {
		return 0, fmt.Errorf("revoke previous webhook secret: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
