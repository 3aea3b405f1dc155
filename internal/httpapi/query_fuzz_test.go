package httpapi

import (
	"net/url"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/proto"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

// FuzzQueryParameters feeds arbitrary query strings to the REST option parsing of every
// request that takes query parameters: it must answer an error or a message, never panic, and
// never put a status outside the enum.
func FuzzQueryParameters(f *testing.F) {
	for _, seed := range []string{
		"method=blur&face=true&license_plate=true&request_id=r1&callback_url=https%3A%2F%2Fx%2Fy%3Fa%3D1",
		"status=done,queued&page_size=20&page_token=abc&create_time_after=2026-11-28T00:00:00Z",
		"since_revision=42&job_id=0190c6f2-0000-7000-8000-000000000000&status=JOB_STATUS_DONE",
		"status=&status=,&face=1&face=0", "page_size=-1&page_size=99999999999999999999",
		"image.data=aGk&image.content_type=image/png", "%zz=1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		values, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		values = normalizeStatuses(values)
		for _, msg := range []proto.Message{&anonjobv1.CreateJobRequest{}, &anonjobv1.ListJobsRequest{}, &anonjobv1.WatchJobsRequest{}} {
			if err := runtime.PopulateQueryParameters(msg, values, utilities.NewDoubleArray(nil)); err != nil {
				continue
			}
			var statuses []anonjobv1.JobStatus
			switch m := msg.(type) {
			case *anonjobv1.ListJobsRequest:
				statuses = m.GetStatus()
			case *anonjobv1.WatchJobsRequest:
				statuses = m.GetStatus()
			}
			for _, s := range statuses {
				if _, ok := anonjobv1.JobStatus_name[int32(s)]; !ok {
					t.Fatalf("%q parsed to status %d, outside the enum", raw, s)
				}
			}
		}
	})
}
