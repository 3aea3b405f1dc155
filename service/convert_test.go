package service

import (
	"testing"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/job"
)

// The conversions go by name: every value of package job must have its own proto value.
func TestEveryStatusHasAProtoValue(t *testing.T) {
	t.Parallel()
	seen := map[anonjobv1.JobStatus]job.Status{}
	for _, s := range job.Statuses() {
		p := statusToProto(s)
		if p == anonjobv1.JobStatus_JOB_STATUS_UNSPECIFIED {
			t.Errorf("status %s has no proto value", s)
		}
		if other, dup := seen[p]; dup {
			t.Errorf("statuses %s and %s both map to %s", s, other, p)
		}
		seen[p] = s
		if back, ok := statusFromProto(p); !ok || back != s {
			t.Errorf("status %s -> %s -> %s, %v", s, p, back, ok)
		}
	}
	if got := statusToProto("NO_SUCH_STATUS"); got != anonjobv1.JobStatus_JOB_STATUS_UNSPECIFIED {
		t.Errorf("unknown status -> %s, want UNSPECIFIED", got)
	}
}

func TestEveryEventTypeHasAProtoValue(t *testing.T) {
	t.Parallel()
	for _, e := range []job.EventType{job.EventCreated, job.EventStatusChanged, job.EventUpdated} {
		if eventTypeToProto(e) == anonjobv1.JobEventType_JOB_EVENT_TYPE_UNSPECIFIED {
			t.Errorf("event type %s has no proto value", e)
		}
	}
}
