package server_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

func TestListJobsPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var created []*anonjobv1.Job
	for range 7 {
		resp, err := e.jobs.CreateJob(ctx, &anonjobv1.CreateJobRequest{Image: &httpbody.HttpBody{Data: testPNG(t)}, Face: true})
		if err != nil {
			t.Fatal(err)
		}
		created = append(created, resp.GetJob())
	}
	for _, j := range created[:2] {
		if _, err := e.jobs.CancelJob(ctx, &anonjobv1.CancelJobRequest{Id: j.GetId()}); err != nil {
			t.Fatal(err)
		}
	}
	// Pages of 3: newest first, every job once.
	var seen []string
	req := &anonjobv1.ListJobsRequest{PageSize: 3}
	for pages := 0; ; pages++ {
		resp, err := e.jobs.ListJobs(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range resp.GetJobs() {
			seen = append(seen, j.GetId())
		}
		if resp.GetNextPageToken() == "" {
			if pages != 2 {
				t.Fatalf("%d pages, want 3", pages+1)
			}
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if len(seen) != 7 {
		t.Fatalf("listed %d jobs, want 7", len(seen))
	}
	for i, id := range seen {
		if want := created[6-i].GetId(); id != want {
			t.Fatalf("position %d: %s, want %s (newest first)", i, id, want)
		}
	}
	// Filters.
	resp, err := e.jobs.ListJobs(ctx, &anonjobv1.ListJobsRequest{Status: []anonjobv1.JobStatus{anonjobv1.JobStatus_JOB_STATUS_CANCELLED}})
	if err != nil || len(resp.GetJobs()) != 2 {
		t.Fatalf("cancelled filter: %v, %v", resp, err)
	}
	after := created[3].GetCreateTime()
	resp, err = e.jobs.ListJobs(ctx, &anonjobv1.ListJobsRequest{CreateTimeAfter: after})
	if err != nil || len(resp.GetJobs()) != 4 {
		t.Fatalf("create_time_after filter: %d jobs, %v", len(resp.GetJobs()), err)
	}
	resp, err = e.jobs.ListJobs(ctx, &anonjobv1.ListJobsRequest{CreateTimeBefore: after, CreateTimeAfter: timestamppb.New(after.AsTime().Add(-3600e9))})
	if err != nil || len(resp.GetJobs()) != 3 {
		t.Fatalf("time window filter: %d jobs, %v", len(resp.GetJobs()), err)
	}
	// Over REST, statuses may be written plainly, comma-separated or repeated.
	for _, q := range []string{"status=cancelled", "status=CANCELLED", "status=JOB_STATUS_CANCELLED", "status=cancelled,done", "status=cancelled&status=done"} {
		r := e.do(http.MethodGet, "/v1/jobs?"+q, "", nil)
		if jobs, _ := r.body["jobs"].([]any); r.status != 200 || len(jobs) != 2 {
			t.Errorf("GET /v1/jobs?%s: %d %s", q, r.status, r.raw)
		}
	}
}

func TestListJobsRejectsBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for range 3 {
		if _, err := e.jobs.CreateJob(ctx, &anonjobv1.CreateJobRequest{Image: &httpbody.HttpBody{Data: testPNG(t)}, Face: true}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := e.jobs.ListJobs(ctx, &anonjobv1.ListJobsRequest{PageSize: 1})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatal(first, err)
	}
	_, err = e.jobs.ListJobs(ctx, &anonjobv1.ListJobsRequest{PageSize: 1, PageToken: first.GetNextPageToken(),
		Status: []anonjobv1.JobStatus{anonjobv1.JobStatus_JOB_STATUS_DONE}})
	assertStatus(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN", "page_token")
	_, err = e.jobs.ListJobs(ctx, &anonjobv1.ListJobsRequest{PageSize: -1})
	assertStatus(t, err, codes.InvalidArgument, "INVALID_PAGE_SIZE", "page_size")
	_, err = e.jobs.ListJobs(ctx, &anonjobv1.ListJobsRequest{Status: []anonjobv1.JobStatus{anonjobv1.JobStatus_JOB_STATUS_UNSPECIFIED}})
	assertStatus(t, err, codes.InvalidArgument, "INVALID_STATUS", "status")
	// A page size over the maximum is reduced, not refused (AIP-158).
	if resp, err := e.jobs.ListJobs(ctx, &anonjobv1.ListJobsRequest{PageSize: 1 << 20}); err != nil || len(resp.GetJobs()) != 3 {
		t.Fatalf("huge page size: %v, %v", resp, err)
	}
	for _, q := range []string{"page_token=garbage", "page_token=" + url.QueryEscape(first.GetNextPageToken()+"x"), "page_size=-5", "status=sleeping", "page_size=abc"} {
		if r := e.do(http.MethodGet, "/v1/jobs?"+q, "", nil); r.status != http.StatusBadRequest {
			t.Errorf("GET /v1/jobs?%s = %d %s, want 400", q, r.status, r.raw)
		}
	}
}

// TestListThenWatchMissesNothing: list, then watch from the list's revision, skipping events
// the listed jobs already reflect: every later change arrives.
func TestListThenWatchMissesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := e.createJob(t)
	list, err := e.jobs.ListJobs(ctx, &anonjobv1.ListJobsRequest{})
	if err != nil || list.GetRevision() < 1 {
		t.Fatalf("list revision %d (%v): a position is never 0, which means \"from now\"", list.GetRevision(), err)
	}
	if _, err := e.jobs.CancelJob(ctx, &anonjobv1.CancelJobRequest{Id: a.GetId()}); err != nil {
		t.Fatal(err)
	}
	stream, err := e.jobs.WatchJobs(ctx, &anonjobv1.WatchJobsRequest{SinceRevision: list.GetRevision()})
	if err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range msg.GetEvents() {
			if ev.GetJob().GetId() == a.GetId() && ev.GetJob().GetStatus() == anonjobv1.JobStatus_JOB_STATUS_CANCELLED {
				return
			}
		}
	}
}
