package dispatch

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/job"
)

// TestOneRetryLayer: with the real client in between, a failing upload costs one POST per
// dispatcher attempt, the attempts the job counts, and no more.
func TestOneRetryLayer(t *testing.T) {
	t.Parallel()
	var posts atomic.Int32
	engine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/file" {
			posts.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(engine.Close)
	client, err := celantur.New(celantur.Config{BaseURL: engine.URL, Credentials: celantur.Credentials{Token: "tok"}})
	if err != nil {
		t.Fatal(err)
	}
	s := newFakeStore()
	cfg := testConfig()
	d := NewDispatcher(s, client, signer{}, cfg, nil)
	for attempt := 1; attempt <= cfg.MaxAttempts; attempt++ {
		dispatchOnce(t.Context(), d, queued("j1", attempt))
		if n := int(posts.Load()); n != attempt {
			t.Fatalf("after attempt %d: %d POSTs, want %d", attempt, n, attempt)
		}
	}
	want := append(slices.Repeat([]string{"Defer"}, cfg.MaxAttempts-1), "Transition")
	calls := s.made()
	if got := opsOf(calls); !slices.Equal(got, want) {
		t.Fatalf("store calls %v, want %v", got, want)
	}
	if c := calls[len(calls)-1].change; c.To != job.StatusFailed || c.Error.Code != "PROVIDER_REJECTED" {
		t.Errorf("last change %+v, want FAILED PROVIDER_REJECTED", c)
	}
}
