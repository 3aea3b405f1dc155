package service

import (
	"context"
	"strings"
	"time"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/providerhook"
	"github.com/anonjob/anonjob/internal/store"
)

// applyAtOnce handles the common webhook, a job's end for its file at the engine, in one
// transaction that checks the file, moves the job and keeps the receipt together, without
// reading the job first. A webhook often comes before the dispatcher has recorded the upload
// it answers (a fast engine answers small images at once): the file is then recorded first,
// in the same transaction, if the job still has none and the file was not given up at a dead
// engine. ok is false when that did not apply (a bad payload, another file, a job already
// ended, a database error): apply then handles the webhook step by step, with everything that
// case needs.
func (s *WebhookServer) applyAtOnce(ctx context.Context, req *anonjobv1.HandleCelanturWebhookRequest, rec store.Receipt) (*anonjobv1.HandleCelanturWebhookResponse, bool) {
	p, err := providerhook.Parse(req.GetPayload().GetContentType(), req.GetPayload().GetData())
	if err != nil || p.FileID == "" {
		return nil, false
	}
	change, final, err := changeOf(p)
	if err != nil || !final {
		return nil, false
	}
	resp := &anonjobv1.HandleCelanturWebhookResponse{Outcome: anonjobv1.WebhookOutcome_WEBHOOK_OUTCOME_APPLIED}
	rec.FileID, rec.FileStatus, rec.Outcome = p.FileID, p.FileStatus, resp.GetOutcome().String()
	change.IfFileID, change.Receipt = p.FileID, &rec
	record := store.Change{To: job.StatusProcessing, ProviderFileID: p.FileID, IfNoFile: true,
		NextPollAt: time.Now().Add(s.pollAfter)}
	j, _, err := s.store.TransitionAfter(ctx, req.GetJobId(), record, change)
	if err != nil {
		return nil, false
	}
	s.log.InfoContext(ctx, "provider webhook", "job_id", j.ID, "file_status", p.FileStatus, "outcome", resp.GetOutcome().String())
	return resp, true
}

// changeOf is the move a webhook asks for; final is false for a status on the way (new,
// queued, processing), which moves nothing.
func changeOf(p providerhook.Payload) (c store.Change, final bool, err error) {
	switch p.FileStatus {
	case "done":
		return store.Change{To: job.StatusDone, Results: &job.Results{
			OriginalLink: p.OriginalLink, AnonymizedLink: p.AnonymizedLink,
			BinaryMaskLink: p.BinaryMaskLink, InstanceMaskLink: p.InstanceMaskLink,
			MetadataLink: p.MetadataLink,
		}}, true, nil
	case "failed":
		msg := "the anonymization engine reported file_status failed"
		if reason := strings.TrimSpace(p.Error); reason != "" {
			msg += ": " + truncate(reason, 500)
		}
		return store.Change{To: job.StatusFailed, Error: &job.Error{Code: "PROVIDER_FAILED", Message: msg}}, true, nil
	case "new", "queued", "processing":
		return store.Change{}, false, nil
	}
	return store.Change{}, false, invalidField("file_status", "INVALID_PAYLOAD",
		"must be one of new, queued, processing, done, failed")
}
