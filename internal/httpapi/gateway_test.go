package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestZeroConfigLimits checks that a zero Config bounds bodies by the documented defaults:
// a body declared one byte over its route's default is refused before anything is read or
// sent on, one at the default is not.
func TestZeroConfigLimits(t *testing.T) {
	t.Parallel()
	// Nothing listens there: a request that gets past the limits fails at the gRPC call.
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	h, err := New(t.Context(), conn, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, method, path, contentType string
		limit                           int64
	}{
		{"image", http.MethodPost, "/v1/jobs", "image/jpeg", DefaultMaxImageBytes},
		{"provider webhook", http.MethodPost, webhookPath, "application/json", DefaultMaxWebhookBytes},
		{"other", http.MethodPost, "/v1/jobs/0190b3a4-9d2c-7c4e-8f7a-1b2c3d4e5f60:cancel", "application/json", DefaultMaxBodyBytes},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, n := range []int64{tt.limit, tt.limit + 1} {
				r := httptest.NewRequestWithContext(t.Context(), tt.method, tt.path, strings.NewReader("{}"))
				r.Header.Set("Content-Type", tt.contentType)
				r.ContentLength = n // declared, not sent: the limit is checked on the declaration first
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if refused := w.Code == http.StatusRequestEntityTooLarge; refused != (n > tt.limit) {
					t.Errorf("a body of %d bytes: status %d, want 413 only over %d", n, w.Code, tt.limit)
				}
			}
		})
	}
}
