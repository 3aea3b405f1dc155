package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// StoredReceipt is a provider webhook as kept for audit.
type StoredReceipt struct {
	Receipt
	ReceiveTime time.Time
}

// Receipts returns the provider webhooks received for a job, oldest first: the audit trail of
// what the engine told anonjob about it.
func (s *Store) Receipts(ctx context.Context, jobID string) ([]StoredReceipt, error) {
	type receiptRow struct {
		JobID       string    `db:"job_id"`
		ContentType string    `db:"content_type"`
		Payload     []byte    `db:"payload"`
		FileID      *string   `db:"file_id"`
		FileStatus  *string   `db:"file_status"`
		Outcome     string    `db:"outcome"`
		Detail      *string   `db:"detail"`
		ReceivedAt  time.Time `db:"received_at"`
	}
	rows, _ := s.pool.Query(ctx, `
		SELECT job_id, content_type, payload, file_id, file_status, outcome, detail, received_at
		FROM webhook_receipts WHERE job_id = @job_id ORDER BY received_at, id`,
		pgx.StrictNamedArgs{"job_id": jobID})
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredReceipt, error) {
		x, err := pgx.RowToStructByName[receiptRow](r)
		return StoredReceipt{Receipt: Receipt{JobID: x.JobID, ContentType: x.ContentType, Payload: x.Payload,
			FileID: deref(x.FileID), FileStatus: deref(x.FileStatus), Outcome: x.Outcome,
			Detail: deref(x.Detail)}, ReceiveTime: x.ReceivedAt}, err
	})
	if err != nil {
		return nil, fmt.Errorf("read webhook receipts: %w", err)
	}
	return out, nil
}
