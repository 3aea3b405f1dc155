package clientwebhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/anonjob/anonjob/internal/grace"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/stdwebhooks"
	"github.com/anonjob/anonjob/internal/store"
)

// payload is the provider's v1 webhook shape, with anonjob's own file links.
type payload struct {
	CustomerID       string     `json:"customer_id"`
	FileID           string     `json:"file_id"`
	FileStatus       string     `json:"file_status"`
	OriginalLink     string     `json:"original_link,omitempty"`
	AnonymizedLink   string     `json:"anonymized_link,omitempty"`
	BinaryMaskLink   string     `json:"binary_mask_link,omitempty"`
	InstanceMaskLink string     `json:"instance_mask_link,omitempty"`
	MetadataLink     string     `json:"metadata_link,omitempty"`
	Error            *job.Error `json:"error,omitempty"`
}

func (s *Sender) body(j job.Job, fileStatus string) ([]byte, error) {
	p := payload{CustomerID: j.Customer, FileID: j.ID, FileStatus: fileStatus, Error: j.Error}
	if fileStatus == "done" {
		link := func(kind string) string { return job.FileURL(s.cfg.PublicURL, j.ID, kind) }
		p.OriginalLink, p.AnonymizedLink = link("original"), link("anonymized")
		p.BinaryMaskLink, p.InstanceMaskLink, p.MetadataLink = link("binary-mask"), link("instance-mask"), link("metadata")
	}
	return json.Marshal(p)
}

// deliver makes one attempt and records it.
func (s *Sender) deliver(ctx context.Context, d store.Delivery) {
	log := s.log.With("delivery_id", d.ID, "job_id", d.JobID, "attempt", d.Attempts)
	start := time.Now()
	// Recording the attempt outlives a shutdown, within the grace period.
	rctx, cancelRecord := grace.Context(ctx, s.cfg.Grace)
	defer cancelRecord()
	sctx, cancel := grace.Context(ctx, s.cfg.Grace*3/4)
	defer cancel()
	code, retryAfter, err := s.send(sctx, d)
	if err != nil && sctx.Err() != nil {
		// Cut off by shutdown: not the receiver's failure, so it costs no attempt.
		if err := s.store.ReleaseDelivery(rctx, d.ID); err != nil {
			log.Warn("release delivery", "err", err)
		}
		return
	}
	a := store.Attempt{Time: start, StatusCode: code, Latency: time.Since(start), Error: classify(code, err)}
	if err != nil && a.Error == classInternal {
		log.Warn("client webhook not sent", "err", err) // ours, not the receiver's: in our log only
	}
	state, next := s.next(d.Attempts, code, retryAfter, time.Now())
	if err := s.store.FinishAttempt(rctx, d.ID, a, state, next); err != nil {
		log.Error("record delivery attempt", "err", err)
		return
	}
	s.cfg.Metrics.observe(state, code, a.Latency)
	log.Info("client webhook attempt", "status_code", code, "error", a.Error, "state", state, "next_attempt", next)
}

func (s *Sender) send(ctx context.Context, d store.Delivery) (code int, retryAfter time.Duration, err error) {
	j, err := s.store.GetJob(ctx, d.JobID)
	if err != nil {
		return 0, 0, fmt.Errorf("read job: %w", err)
	}
	body, err := s.body(j, d.FileStatus)
	if err != nil {
		return 0, 0, fmt.Errorf("encode payload: %w", err)
	}
	secrets, err := s.store.WebhookSecrets(ctx, d.Customer, freshSecret)
	if err != nil {
		return 0, 0, err
	}
	signer, err := signerOf(secrets)
	if err != nil {
		return 0, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, fmt.Errorf("build request: %w", err)
	}
	for k, v := range signer.Headers(d.MessageID, time.Now(), body) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "anonjob-webhooks/1")
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return resp.StatusCode, 0, errRedirect
	}
	return resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), nil
}

func signerOf(secrets []string) (stdwebhooks.Signer, error) {
	parsed := make([]stdwebhooks.Secret, 0, len(secrets))
	for _, raw := range secrets {
		sec, err := stdwebhooks.ParseSecret(raw)
		if err != nil {
			return stdwebhooks.Signer{}, fmt.Errorf("stored webhook secret: %w", err)
		}
		parsed = append(parsed, sec)
	}
	return stdwebhooks.NewSigner(parsed...), nil
}

func freshSecret() string {
	sec, err := stdwebhooks.NewSecret()
	if err != nil {
		panic("clientwebhook: no randomness: " + err.Error()) // crypto/rand does not fail on Linux
	}
	return sec.String()
}

// FreshSecret makes a new signing secret in its whsec_ form.
func FreshSecret() string { return freshSecret() }

func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
