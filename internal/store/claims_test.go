package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/store"
)

// TestClaimsAreOwned: claims carry their owner and the upload intent; renewals reach only the
// owner's live claims; a restart's release frees exactly the owner's claims; and a claim left
// unsettled shows on the next one.
func TestClaimsAreOwned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	for range 3 {
		if _, _, err := s.CreateJob(ctx, "acme", pgtest.Spec(""), pgtest.PNG1x1()); err != nil {
			t.Fatal(err)
		}
	}
	mine, err := s.ClaimQueued(ctx, "a", 2, time.Hour)
	if err != nil || len(mine) != 2 || !mine[0].UnsettledUpload.IsZero() {
		t.Fatalf("first claims: %+v, %v", mine, err)
	}
	theirs, err := s.ClaimQueued(ctx, "b", 5, time.Hour)
	if err != nil || len(theirs) != 1 {
		t.Fatalf("other replica's claims: %d, %v", len(theirs), err)
	}
	ids := []string{mine[0].Job.ID, mine[1].Job.ID, theirs[0].Job.ID}
	if n, err := s.RenewClaims(ctx, "a", ids, time.Hour); err != nil || n != 2 {
		t.Fatalf("renewed %d of a's claims, %v; want 2", n, err)
	}
	// The first is settled by a refusal, the second recorded at the engine: neither is
	// a's claim any more.
	if err := s.Release(ctx, mine[0].Job.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Transition(ctx, mine[1].Job.ID, store.Change{To: job.StatusProcessing, ProviderFileID: "f"}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RenewClaims(ctx, "a", ids, time.Hour); err != nil || n != 0 {
		t.Fatalf("renewed %d settled claims, %v", n, err)
	}
	// b dies holding its claim and comes back: the claim is released at once, and its next
	// claimer learns the earlier upload never settled.
	if n, err := s.ReleaseClaimsOf(ctx, "b"); err != nil || n != 1 {
		t.Fatalf("released %d of b's claims, %v", n, err)
	}
	again, err := s.ClaimQueued(ctx, "c", 5, time.Hour)
	if err != nil || len(again) != 2 {
		t.Fatalf("claims after the release: %d, %v", len(again), err)
	}
	for _, c := range again {
		unsettled := c.Job.ID == theirs[0].Job.ID
		if c.UnsettledUpload.IsZero() == unsettled {
			t.Errorf("job %s: unsettled upload %v, want unsettled %v", c.Job.ID, c.UnsettledUpload, unsettled)
		}
	}
}
