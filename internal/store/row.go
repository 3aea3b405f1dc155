package store

import (
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/anonjob/anonjob/internal/job"
)

// jobColumns is the select list of every query that returns jobs. Rows are scanned into jobRow
// by column name (pgx.RowToStructByName), so the order is free; a column missing from either
// side fails the scan of every such query, not just one field.
const jobColumns = `id, customer, status, revision, method, face, license_plate, person, vehicle,
	request_id, callback_url, content_type, input_size, provider_file_id, error_code,
	error_message, original_link, anonymized_link, binary_mask_link, instance_mask_link,
	metadata_link, create_time, update_time`

// jobRow is a jobs row as scanned from a query or decoded from an event's JSON snapshot
// (to_jsonb of the row, so the JSON keys are the column names).
type jobRow struct {
	ID               string    `db:"id" json:"id"`
	Customer         string    `db:"customer" json:"customer"`
	Status           string    `db:"status" json:"status"`
	Revision         int64     `db:"revision" json:"revision"`
	Method           string    `db:"method" json:"method"`
	Face             bool      `db:"face" json:"face"`
	LicensePlate     bool      `db:"license_plate" json:"license_plate"`
	Person           bool      `db:"person" json:"person"`
	Vehicle          bool      `db:"vehicle" json:"vehicle"`
	RequestID        *string   `db:"request_id" json:"request_id"`
	CallbackURL      *string   `db:"callback_url" json:"callback_url"`
	ContentType      string    `db:"content_type" json:"content_type"`
	InputSize        int64     `db:"input_size" json:"input_size"`
	ProviderFileID   *string   `db:"provider_file_id" json:"provider_file_id"`
	ErrorCode        *string   `db:"error_code" json:"error_code"`
	ErrorMessage     *string   `db:"error_message" json:"error_message"`
	OriginalLink     *string   `db:"original_link" json:"original_link"`
	AnonymizedLink   *string   `db:"anonymized_link" json:"anonymized_link"`
	BinaryMaskLink   *string   `db:"binary_mask_link" json:"binary_mask_link"`
	InstanceMaskLink *string   `db:"instance_mask_link" json:"instance_mask_link"`
	MetadataLink     *string   `db:"metadata_link" json:"metadata_link"`
	CreateTime       time.Time `db:"create_time" json:"create_time"`
	UpdateTime       time.Time `db:"update_time" json:"update_time"`
}

// collectJobs reads every row of a query selecting jobColumns.
func collectJobs(rows pgx.Rows) ([]job.Job, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (job.Job, error) {
		row, err := pgx.RowToStructByName[jobRow](r)
		return row.toJob(), err
	})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (r *jobRow) toJob() job.Job {
	j := job.Job{
		ID:       r.ID,
		Customer: r.Customer,
		Status:   job.Status(r.Status),
		Revision: r.Revision,
		Spec: job.Spec{
			Method: job.Method(r.Method),
			Targets: job.Targets{Face: r.Face, LicensePlate: r.LicensePlate, Person: r.Person,
				Vehicle: r.Vehicle},
			RequestID:   deref(r.RequestID),
			CallbackURL: deref(r.CallbackURL),
			ContentType: r.ContentType,
		},
		InputSize:      r.InputSize,
		ProviderFileID: deref(r.ProviderFileID),
		CreateTime:     r.CreateTime,
		UpdateTime:     r.UpdateTime,
	}
	if r.ErrorCode != nil || r.ErrorMessage != nil {
		j.Error = &job.Error{Code: deref(r.ErrorCode), Message: deref(r.ErrorMessage)}
	}
	res := job.Results{
		OriginalLink:     deref(r.OriginalLink),
		AnonymizedLink:   deref(r.AnonymizedLink),
		BinaryMaskLink:   deref(r.BinaryMaskLink),
		InstanceMaskLink: deref(r.InstanceMaskLink),
		MetadataLink:     deref(r.MetadataLink),
	}
	if res != (job.Results{}) {
		j.Results = &res
	}
	return j
}
