package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/apierr"
	"github.com/anonjob/anonjob/internal/auth"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/providerhook"
	"github.com/anonjob/anonjob/internal/store"
)

// The tests below build each server with a zero config and check that it behaves as the
// config's documented defaults say, rather than as zero limits, nil functions and nil loggers
// would.

const testJobID = "0190b3a4-9d2c-7c4e-8f7a-1b2c3d4e5f60"

func TestJobServerZeroConfigLimits(t *testing.T) {
	t.Parallel()
	s := NewJobServer(nil, nil, JobServerConfig{})
	ctx := auth.WithCustomer(t.Context(), "c1")
	limit := job.DefaultLimits().MaxRequestIDLen
	for _, tt := range []struct {
		idLen      int
		wantReason string
	}{
		// Within the limit, the request goes on to the image check and stops there.
		{limit, "EMPTY_IMAGE"},
		{limit + 1, "TOO_LONG"},
	} {
		_, err := s.CreateJob(ctx, &anonjobv1.CreateJobRequest{Face: true, RequestId: strings.Repeat("r", tt.idLen),
			Image: &httpbody.HttpBody{}})
		if got := apierr.Reason(status.Convert(err)); got != tt.wantReason {
			t.Errorf("request_id of %d bytes: reason %q (%v), want %q", tt.idLen, got, err, tt.wantReason)
		}
	}
}

type fakeDeliveryStore struct {
	DeliveryStore // the methods not overridden are not called
	secret        string
	redeliverErr  error
}

func (f *fakeDeliveryStore) GetCustomerJob(_ context.Context, customer, id string) (job.Job, error) {
	return job.Job{ID: id, Customer: customer}, nil
}

func (f *fakeDeliveryStore) Redeliver(_ context.Context, _, jobID string) (store.Delivery, error) {
	return store.Delivery{JobID: jobID}, f.redeliverErr
}

func (f *fakeDeliveryStore) RotateWebhookSecret(_ context.Context, _, secret string, _ time.Duration) error {
	f.secret = secret
	return nil
}

func TestDeliveryServerZeroConfig(t *testing.T) {
	t.Parallel()
	ctx := auth.WithCustomer(t.Context(), "c1")
	st := &fakeDeliveryStore{}
	s := NewDeliveryServer(st, DeliveryServerConfig{})

	resp, err := s.RotateWebhookSecret(ctx, &anonjobv1.RotateWebhookSecretRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.GetSecret(), "whsec_") || resp.GetSecret() != st.secret {
		t.Errorf("rotated secret %q, stored %q: want the same whsec_ secret", resp.GetSecret(), st.secret)
	}
	// No Wake to call and no Log to write to: neither may be needed.
	if _, err := s.RedeliverJob(ctx, &anonjobv1.RedeliverJobRequest{JobId: testJobID}); err != nil {
		t.Errorf("redeliver: %v", err)
	}
	st.redeliverErr = errors.New("database gone")
	if _, err := s.RedeliverJob(ctx, &anonjobv1.RedeliverJobRequest{JobId: testJobID}); status.Code(err) != codes.Internal {
		t.Errorf("redeliver with a failing store: %v, want Internal", err)
	}
}

type fakeJobWriter struct {
	JobWriter // the methods not overridden are not called
	changes   []store.Change
}

func (f *fakeJobWriter) GetJob(_ context.Context, id string) (job.Job, error) {
	return job.Job{ID: id, Status: job.StatusQueued}, nil
}

func (f *fakeJobWriter) Transition(_ context.Context, id string, c store.Change) (job.Job, job.Status, error) {
	f.changes = append(f.changes, c)
	return job.Job{ID: id, Status: c.To, ProviderFileID: c.ProviderFileID}, job.StatusQueued, nil
}

func (f *fakeJobWriter) FileAbandoned(context.Context, string, string) (bool, error) {
	return false, nil
}

type discardReceipts struct{}

func (discardReceipts) RecordReceipt(context.Context, store.Receipt) error { return nil }

// A webhook that reaches a job before its upload's answer was recorded moves it to
// PROCESSING with its first poll DefaultWebhookDeadline away.
func TestWebhookServerZeroConfigDeadline(t *testing.T) {
	t.Parallel()
	signer := providerhook.NewSigner([]byte(strings.Repeat("k", 32)))
	w := &fakeJobWriter{}
	s := NewWebhookServer(w, discardReceipts{}, signer, WebhookServerConfig{})
	before := time.Now()
	resp, err := s.HandleCelanturWebhook(t.Context(), &anonjobv1.HandleCelanturWebhookRequest{
		JobId: testJobID, Token: signer.Token(testJobID),
		Payload: &httpbody.HttpBody{ContentType: "application/json",
			Data: []byte(`{"file_id":"f1","file_status":"processing"}`)},
	})
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetOutcome() != anonjobv1.WebhookOutcome_WEBHOOK_OUTCOME_NOT_FINAL || len(w.changes) != 1 {
		t.Fatalf("outcome %s after %d changes, want NOT_FINAL after the one recording the file", resp.GetOutcome(), len(w.changes))
	}
	if at := w.changes[0].NextPollAt; at.Before(before.Add(DefaultWebhookDeadline)) || at.After(after.Add(DefaultWebhookDeadline)) {
		t.Errorf("first poll at %s, want %s after the webhook", at, DefaultWebhookDeadline)
	}
}
