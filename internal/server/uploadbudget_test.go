package server_test

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/server"
)

// Concurrent gRPC uploads hold what their messages really are, not the receive limit each: with
// a budget of one full upload, many small ones at once all go through, larger ones that do not
// fit together are refused as TOO_MANY_UPLOADS, and the budget is whole again afterwards.
func TestUploadBudgetHoldsWhatUploadsReallyAre(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *server.Config) {
		c.MaxUploadBytes = 1 << 20
		c.MaxInflightUploadBytes = 1<<20 + 64<<10 // one upload's worth
	})
	small := testPNG(t)
	medium := noisyPNG(t, 400) // several hundred KiB: a few fit into the budget at once
	cases := []struct {
		name    string
		image   []byte
		calls   int
		refusal bool // some calls may be refused
	}{
		{"small uploads all fit", small, 16, false}, // 16 first slices of 64 KiB fit
		{"medium uploads beyond the budget", medium, 24, true},
	}
	for _, tc := range cases {
		var wg sync.WaitGroup
		var mu sync.Mutex
		codesSeen := map[codes.Code]int{}
		for range tc.calls {
			wg.Go(func() {
				_, err := e.jobs.CreateJob(context.Background(), &anonjobv1.CreateJobRequest{
					Image: &httpbody.HttpBody{ContentType: "image/png", Data: tc.image}, Face: true})
				if err != nil && !tc.refusal {
					t.Errorf("%s: %v", tc.name, err)
				}
				if err != nil && tc.refusal {
					assertStatus(t, err, codes.ResourceExhausted, "TOO_MANY_UPLOADS", "")
				}
				mu.Lock()
				codesSeen[status.Code(err)]++
				mu.Unlock()
			})
		}
		wg.Wait()
		t.Logf("%s (%d bytes each): %v", tc.name, len(tc.image), codesSeen)
		if codesSeen[codes.OK] == 0 {
			t.Fatalf("%s: no upload went through", tc.name)
		}
	}
	// Nothing leaked: an upload of nearly the whole budget fits again once the calls ended.
	big := noisyPNG(t, 500)
	if len(big) > 1<<20 {
		t.Fatalf("test image of %d bytes exceeds the upload limit", len(big))
	}
	if _, err := e.jobs.CreateJob(context.Background(), &anonjobv1.CreateJobRequest{
		Image: &httpbody.HttpBody{ContentType: "image/png", Data: big}, Face: true}); err != nil {
		t.Fatalf("a %d byte upload after the concurrent ones: %v", len(big), err)
	}
}
