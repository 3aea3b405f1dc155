// Package service implements the gRPC API: it turns requests into domain calls, validates
// input and maps outcomes to canonical status codes. It holds no business state.
package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	_ "image/jpeg" // decoders for image.DecodeConfig
	_ "image/png"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/codes"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/apierr"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/limits"
	"github.com/anonjob/anonjob/internal/netguard"
	"github.com/anonjob/anonjob/internal/pagetoken"
	"github.com/anonjob/anonjob/internal/store"
	"github.com/anonjob/anonjob/internal/watch"
)

// Store is what the job API needs from storage; every call is scoped to one customer.
type Store interface {
	CreateJob(ctx context.Context, customer string, spec job.Spec, input []byte) (job.Job, bool, error)
	GetCustomerJob(ctx context.Context, customer, id string) (job.Job, error)
	ListJobs(ctx context.Context, q store.ListQuery) ([]job.Job, error)
	Transition(ctx context.Context, id string, c store.Change) (job.Job, job.Status, error)
}

// Watcher is what WatchJobs and ListJobs need from the watch hub.
type Watcher interface {
	Subscribe(ctx context.Context, since int64) (*watch.Subscription, error)
	Pos() int64
}

// Paging limits of ListJobs.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// DefaultHeartbeat is JobServerConfig.Heartbeat's default.
const DefaultHeartbeat = 15 * time.Second

// JobServerConfig tunes a JobServer. As with net/http, a zero field means its documented
// default.
type JobServerConfig struct {
	// Files fetches result files from the engines and deletes a cancelled job's file there.
	// nil: no engine is configured, and files cannot be fetched.
	Files FileSource
	// Limits bound what CreateJob accepts. Zero fields: those of job.DefaultLimits.
	Limits job.Limits
	// Heartbeat is how often an idle watch stream gets a message. 0: DefaultHeartbeat.
	Heartbeat time.Duration
	// MaxWatchesPerCustomer bounds one customer's concurrent watch streams. 0: no bound.
	MaxWatchesPerCustomer int
	// PublicURL is the base URL clients reach the HTTP face at: the result links of jobs are
	// anonjob's own file URLs under it. nil: the links are left as the engine gave them.
	PublicURL *url.URL
	// CheckCallback vets a callback_url in CreateJob: where it may lead (no private,
	// loopback or metadata addresses unless allowed). nil: any well-formed URL is accepted.
	CheckCallback func(ctx context.Context, raw string) error
	// EngineTargets is what the configured engine detects. CreateJob refuses, with
	// FAILED_PRECONDITION, a job asking for another class: such a job could only fail after
	// it was queued, while the caller believed it accepted. nil: every class.
	EngineTargets *job.Targets
	// EngineName names the engine in that refusal.
	EngineName string
	// Metrics is where the watch stream families (streams open, cut-offs) are registered.
	// nil: they are not counted.
	Metrics prometheus.Registerer
	// Log receives what the API cannot tell its callers (internal errors, failed clean-ups).
	// nil: it is discarded.
	Log *slog.Logger
}

// JobServer implements anonjob.v1.JobService.
type JobServer struct {
	anonjobv1.UnimplementedJobServiceServer
	store     Store
	hub       Watcher
	files     FileSource // nil: no engine to fetch result files from
	linkBase  *url.URL   // base of the result links; nil: the engine's own
	limits    job.Limits
	heartbeat time.Duration
	log       *slog.Logger

	// checkCallback vets a callback_url; nil accepts any well-formed URL.
	checkCallback func(ctx context.Context, raw string) error

	// engineCan is what the configured engine detects; nil assumes every class.
	engineCan  *job.Targets
	engineName string

	maxWatches int
	watchMu    sync.Mutex
	watches    map[string]int // open WatchJobs streams per customer
	// watchMetrics counts streams and cut-offs; nil counts nothing.
	watchMetrics *watchMetrics
}

// NewJobServer builds the job API on s, whose jobs hub streams to watchers.
func NewJobServer(s Store, hub Watcher, cfg JobServerConfig) *JobServer {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	var can *job.Targets
	if cfg.EngineTargets != nil {
		c := *cfg.EngineTargets // the caller's may change; the server's must not
		can = &c
	}
	return &JobServer{store: s, hub: hub, files: cfg.Files, linkBase: cfg.PublicURL,
		limits: cfg.Limits.WithDefaults(), heartbeat: cfg.Heartbeat, log: orDiscard(cfg.Log),
		checkCallback: cfg.CheckCallback, engineCan: can, engineName: cfg.EngineName,
		maxWatches: cfg.MaxWatchesPerCustomer, watches: map[string]int{},
		watchMetrics: newWatchMetrics(cfg.Metrics)}
}

