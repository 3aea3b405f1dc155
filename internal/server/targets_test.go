package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/codes"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/apierr"
	"github.com/anonjob/anonjob/internal/server"
)

// TestCreateJobRefusesTargetsTheEngineCannotDo: with the built-in engine, a job asking for a
// class it does not detect is refused at once, over gRPC and REST, and nothing is stored; a
// hosted provider is assumed to detect every class.
func TestCreateJobRefusesTargetsTheEngineCannotDo(t *testing.T) {
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
		{"both", &anonjobv1.CreateJobRequest{Person: true, Vehicle: true}, "person"},
	} {
		tc.req.Image = &httpbody.HttpBody{Data: testPNG(t)}
		_, err := e.jobs.CreateJob(ctx, tc.req)
		assertStatus(t, err, codes.FailedPrecondition, apierr.TargetUnsupported, tc.target)

		q := url.Values{"face": {"true"}, tc.target: {"true"}}
		r := e.postImage(q, "image/png", testPNG(t))
		msg := asString(r.body["message"])
		if r.status != http.StatusBadRequest || r.reason() != apierr.TargetUnsupported ||
			!strings.HasPrefix(msg, tc.target+":") || !strings.Contains(msg, "face, license_plate") {
			t.Errorf("%s over REST: %d %s %q", tc.name, r.status, r.reason(), msg)
		}
	}
	if n := e.jobCount(); n != 0 {
		t.Fatalf("refused jobs stored: %d", n)
	}
	// What the engine does detect is accepted.
	if _, err := e.jobs.CreateJob(ctx, &anonjobv1.CreateJobRequest{Face: true, LicensePlate: true,
		Image: &httpbody.HttpBody{Data: testPNG(t)}}); err != nil {
		t.Fatalf("face and plate: %v", err)
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
