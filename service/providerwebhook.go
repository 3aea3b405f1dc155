package service

import (
	"context"
	"errors"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/apierr"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/providerhook"
	"github.com/anonjob/anonjob/internal/store"
)

// JobWriter is what the webhook receiver needs: it acts on any customer's job, the one its
// token names.
type JobWriter interface {
	GetJob(ctx context.Context, id string) (job.Job, error)
	Transition(ctx context.Context, id string, c store.Change) (job.Job, job.Status, error)
	// TransitionAfter applies first where it applies, then c, usually in one transaction.
	TransitionAfter(ctx context.Context, id string, first, c store.Change) (job.Job, job.Status, error)
	// FileAbandoned reports a file given up at an engine that died, the job gone to another.
	FileAbandoned(ctx context.Context, jobID, fileID string) (bool, error)
}

// ReceiptStore keeps provider webhooks for audit.
type ReceiptStore interface {
	RecordReceipt(ctx context.Context, r store.Receipt) error
}

// WebhookServer implements anonjob.v1.WebhookService.
type WebhookServer struct {
	anonjobv1.UnimplementedWebhookServiceServer
	store    JobWriter
	receipts ReceiptStore
	signer   providerhook.Signer
	log      *slog.Logger
	// pollAfter schedules the reconciler's first poll of a job the webhook moves to PROCESSING.
	pollAfter time.Duration
	received  *prometheus.CounterVec // nil: not counted
	traces    TraceStore             // nil: webhooks join only the trace they carry
}

// DefaultWebhookDeadline is WebhookServerConfig.WebhookDeadline's default.
const DefaultWebhookDeadline = 2 * time.Minute

// WebhookServerConfig tunes a WebhookServer. As with net/http, a zero field means its
// documented default.
type WebhookServerConfig struct {
	// WebhookDeadline is how long the reconciler waits for the final webhook of a job this
	// receiver moves to PROCESSING before it polls the engine. 0: DefaultWebhookDeadline.
	WebhookDeadline time.Duration
	// Metrics is where the count of webhooks by outcome is registered. nil: they are not
	// counted.
	Metrics prometheus.Registerer
	// Traces makes webhooks continue the trace of their job even when the engine sends no
	// traceparent (the hosted provider does not). nil: webhooks join only the trace they carry.
	Traces TraceStore
	// Log receives what the receiver cannot tell the engine. nil: it is discarded.
	Log *slog.Logger
}

// NewWebhookServer builds the webhook receiver on s, keeping every webhook in receipts;
// signer checks the per-job callback tokens.
func NewWebhookServer(s JobWriter, receipts ReceiptStore, signer providerhook.Signer, cfg WebhookServerConfig) *WebhookServer {
	if cfg.WebhookDeadline <= 0 {
		cfg.WebhookDeadline = DefaultWebhookDeadline
	}
	return &WebhookServer{store: s, receipts: receipts, signer: signer, pollAfter: cfg.WebhookDeadline,
		log: orDiscard(cfg.Log), received: newWebhookCounter(cfg.Metrics), traces: cfg.Traces}
}

// HandleCelanturWebhook applies a provider completion webhook. The token is checked before
// anything is read or written, and a bad one answers exactly like an unknown job. Every webhook
// past that check is kept, with what it did, for audit.
func (s *WebhookServer) HandleCelanturWebhook(ctx context.Context, req *anonjobv1.HandleCelanturWebhookRequest) (*anonjobv1.HandleCelanturWebhookResponse, error) {
	if !job.ValidID(req.GetJobId()) || !s.signer.Verify(req.GetJobId(), req.GetToken()) {
		s.count("forged")
		return nil, statusError(codes.NotFound, apierr.JobNotFound, "job not found", nil, "")
	}
	ctx, span := s.continueTrace(ctx, req.GetJobId())
	defer span.End()
	rec := store.Receipt{JobID: req.GetJobId(), ContentType: req.GetPayload().GetContentType(), Payload: req.GetPayload().GetData()}
	if resp, ok := s.applyAtOnce(ctx, req, rec); ok {
		s.count(resp.GetOutcome().String())
		return resp, nil
	}
	resp, err := s.apply(ctx, req, &rec)
	if err != nil {
		st := status.Convert(err)
		rec.Outcome, rec.Detail = "REJECTED_"+st.Code().String(), st.Message()
		s.count("rejected")
	} else {
		rec.Outcome = resp.GetOutcome().String()
		s.count(rec.Outcome)
	}
	if rerr := s.receipts.RecordReceipt(context.WithoutCancel(ctx), rec); rerr != nil {
		s.log.ErrorContext(ctx, "record webhook receipt", "job_id", rec.JobID, "err", rerr)
	}
	return resp, err
}