// orDiscard is log, or a logger that discards when it is nil.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// CreateJob validates and stores a new job.
func (s *JobServer) CreateJob(ctx context.Context, req *anonjobv1.CreateJobRequest) (*anonjobv1.CreateJobResponse, error) {
	customer, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	spec := job.Spec{
		// Methods are words, not identifiers: BLUR and Blur mean blur.
		Method: job.Method(strings.ToLower(strings.TrimSpace(req.GetMethod()))),
		Targets: job.Targets{Face: req.GetFace(), LicensePlate: req.GetLicensePlate(),
			Person: req.GetPerson(), Vehicle: req.GetVehicle()},
		RequestID:   req.GetRequestId(),
		CallbackURL: req.GetCallbackUrl(),
	}
	if spec.Method == "" {
		spec.Method = job.MethodBlur
	}
	if fe := spec.Validate(s.limits); fe != nil {
		return nil, toStatus(ctx, s.log, fe)
	}
	if err := s.checkTargets(spec.Targets); err != nil {
		return nil, err
	}
	if spec.CallbackURL != "" && s.checkCallback != nil {
		if err := s.checkCallback(ctx, spec.CallbackURL); err != nil {
			var ge *netguard.Error
			if errors.As(err, &ge) {
				return nil, invalidField("callback_url", ge.Reason, ge.Msg)
			}
			return nil, toStatus(ctx, s.log, err)
		}
	}
	ct, err := s.checkImage(req.GetImage())
	if err != nil {
		return nil, err
	}
	spec.ContentType = ct
	j, _, err := s.store.CreateJob(ctx, customer, spec, req.GetImage().GetData())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &anonjobv1.CreateJobResponse{Job: jobToProto(j, s.linkBase)}, nil
}

// checkTargets refuses the first asked-for class the engine cannot detect.
func (s *JobServer) checkTargets(want job.Targets) error {
	if s.engineCan == nil {
		return nil
	}
	can := *s.engineCan
	classes := []struct {
		name      string
		want, can bool
	}{
		{"face", want.Face, can.Face}, {"license_plate", want.LicensePlate, can.LicensePlate},
		{"person", want.Person, can.Person}, {"vehicle", want.Vehicle, can.Vehicle},
	}
	var able []string
	for _, c := range classes {
		if c.can {
			able = append(able, c.name)
		}
	}
	for _, c := range classes {
		if c.want && !c.can {
			msg := fmt.Sprintf("%s: the %s engine cannot detect %s; it detects %s", c.name, s.engineName,
				c.name, strings.Join(able, ", "))
			return statusError(codes.FailedPrecondition, apierr.TargetUnsupported, msg,
				map[string]string{"target": c.name, "engine": s.engineName}, c.name)
		}
	}
	return nil
}

// checkImage accepts a JPEG or PNG within the limits and returns its content type.
func (s *JobServer) checkImage(img *httpbody.HttpBody) (string, error) {
	data := img.GetData()
	if len(data) == 0 {
		return "", invalidField("image", "EMPTY_IMAGE", "the request carries no image bytes")
	}
	if int64(len(data)) > s.limits.MaxInputBytes {
		return "", statusError(codes.ResourceExhausted, apierr.ImageTooLarge,
			fmt.Sprintf("image: is %d bytes, the limit is %d bytes", len(data), s.limits.MaxInputBytes),
			map[string]string{"limit_bytes": fmt.Sprint(s.limits.MaxInputBytes)}, "image")
	}
	sniffed := http.DetectContentType(data)
	declared := sniffed
	if img.GetContentType() != "" {
		mt, _, err := mime.ParseMediaType(img.GetContentType())
		if err != nil || !slices.Contains(job.ContentTypes(), mt) {
			return "", statusError(codes.InvalidArgument, apierr.UnsupportedMedia,
				fmt.Sprintf("image.content_type: %q is not supported; send image/jpeg or image/png",
					img.GetContentType()), nil, "image.content_type")
		}
		declared = mt
	}
	if !slices.Contains(job.ContentTypes(), sniffed) {
		return "", invalidField("image", "NOT_AN_IMAGE",
			fmt.Sprintf("the bytes are not a JPEG or PNG image (they look like %s)", sniffed))
	}
	if sniffed != declared {
		return "", invalidField("image.content_type", "CONTENT_TYPE_MISMATCH",
			fmt.Sprintf("is %s but the bytes are %s", declared, sniffed))
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", invalidField("image", "NOT_AN_IMAGE", "cannot be decoded: "+err.Error())
	}
	// The engine reads the same limit: an image accepted here is never refused there.
	if err := (limits.Image{MaxPixels: s.limits.MaxImagePixels}).CheckPixels(cfg.Width, cfg.Height); err != nil {
		return "", statusError(codes.InvalidArgument, "BAD_DIMENSIONS", "image: "+err.Error(),
			map[string]string{"limit_pixels": fmt.Sprint(limits.Image{MaxPixels: s.limits.MaxImagePixels}.WithDefaults().MaxPixels)}, "image")
	}
	// A truncated file has a valid header but no end marker. Checking the marker catches it
	// here, with a clear error, at no cost; decoding every pixel is left to the engine.
	if !hasEndMarker(declared, data) {
		return "", invalidField("image", "NOT_AN_IMAGE", "is truncated: the "+declared+" end marker is missing")
	}
	return declared, nil
}

