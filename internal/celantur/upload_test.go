package celantur

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestUploadQueryAndBody(t *testing.T) {
	t.Parallel()
	const webhook = "https://example.com/webhook/dev?sender=celantur&approve=always"
	tests := []struct {
		name      string
		opts      UploadOptions
		want      url.Values // exact decoded query
		wantInRaw string     // must appear in the raw query as sent
	}{
		{
			name: "webhook with its own query string",
			opts: UploadOptions{Method: MethodBlur, Face: true, LicensePlate: true, Webhook: webhook},
			want: url.Values{
				"method": {"blur"}, "face": {"True"}, "license-plate": {"True"},
				"person": {"False"}, "vehicle": {"False"}, "webhook": {webhook},
			},
			wantInRaw: "webhook=https%3A%2F%2Fexample.com%2Fwebhook%2Fdev%3Fsender%3Dcelantur%26approve%3Dalways",
		},
		{
			name: "every option",
			opts: UploadOptions{
				Method: MethodPixelate, Person: true, Vehicle: true, Quality: 85,
				SaveMask: true, Webhook: "https://h.example/cb/tok?x=1#frag", Name: "street & co.jpg",
			},
			want: url.Values{
				"method": {"pixelate"}, "face": {"False"}, "license-plate": {"False"},
				"person": {"True"}, "vehicle": {"True"}, "quality": {"85"}, "save-mask": {"True"},
				"webhook": {"https://h.example/cb/tok?x=1#frag"}, "name": {"street & co.jpg"},
			},
			wantInRaw: "name=street+%26+co.jpg",
		},
		{
			name: "zero options send only the explicit targets",
			opts: UploadOptions{},
			want: url.Values{"face": {"False"}, "license-plate": {"False"}, "person": {"False"}, "vehicle": {"False"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			image := bytes.Repeat([]byte{0xff, 0xd8, 0x00, 0x01}, 4096)
			p := newProvider(t)
			p.mux.HandleFunc("POST /v1/file", func(w http.ResponseWriter, r *http.Request) {
				if !requireToken(w, r, "tok-1") {
					return
				}
				q := r.URL.Query()
				if len(q) != len(tt.want) {
					t.Errorf("query = %v, want %v", q, tt.want)
				}
				for k, v := range tt.want {
					if got := q[k]; len(got) != 1 || got[0] != v[0] {
						t.Errorf("query %s = %q, want %q", k, got, v[0])
					}
				}
				if !strings.Contains(r.URL.RawQuery, tt.wantInRaw) {
					t.Errorf("raw query %q lacks %q", r.URL.RawQuery, tt.wantInRaw)
				}
				if ct := r.Header.Get("Content-Type"); ct != "image/jpeg" {
					t.Errorf("Content-Type = %q", ct)
				}
				body, _ := io.ReadAll(r.Body)
				if !bytes.Equal(body, image) {
					t.Errorf("body: got %d bytes, not the image's %d", len(body), len(image))
				}
				writeJSON(w, http.StatusOK, map[string]any{
					"customer_id": "cust-1", "file_id": "0b6f5c1e-0000-4000-8000-000000000001",
					"file_status": "queued", "webhook_status": "empty",
				})
			})
			c, _ := newTestClient(t, p.srv.URL, nil)
			f, err := c.Upload(t.Context(), "image/jpeg", image, tt.opts)
			if err != nil {
				t.Fatalf("Upload: %v", err)
			}
			if f.CustomerID != "cust-1" || f.FileID != "0b6f5c1e-0000-4000-8000-000000000001" ||
				f.FileStatus != StatusQueued || f.WebhookStatus != "empty" || !strings.Contains(string(f.Raw), `"customer_id"`) {
				t.Errorf("file = %+v", f)
			}
		})
	}
}

// TestUploadMakesOneAttempt: the dispatcher owns the retries of an upload
// and counts them; the client makes one POST per call whatever fails, so
// the two never multiply.
func TestUploadMakesOneAttempt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		handler   step
		retryable bool
	}{
		{"503", status(http.StatusServiceUnavailable, ""), true},
		{"503 with Retry-After", status(http.StatusServiceUnavailable, "1"), true},
		{"500", status(http.StatusInternalServerError, ""), true},
		{"dropped connection", dropConnection, true},
		{"400", status(http.StatusBadRequest, ""), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t)
			p.mux.HandleFunc("POST /v1/file", tc.handler)
			c, rec := newTestClient(t, p.srv.URL, nil)
			_, err := c.Upload(t.Context(), "image/png", []byte("png bytes"), UploadOptions{Face: true})
			if err == nil || IsRetryable(err) != tc.retryable {
				t.Fatalf("err = %v (retryable %v), want an error with retryable %v", err, IsRetryable(err), tc.retryable)
			}
			p.wantCalls(t, rec, "POST /v1/file", 1, 0)
		})
	}
}

