package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"google.golang.org/genproto/googleapis/api/httpbody"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/server"
)

// TestCreateJobTakesEveryTargetTheEngineDoes: the built-in engine detects all four classes
// (engine.Detects), so CreateJob accepts each of them, over gRPC and REST, as it does for a
// hosted provider, which is assumed to detect every class.
func TestCreateJobTakesEveryTargetTheEngineDoes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		req    *anonjobv1.CreateJobRequest
		target string
	}{
		{"person", &anonjobv1.CreateJobRequest{Face: true, Person: true}, "person"},
		{"vehicle", &anonjobv1.CreateJobRequest{Vehicle: true}, "vehicle"},
		{"face and plate", &anonjobv1.CreateJobRequest{Face: true, LicensePlate: true}, "license_plate"},
	} {
		tc.req.Image = &httpbody.HttpBody{Data: testPNG(t)}
		if _, err := e.jobs.CreateJob(ctx, tc.req); err != nil {
			t.Errorf("%s over gRPC: %v", tc.name, err)
		}
		q := url.Values{"face": {"true"}, tc.target: {"true"}}
		if r := e.postImage(q, "image/png", testPNG(t)); r.status != http.StatusOK {
			t.Errorf("%s over REST: %d %s %q", tc.name, r.status, r.reason(), asString(r.body["message"]))
		}
	}
	if n := e.jobCount(); n != 6 {
		t.Fatalf("jobs stored: %d, want 6", n)
	}

	// A hosted provider's edge: it answers (404), so the replica is ready; no job reaches it.
	provider := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(provider.Close)
	hosted := newEnv(t, func(c *server.Config) {
		c.ProviderURL = provider.URL
		c.ProviderCredentials.Token = "t"
	})
	if _, err := hosted.jobs.CreateJob(ctx, &anonjobv1.CreateJobRequest{Person: true, Vehicle: true,
		Image: &httpbody.HttpBody{Data: testPNG(t)}}); err != nil {
		t.Fatalf("hosted provider, person and vehicle: %v", err)
	}
}
