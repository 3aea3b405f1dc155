package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cenkalti/backoff/v5"

	"github.com/anonjob/anonjob/internal/telemetry"
)

// webhookPayload is the completion notification of the v1 protocol.
type webhookPayload struct {
	CustomerID       string `json:"customer_id"`
	FileID           string `json:"file_id"`
	FileStatus       string `json:"file_status"`
	OriginalLink     string `json:"original_link"`
	AnonymizedLink   string `json:"anonymized_link"`
	BinaryMaskLink   string `json:"binary_mask_link"`
	InstanceMaskLink string `json:"instance_mask_link"`
	MetadataLink     string `json:"metadata_link"`
	// Error says why a file failed (beyond the documented payload, which has no reason).
	Error string `json:"error,omitempty"`
}

func (e *Engine) payload(rec record) webhookPayload {
	base := strings.TrimRight(e.cfg.PublicURL, "/") + "/v1/file/" + rec.ID + "/"
	return webhookPayload{
		CustomerID: rec.CustomerID, FileID: rec.ID, FileStatus: rec.Status,
		OriginalLink:     base + "original",
		AnonymizedLink:   base + "anonymized",
		BinaryMaskLink:   base + "binary-mask",
		InstanceMaskLink: base + "instance-mask",
		MetadataLink:     base + "metadata",
		Error:            rec.Error,
	}
}

// deliver posts the webhook of a finished file, retrying with exponential
// backoff, and records whether it was sent. The URL is used exactly as the
// client gave it: its own query string usually carries the token that
// authenticates the call, since the payload is not signed.
func (e *Engine) deliver(id string) {
	rec, ok := e.store.get(id)
	if !ok || rec.WebhookURL == "" {
		return
	}
	body, err := json.Marshal(e.payload(rec))
	if err != nil {
		e.log.Error("encode webhook", "file_id", id, "err", err)
		return
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = e.cfg.WebhookInitialInterval
	ctx, span := telemetry.StartQueued(e.ctx, e.cfg.TracerProvider, rec.Traceparent, "engine webhook", telemetry.FileID(id))
	defer span.End()
	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		return struct{}{}, e.post(ctx, rec.WebhookURL, body)
	}, backoff.WithBackOff(b), backoff.WithMaxTries(e.cfg.WebhookAttempts), backoff.WithMaxElapsedTime(0))
	telemetry.Fail(span, err)
	if e.ctx.Err() != nil {
		return // closing: webhook_status stays "set" and the next start sends it
	}
	status := webhookSent
	if err != nil {
		status = webhookFailed
		e.log.Warn("webhook not delivered", "file_id", id, "err", err)
	}
	if _, err := e.store.update(id, func(r *record) { r.WebhookStatus = status }); err != nil {
		e.log.Info("webhook status not recorded", "file_id", id, "err", err)
	}
}

// post sends one attempt. A 4xx answer other than 408 and 429 is final:
// the receiver rejected the call and repeating it will not change that.
func (e *Engine) post(ctx context.Context, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return backoff.Permanent(fmt.Errorf("webhook request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "anonjob-engine")
	telemetry.Inject(ctx, req.Header) // anonjob continues the job's trace
	resp, err := e.cfg.WebhookClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook post: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return backoff.Permanent(fmt.Errorf("webhook answered %s", resp.Status))
	}
	return fmt.Errorf("webhook answered %s", resp.Status)
}
