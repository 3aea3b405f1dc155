package loadgen

import (
	"testing"
	"time"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/types/known/timestamppb"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

// TestSkimJobs: the skimming codec reads what the full decoding reads of revisions and event
// times, and leaves the jobs out.
func TestSkimJobs(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 3, 8, 0, 0, 123456789, time.UTC)
	in := &anonjobv1.WatchJobsResponse{Revision: 42, Events: []*anonjobv1.JobEvent{
		{Revision: 40, Type: anonjobv1.JobEventType_JOB_EVENT_TYPE_CREATED, EventTime: timestamppb.New(at),
			Job: &anonjobv1.Job{Id: "j1", Status: anonjobv1.JobStatus_JOB_STATUS_QUEUED, CallbackUrl: "https://example.com/x"}},
		{Revision: 41, EventTime: timestamppb.New(at.Add(time.Second)), Job: &anonjobv1.Job{Id: "j2"}},
	}}
	proto := encoding.GetCodecV2("proto")
	data, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, split := range []bool{false, true} {
		msg := data
		if split { // as gRPC may hand it over: in more than one buffer
			b := msg.Materialize()
			msg = mem.BufferSlice{mem.SliceBuffer(b[:7]), mem.SliceBuffer(b[7:])}
		}
		var got anonjobv1.WatchJobsResponse
		if err := (skimCodec{proto}).Unmarshal(msg, &got); err != nil {
			t.Fatal(err)
		}
		if got.GetRevision() != 42 || len(got.GetEvents()) != 2 {
			t.Fatalf("skimmed %v", &got)
		}
		for i, ev := range got.GetEvents() {
			want := in.GetEvents()[i]
			if ev.GetRevision() != want.GetRevision() || !ev.GetEventTime().AsTime().Equal(want.GetEventTime().AsTime()) || ev.GetJob() != nil {
				t.Errorf("event %d = %v, want revision %d at %v and no job", i, ev, want.GetRevision(), want.GetEventTime().AsTime())
			}
		}
	}
	// One message reused for every receive, as the watchers do: a shorter message after a
	// longer one leaves nothing of the first behind.
	var reused anonjobv1.WatchJobsResponse
	short, err := proto.Marshal(&anonjobv1.WatchJobsResponse{Events: []*anonjobv1.JobEvent{{Revision: 43}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range []mem.BufferSlice{data, short} {
		if err := (skimCodec{proto}).Unmarshal(data, &reused); err != nil {
			t.Fatal(err)
		}
	}
	if reused.GetRevision() != 0 || len(reused.GetEvents()) != 1 || reused.GetEvents()[0].GetRevision() != 43 ||
		reused.GetEvents()[0].GetEventTime() != nil {
		t.Errorf("reused message holds %v, want only event 43 without a time", &reused)
	}
	if err := (skimCodec{proto}).Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0x0a, 0x05, 0x08})}, new(anonjobv1.WatchJobsResponse)); err == nil {
		t.Error("a truncated message was accepted")
	}
}
