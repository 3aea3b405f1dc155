package service

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/apierr"
	"github.com/anonjob/anonjob/internal/clientwebhook"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/store"
)

// DeliveryStore is what the delivery API needs; every call is scoped to one customer.
type DeliveryStore interface {
	GetCustomerJob(ctx context.Context, customer, id string) (job.Job, error)
	JobDeliveries(ctx context.Context, customer, jobID string) ([]store.Delivery, error)
	Redeliver(ctx context.Context, customer, jobID string) (store.Delivery, error)
	RotateWebhookSecret(ctx context.Context, customer, secret string, overlap time.Duration) error
	RevokePreviousWebhookSecrets(ctx context.Context, customer string) (int, error)
}

// SecretOverlap is how long a rotated-out signing secret keeps signing.
const SecretOverlap = 24 * time.Hour

// DeliveryServer implements anonjob.v1.DeliveryService.
type DeliveryServer struct {
	anonjobv1.UnimplementedDeliveryServiceServer
	store     DeliveryStore
	newSecret func() string
	wake      func() // tells the sender a delivery is due
	log       *slog.Logger
}

// DeliveryServerConfig tunes a DeliveryServer. As with net/http, a zero field means its
// documented default.
type DeliveryServerConfig struct {
	// NewSecret makes a fresh signing secret for RotateWebhookSecret. nil:
	// clientwebhook.FreshSecret.
	NewSecret func() string
	// Wake tells the webhook sender a delivery is due, so a redelivery goes out at once
	// rather than at the sender's next look. nil: nothing is told.
	Wake func()
	// Log receives what the API cannot tell its callers. nil: it is discarded.
	Log *slog.Logger
}

// NewDeliveryServer builds the delivery API on s.
func NewDeliveryServer(s DeliveryStore, cfg DeliveryServerConfig) *DeliveryServer {
	if cfg.NewSecret == nil {
		cfg.NewSecret = clientwebhook.FreshSecret
	}
	if cfg.Wake == nil {
		cfg.Wake = func() {}
	}
	return &DeliveryServer{store: s, newSecret: cfg.NewSecret, wake: cfg.Wake, log: orDiscard(cfg.Log)}
}

// ListDeliveries lists a job's deliveries with their attempts.
func (s *DeliveryServer) ListDeliveries(ctx context.Context, req *anonjobv1.ListDeliveriesRequest) (*anonjobv1.ListDeliveriesResponse, error) {
	customer, err := s.ownJob(ctx, req.GetJobId())
	if err != nil {
		return nil, err
	}
	ds, err := s.store.JobDeliveries(ctx, customer, req.GetJobId())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	resp := &anonjobv1.ListDeliveriesResponse{}
	for _, d := range ds {
		resp.Deliveries = append(resp.Deliveries, deliveryToProto(d))
	}
	return resp, nil
}

// RedeliverJob queues the job's webhook again as a new message.
func (s *DeliveryServer) RedeliverJob(ctx context.Context, req *anonjobv1.RedeliverJobRequest) (*anonjobv1.RedeliverJobResponse, error) {
	customer, err := s.ownJob(ctx, req.GetJobId())
	if err != nil {
		return nil, err
	}
	d, err := s.store.Redeliver(ctx, customer, req.GetJobId())
	if errors.Is(err, store.ErrNotDeliverable) {
		return nil, statusError(codes.FailedPrecondition, apierr.NothingToDeliver, err.Error(), nil, "")
	}
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	s.wake()
	return &anonjobv1.RedeliverJobResponse{Delivery: deliveryToProto(d)}, nil
}

// RotateWebhookSecret makes and returns a new signing secret for the caller.
func (s *DeliveryServer) RotateWebhookSecret(ctx context.Context, _ *anonjobv1.RotateWebhookSecretRequest) (*anonjobv1.RotateWebhookSecretResponse, error) {
	customer, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	secret := s.newSecret()
	if err := s.store.RotateWebhookSecret(ctx, customer, secret, SecretOverlap); err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &anonjobv1.RotateWebhookSecretResponse{Secret: secret,
		PreviousExpireTime: timestamppb.New(time.Now().Add(SecretOverlap))}, nil
}

// RevokePreviousWebhookSecret ends the caller's previous signing secret now.
func (s *DeliveryServer) RevokePreviousWebhookSecret(ctx context.Context, _ *anonjobv1.RevokePreviousWebhookSecretRequest) (*anonjobv1.RevokePreviousWebhookSecretResponse, error) {
	customer, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	n, err := s.store.RevokePreviousWebhookSecrets(ctx, customer)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &anonjobv1.RevokePreviousWebhookSecretResponse{Revoked: int32(n)}, nil
}

// ownJob checks the id and that the job is the caller's, and returns the caller.
func (s *DeliveryServer) ownJob(ctx context.Context, id string) (string, error) {
	customer, err := callerOfJob(ctx, "job_id", id)
	if err != nil {
		return "", err
	}
	if _, err := s.store.GetCustomerJob(ctx, customer, id); err != nil {
		return "", toStatus(ctx, s.log, err)
	}
	return customer, nil
}

func deliveryToProto(d store.Delivery) *anonjobv1.Delivery {
	p := &anonjobv1.Delivery{
		Id: d.ID, JobId: d.JobID, MessageId: d.MessageID, Url: d.URL, FileStatus: d.FileStatus,
		State:    anonjobv1.DeliveryState(anonjobv1.DeliveryState_value["DELIVERY_STATE_"+d.State]),
		Attempts: int32(d.Attempts), CreateTime: timestamppb.New(d.CreateTime), UpdateTime: timestamppb.New(d.UpdateTime),
	}
	if d.State == "PENDING" {
		p.NextAttemptTime = timestamppb.New(d.NextAttemptAt)
	}
	for _, a := range d.Log {
		p.AttemptLog = append(p.AttemptLog, &anonjobv1.DeliveryAttempt{Time: timestamppb.New(a.Time),
			StatusCode: int32(a.StatusCode), Error: a.Error, LatencyMs: a.Latency.Milliseconds()})
	}
	return p
}
