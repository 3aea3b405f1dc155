package service

import (
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"google.golang.org/protobuf/proto"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/watch"
)

// WatchJobs replays events after since_revision, then streams live ones. The first message is
// a heartbeat carrying the revision the stream starts from.
func (s *JobServer) WatchJobs(req *anonjobv1.WatchJobsRequest, stream anonjobv1.JobService_WatchJobsServer) error {
	ctx := stream.Context()
	customer, err := callerOf(ctx)
	if err != nil {
		return err
	}
	if req.GetSinceRevision() < 0 {
		return invalidField("since_revision", "INVALID_REVISION", "must not be negative")
	}
	jobID := req.GetJobId()
	if jobID != "" {
		id, err := uuid.Parse(jobID)
		if err != nil || !job.ValidID(jobID) {
			return invalidField("job_id", "INVALID_ID", "must be a job id (a UUID)")
		}
		jobID = id.String() // events carry the canonical, lower-case form
	}
	var statuses []job.Status
	for _, st := range req.GetStatus() {
		ds, ok := statusFromProto(st)
		if !ok {
			return invalidField("status", "INVALID_STATUS", st.String()+" is not a job status")
		}
		statuses = append(statuses, ds)
	}
	match := func(e job.Event) bool {
		return e.Job.Customer == customer && (jobID == "" || e.Job.ID == jobID) &&
			(len(statuses) == 0 || slices.Contains(statuses, e.Job.Status))
	}
	if !s.openWatch(customer) {
		return statusError(codes.ResourceExhausted, "TOO_MANY_WATCHES",
			fmt.Sprintf("at most %d watch streams may be open at once per customer", s.maxWatches), nil, "")
	}
	defer s.closeWatch(customer)
	unfiltered := jobID == "" && len(statuses) == 0
	sub, err := s.hub.Subscribe(ctx, req.GetSinceRevision())
	if err != nil {
		return watchStatus(ctx, s.log, err, req.GetSinceRevision())
	}
	defer sub.Close()
	if err := stream.Send(&anonjobv1.WatchJobsResponse{Revision: sub.Revision()}); err != nil {
		return err
	}
	lastSent := time.Now()
	// skip passes over a batch with nothing for this watcher. Others' traffic must not starve
	// it of heartbeats (Next's idle timer restarts with every batch), so it sends the position
	// once a heartbeat is due: every event up to b.Revision has been considered.
	skip := func(b watch.Batch) error {
		if time.Since(lastSent) < s.heartbeat {
			return nil
		}
		lastSent = time.Now()
		return stream.Send(&anonjobv1.WatchJobsResponse{Revision: b.Revision})
	}
	for {
		b, err := sub.Next(ctx, s.heartbeat)
		if err != nil {
			if ctx.Err() != nil {
				return nil // the client went away
			}
			s.watchMetrics.cutOff(err)
			return watchStatus(ctx, s.log, err, sub.Revision())
		}
		if b.Shared != nil && unfiltered {
			// Every unfiltered watcher of this batch sends the same bytes: encode them once.
			switch raw := b.Shared.Do(customer, func() any { return encodeBatch(b, customer, s.linkBase) }).(type) {
			case noEvents:
				if err := skip(b); err != nil {
					return err
				}
				continue
			case encoded:
				if err := stream.SendMsg(raw); err != nil {
					return err
				}
				lastSent = time.Now()
				continue
			}
		}
		msg := &anonjobv1.WatchJobsResponse{Revision: b.Revision}
		for _, e := range b.Events {
			if match(e) {
				msg.Events = append(msg.Events, eventToProto(e, s.linkBase))
			}
		}
		if len(b.Events) > 0 && len(msg.Events) == 0 {
			if err := skip(b); err != nil {
				return err
			}
			continue
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
		lastSent = time.Now()
	}
}

var _ Watcher = (*watch.Hub)(nil)

// noEvents marks a batch with no events of a customer.
type noEvents struct{}

// encodeBatch is the wire form of a batch's events of one customer, noEvents when it has none,
// or nil if it cannot be encoded (the caller then sends it the ordinary way).
func encodeBatch(b watch.Batch, customer string, files *url.URL) any {
	msg := &anonjobv1.WatchJobsResponse{Revision: b.Revision}
	for _, e := range b.Events {
		if e.Job.Customer == customer {
			msg.Events = append(msg.Events, eventToProto(e, files))
		}
	}
	if len(msg.Events) == 0 {
		return noEvents{}
	}
	raw, err := proto.Marshal(msg)
	if err != nil {
		return nil
	}
	return encoded(raw)
}

func (s *JobServer) openWatch(customer string) bool {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.maxWatches > 0 && s.watches[customer] >= s.maxWatches {
		return false
	}
	s.watches[customer]++
	s.watchMetrics.opened(1)
	return true
}

func (s *JobServer) closeWatch(customer string) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	s.watchMetrics.opened(-1)
	if s.watches[customer]--; s.watches[customer] <= 0 {
		delete(s.watches, customer)
	}
}
