package pgtest

import (
	"context"
	"testing"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/store"
)

// PNG1x1 returns a valid one-pixel PNG, the smallest input a job accepts.
func PNG1x1() []byte {
	return []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
}

// Factory makes test data through the store's own methods, so that tests hold no SQL and the
// data they make is data the service could have made.
type Factory struct {
	Store *store.Store
	// Customer owns the jobs made without one; "acme" when empty.
	Customer string
}

// Job describes a job to make. Zero fields take defaults: a blur of faces of PNG1x1(), QUEUED.
type Job struct {
	Customer    string
	RequestID   string
	CallbackURL string
	Input       []byte
	// ProviderFileID is the engine's file id recorded on the way to PROCESSING; "file-" and
	// the job id when empty.
	ProviderFileID string
	// Status is where the job is walked to through the state machine: PROCESSING records a
	// provider file id, DONE results, FAILED an error; CANCELLED is cancelled while QUEUED.
	Status job.Status
}

// Spec is the job spec the factory submits: a blur of faces of a PNG.
func Spec(requestID string) job.Spec {
	return job.Spec{Method: job.MethodBlur, Targets: job.Targets{Face: true}, RequestID: requestID,
		ContentType: "image/png"}
}

// Job creates a job and walks it to j.Status, failing the test on any error. It returns the job
// as it is after the last step.
func (f Factory) Job(t testing.TB, j Job) job.Job {
	t.Helper()
	ctx := context.Background()
	customer := j.Customer
	if customer == "" {
		customer = f.Customer
	}
	if customer == "" {
		customer = "acme"
	}
	input := j.Input
	if input == nil {
		input = PNG1x1()
	}
	sp := Spec(j.RequestID)
	sp.CallbackURL = j.CallbackURL
	made, _, err := f.Store.CreateJob(ctx, customer, sp, input)
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	fileID := j.ProviderFileID
	if fileID == "" {
		fileID = "file-" + made.ID
	}
	for _, c := range walk(made.ID, fileID, j.Status) {
		if made, _, err = f.Store.Transition(ctx, made.ID, c); err != nil {
			t.Fatalf("move job %s to %s: %v", made.ID, c.To, err)
		}
	}
	return made
}

// Jobs makes n jobs alike.
func (f Factory) Jobs(t testing.TB, n int, j Job) []job.Job {
	t.Helper()
	out := make([]job.Job, n)
	for i := range out {
		out[i] = f.Job(t, j)
	}
	return out
}

// walk lists the changes that take a new job to status.
func walk(id, fileID string, status job.Status) []store.Change {
	processing := store.Change{To: job.StatusProcessing, ProviderFileID: fileID}
	switch status {
	case job.StatusProcessing:
		return []store.Change{processing}
	case job.StatusDone:
		return []store.Change{processing, {To: job.StatusDone, Results: &job.Results{
			AnonymizedLink: "https://engine.example/" + id + "/anonymized"}}}
	case job.StatusFailed:
		return []store.Change{processing, {To: job.StatusFailed, Error: &job.Error{Code: "ENGINE_FAILED",
			Message: "the engine failed"}}}
	case job.StatusCancelled:
		return []store.Change{{To: job.StatusCancelled}}
	}
	return nil
}
