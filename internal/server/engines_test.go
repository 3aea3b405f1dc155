package server_test

import (
	"context"
	"slices"
	"testing"
	"time"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

// TestCancelDeletesTheFileAtItsEngine cancels a job the engine has: the file is deleted at the
// engine recorded for the job.
func TestCancelDeletesTheFileAtItsEngine(t *testing.T) {
	t.Parallel()
	prov := newFakeProvider(t)
	e := newEnv(t, withProvider(prov))
	j := e.createJob(t)
	p := waitStatus(t, e, j.GetId(), anonjobv1.JobStatus_JOB_STATUS_PROCESSING)
	if _, err := e.jobs.CancelJob(context.Background(), &anonjobv1.CancelJobRequest{Id: j.GetId()}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		prov.mu.Lock()
		deleted := slices.Contains(prov.deleted, p.GetProviderFileId())
		prov.mu.Unlock()
		if deleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("file %s of the cancelled job never deleted at its engine", p.GetProviderFileId())
		}
	}
	if n := e.count(`SELECT count(*) FROM jobs WHERE id = $1 AND engine_id IS NOT NULL`, j.GetId()); n != 1 {
		t.Fatal("the job does not record its engine")
	}
}