func (s *WebhookServer) apply(ctx context.Context, req *anonjobv1.HandleCelanturWebhookRequest, rec *store.Receipt) (*anonjobv1.HandleCelanturWebhookResponse, error) {
	p, err := providerhook.Parse(req.GetPayload().GetContentType(), req.GetPayload().GetData())
	rec.FileID, rec.FileStatus = p.FileID, p.FileStatus
	var fe *providerhook.FieldError
	if errors.As(err, &fe) {
		return nil, invalidField(fe.Field, "INVALID_PAYLOAD", fe.Msg)
	}
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	cur, err := s.store.GetJob(ctx, req.GetJobId())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	if p.FileID != cur.ProviderFileID {
		// The late webhook of an engine that came back after its jobs went to another: the
		// job goes on (or ended) with the engine that has it now.
		gone, err := s.store.FileAbandoned(ctx, cur.ID, p.FileID)
		if err != nil {
			return nil, toStatus(ctx, s.log, err)
		}
		if gone {
			s.log.InfoContext(ctx, "provider webhook for a file given up at a dead engine; ignored", "job_id", cur.ID, "file_id", p.FileID)
			return &anonjobv1.HandleCelanturWebhookResponse{Outcome: anonjobv1.WebhookOutcome_WEBHOOK_OUTCOME_IGNORED}, nil
		}
	}
	if cur.ProviderFileID == "" && cur.Status == job.StatusQueued {
		// The engine answered before the upload's response was recorded. Only the engine has
		// this job's callback URL, so its file id is the job's.
		cur, err = s.recordFile(ctx, cur.ID, p.FileID)
		if err != nil {
			return nil, toStatus(ctx, s.log, err)
		}
	}
	if p.FileID != cur.ProviderFileID {
		return nil, invalidField("file_id", "FILE_ID_MISMATCH", "does not name this job's file at the engine")
	}
	change, final, err := changeOf(p)
	if err != nil {
		return nil, err
	}
	if !final {
		return &anonjobv1.HandleCelanturWebhookResponse{Outcome: anonjobv1.WebhookOutcome_WEBHOOK_OUTCOME_NOT_FINAL}, nil
	}
	j, _, err := s.store.Transition(ctx, cur.ID, change)
	outcome := anonjobv1.WebhookOutcome_WEBHOOK_OUTCOME_APPLIED
	var te *job.TransitionError
	if errors.As(err, &te) && te.From.Terminal() {
		// A repeated or late webhook: the job's end stands.
		j, err, outcome = te.Current, nil, anonjobv1.WebhookOutcome_WEBHOOK_OUTCOME_IGNORED
		if te.From == change.To {
			outcome = anonjobv1.WebhookOutcome_WEBHOOK_OUTCOME_DUPLICATE
		}
	}
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	s.log.InfoContext(ctx, "provider webhook", "job_id", j.ID, "file_status", p.FileStatus, "outcome", outcome.String())
	// A bare acknowledgement: the job (its callback URL, its results) is the customer's.
	return &anonjobv1.HandleCelanturWebhookResponse{Outcome: outcome}, nil
}

// recordFile moves a QUEUED job to PROCESSING with the engine's file id, or returns the job as
// the dispatcher left it if it got there first.
func (s *WebhookServer) recordFile(ctx context.Context, id, fileID string) (job.Job, error) {
	j, _, err := s.store.Transition(ctx, id, store.Change{To: job.StatusProcessing, ProviderFileID: fileID,
		NextPollAt: time.Now().Add(s.pollAfter)})
	var te *job.TransitionError
	if errors.As(err, &te) {
		return te.Current, nil
	}
	return j, err
}

// truncate cuts s to at most n bytes, on a rune boundary: an engine's reason is shown to
// clients, not stored whole.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