// GetJob returns one job.
func (s *JobServer) GetJob(ctx context.Context, req *anonjobv1.GetJobRequest) (*anonjobv1.GetJobResponse, error) {
	customer, err := callerOfJob(ctx, "id", req.GetId())
	if err != nil {
		return nil, err
	}
	j, err := s.store.GetCustomerJob(ctx, customer, req.GetId())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &anonjobv1.GetJobResponse{Job: jobToProto(j, s.linkBase)}, nil
}

// ListJobs pages through jobs, newest first.
func (s *JobServer) ListJobs(ctx context.Context, req *anonjobv1.ListJobsRequest) (*anonjobv1.ListJobsResponse, error) {
	customer, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, invalidField("page_size", "INVALID_PAGE_SIZE", "must not be negative")
	case size == 0:
		size = DefaultPageSize
	case size > MaxPageSize:
		size = MaxPageSize
	}
	q := store.ListQuery{Customer: customer, Limit: size + 1}
	for _, st := range req.GetStatus() {
		ds, ok := statusFromProto(st)
		if !ok {
			return nil, invalidField("status", "INVALID_STATUS", fmt.Sprintf("%v is not a job status", st))
		}
		q.Statuses = append(q.Statuses, ds)
	}
	if t := req.GetCreateTimeAfter(); t != nil {
		q.CreatedAfter = t.AsTime()
	}
	if t := req.GetCreateTimeBefore(); t != nil {
		q.CreatedBefore = t.AsTime()
	}
	filter := filterHash(q)
	if req.GetPageToken() != "" {
		tok, err := pagetoken.Decode(req.GetPageToken())
		if err != nil {
			return nil, statusError(codes.InvalidArgument, apierr.InvalidPageToken,
				"page_token: "+err.Error(), nil, "page_token")
		}
		if tok.Filter != filter {
			return nil, statusError(codes.InvalidArgument, apierr.InvalidPageToken,
				"page_token: was made for a request with other filters", nil, "page_token")
		}
		q.After = &store.Cursor{CreateTime: tok.CreateTime, ID: tok.ID}
	}
	// Read before the list: every change up to it is committed, so the list reflects it.
	rev := s.hub.Pos()
	jobs, err := s.store.ListJobs(ctx, q)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	resp := &anonjobv1.ListJobsResponse{Revision: rev}
	if len(jobs) > size {
		jobs = jobs[:size]
		last := jobs[size-1]
		resp.NextPageToken = pagetoken.Encode(pagetoken.Token{CreateTime: last.CreateTime, ID: last.ID, Filter: filter})
	}
	for _, j := range jobs {
		resp.Jobs = append(resp.Jobs, jobToProto(j, s.linkBase))
	}
	return resp, nil
}

// filterHash fingerprints the filters of a list request, so a page token cannot be replayed
// with other filters.
func filterHash(q store.ListQuery) uint64 {
	h := fnv.New64a()
	st := make([]string, len(q.Statuses))
	for i, s := range q.Statuses {
		st[i] = string(s)
	}
	slices.Sort(st)
	st = slices.Compact(st)
	_, _ = fmt.Fprintf(h, "%v|%d|%d", st, q.CreatedAfter.UnixMicro(), q.CreatedBefore.UnixMicro())
	return h.Sum64()
}

// CancelJob cancels a job that has not ended. Cancelling a cancelled job returns it unchanged.
func (s *JobServer) CancelJob(ctx context.Context, req *anonjobv1.CancelJobRequest) (*anonjobv1.CancelJobResponse, error) {
	customer, err := callerOfJob(ctx, "id", req.GetId())
	if err != nil {
		return nil, err
	}
	j, prev, err := s.store.Transition(ctx, req.GetId(), store.Change{To: job.StatusCancelled, Customer: customer})
	var te *job.TransitionError
	if errors.As(err, &te) && te.From == job.StatusCancelled {
		j, err = te.Current, nil
	}
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	if prev == job.StatusProcessing && j.ProviderFileID != "" && s.files != nil {
		s.forget(ctx, j)
	}
	return &anonjobv1.CancelJobResponse{Job: jobToProto(j, s.linkBase)}, nil
}

// hasEndMarker reports whether an image ends as its format requires: PNG with an IEND chunk,
// JPEG with an EOI marker (a few bytes of trailing padding, as some cameras write, allowed).
func hasEndMarker(contentType string, data []byte) bool {
	switch contentType {
	case "image/png":
		return bytes.HasSuffix(data, []byte("IEND\xaeB`\x82"))
	case "image/jpeg":
		tail := data[max(0, len(data)-64):]
		return bytes.Contains(tail, []byte{0xFF, 0xD9})
	}
	return false
}

// forget deletes a cancelled job's file at its engine, in the background: the engine stops
// working on it, and the cancel does not wait on an engine that may be slow or gone.
func (s *JobServer) forget(ctx context.Context, j job.Job) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	go func() {
		defer cancel()
		if err := s.files.DeleteFile(ctx, j.ID, j.ProviderFileID); err != nil {
			s.log.WarnContext(ctx, "delete cancelled job's file at its engine", "job_id", j.ID, "err", err)
		}
	}()
}
