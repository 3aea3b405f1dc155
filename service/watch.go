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
	f, err := parseWatchFilter(req, customer)
	if err != nil {
		return err
	}
	if !s.openWatch(customer) {
		return statusError(codes.ResourceExhausted, "TOO_MANY_WATCHES",
			fmt.Sprintf("at most %d watch streams may be open at once per customer", s.maxWatches), nil, "")
	}
	defer s.closeWatch(customer)
	sub, err := s.hub.Subscribe(ctx, req.GetSinceRevision())
	if err != nil {
		return watchStatus(ctx, s.log, err, req.GetSinceRevision())
	}
	defer sub.Close()
	if err := stream.Send(&anonjobv1.WatchJobsResponse{Revision: sub.Revision()}); err != nil {
		return err
	}
	out := &watchSender{stream: stream, heartbeat: s.heartbeat, lastSent: time.Now()}
	for {
		b, err := sub.Next(ctx, s.heartbeat)
		if err != nil {
			if ctx.Err() != nil {
				return nil // the client went away
			}
			s.watchMetrics.cutOff(err)
			return watchStatus(ctx, s.log, err, sub.Revision())
		}
		if err := s.sendBatch(b, f, out); err != nil {
			return err
		}
	}
}

// watchFilter is what one watcher asked to see.
type watchFilter struct {
	customer string
	jobID    string // canonical; empty: every job
	statuses []job.Status
}

// parseWatchFilter checks a request's filter, naming the field at fault.
func parseWatchFilter(req *anonjobv1.WatchJobsRequest, customer string) (watchFilter, error) {
	f := watchFilter{customer: customer}
	if req.GetSinceRevision() < 0 {
		return f, invalidField("since_revision", "INVALID_REVISION", "must not be negative")
	}
	if jobID := req.GetJobId(); jobID != "" {
		id, err := uuid.Parse(jobID)
		if err != nil || !job.ValidID(jobID) {
			return f, invalidJobID("job_id")
		}
		f.jobID = id.String() // events carry the canonical, lower-case form
	}
	for _, st := range req.GetStatus() {
		ds, ok := statusFromProto(st)
		if !ok {
			return f, invalidField("status", "INVALID_STATUS", st.String()+" is not a job status")
		}
		f.statuses = append(f.statuses, ds)
	}
	return f, nil
}

func (f watchFilter) match(e job.Event) bool {
	return e.Job.Customer == f.customer && (f.jobID == "" || e.Job.ID == f.jobID) &&
		(len(f.statuses) == 0 || slices.Contains(f.statuses, e.Job.Status))
}

// unfiltered reports whether the watcher sees all of its customer's events.
func (f watchFilter) unfiltered() bool { return f.jobID == "" && len(f.statuses) == 0 }

// sendBatch sends a watcher what a batch holds for it.
func (s *JobServer) sendBatch(b watch.Batch, f watchFilter, out *watchSender) error {
	if b.Shared != nil && f.unfiltered() {
		// Every unfiltered watcher of this batch sends the same bytes: encode them once.
		switch raw := b.Shared.Do(f.customer, func() any { return encodeBatch(b, f.customer, s.linkBase) }).(type) {
		case noEvents:
			return out.skip(b)
		case encoded:
			return out.sendRaw(raw)
		}
	}
	msg := &anonjobv1.WatchJobsResponse{Revision: b.Revision}
	for _, e := range b.Events {
		if f.match(e) {
			msg.Events = append(msg.Events, eventToProto(e, s.linkBase))
		}
	}
	if len(b.Events) > 0 && len(msg.Events) == 0 {
		return out.skip(b)
	}
	return out.send(msg)
}

// watchSender is one stream's sending side, which knows when a heartbeat is due.
type watchSender struct {
	stream    anonjobv1.JobService_WatchJobsServer
	heartbeat time.Duration
	lastSent  time.Time
}

func (w *watchSender) send(msg *anonjobv1.WatchJobsResponse) error {
	w.lastSent = time.Now()
	return w.stream.Send(msg)
}

func (w *watchSender) sendRaw(raw encoded) error {
	w.lastSent = time.Now()
	return w.stream.SendMsg(raw)
}

// skip passes over a batch with nothing for this watcher. Others' traffic must not starve it
// of heartbeats (Next's idle timer restarts with every batch), so it sends the position once
// a heartbeat is due: every event up to b.Revision has been considered.
func (w *watchSender) skip(b watch.Batch) error {
	if time.Since(w.lastSent) < w.heartbeat {
		return nil
	}
	return w.send(&anonjobv1.WatchJobsResponse{Revision: b.Revision})
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