// TestUploadResendsBodyAfterTokenRefresh: a 401 is answered by one fresh
// sign-in and one resend carrying the whole image again; that is not a
// retry of the upload.
func TestUploadResendsBodyAfterTokenRefresh(t *testing.T) {
	t.Parallel()
	image := []byte("png bytes")
	p := newProvider(t)
	var bodies []string
	p.mux.HandleFunc("POST /v1/file", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b)) // requests are sequential
		if !requireToken(w, r, "tok-2") {
			return
		}
		writeJSON(w, http.StatusOK, fileJSON("f1", StatusQueued))
	})
	c, _ := newTestClient(t, p.srv.URL, nil)
	if _, err := c.Upload(t.Context(), "image/png", image, UploadOptions{Face: true}); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if len(bodies) != 2 || bodies[0] != string(image) || bodies[1] != string(image) {
		t.Errorf("bodies = %q, want the image twice", bodies)
	}
	if n := p.signIns.Load(); n != 2 {
		t.Errorf("%d sign-ins, want 2", n)
	}
}

func TestUploadRejectsEmptyInput(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, "http://127.0.0.1:1", nil)
	if _, err := c.Upload(t.Context(), "image/png", nil, UploadOptions{}); err == nil {
		t.Error("empty image accepted")
	}
	if _, err := c.Upload(t.Context(), "", []byte("x"), UploadOptions{}); err == nil {
		t.Error("missing content type accepted")
	}
}

// TestUploadThrottled: a 429 comes back at once with its Retry-After, so
// the caller can slow down instead of the client sleeping on one upload.
func TestUploadThrottled(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	p.mux.HandleFunc("POST /v1/file", status(http.StatusTooManyRequests, "3600"))
	c, _ := newTestClient(t, p.srv.URL, nil)
	_, err := c.Upload(t.Context(), "image/jpeg", []byte{0xff, 0xd8}, UploadOptions{})
	wait, ok := IsThrottled(err)
	if !ok || wait != time.Hour || !IsRetryable(err) {
		t.Fatalf("err = %v (throttled %v, wait %v), want a retryable 429 asking for an hour", err, ok, wait)
	}
	if n := p.count("POST /v1/file"); n != 1 {
		t.Errorf("%d uploads, want 1: the client must not retry a 429 itself", n)
	}
	if _, ok := IsThrottled(errors.New("other")); ok {
		t.Error("a plain error counts as throttled")
	}
}

func TestCapacity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    int
		wantErr error
	}{
		{"told", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]int{"capacity": 34, "workers": 2, "queue_size": 32})
		}, 34, nil},
		{"not a built-in engine", http.NotFound, 0, ErrCapacityUnknown},
		{"nonsense", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]int{"capacity": 0})
		}, 0, ErrMalformedResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t)
			p.mux.HandleFunc("GET /v1/capacity", func(w http.ResponseWriter, r *http.Request) {
				if requireToken(w, r, "tok-1") {
					tc.handler(w, r)
				}
			})
			c, _ := newTestClient(t, p.srv.URL, nil)
			n, err := c.Capacity(t.Context())
			if n != tc.want || (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("Capacity = %d, %v; want %d, %v", n, err, tc.want, tc.wantErr)
			}
		})
	}
}
