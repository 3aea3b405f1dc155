package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/server"
)

const bigUpload = 25 << 20

// noisyPNG is a side x side PNG of random pixels: it hardly compresses.
func noisyPNG(t testing.TB, side int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	_, _ = rand.Read(img.Pix)
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// zeros is a body of n bytes that costs the client no memory.
type zeros struct{ left int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.left)
	clear(p[:n])
	z.left -= n
	return int(n), nil
}

// allocatedDuring reports the bytes the process allocated while f ran.
func allocatedDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Not parallel: the memory figures are the whole process's, so nothing else may run.
func TestUnauthenticatedUploadIsRefusedBeforeItsBodyIsRead(t *testing.T) {
	e := newEnv(t)
	e.do(http.MethodGet, "/v1/jobs", "", nil) // warm the gateway's connection and pools
	for _, key := range []string{"", "aj_0123456789abcdef_forgedforgedforgedforgedforgedforgedforged"} {
		var code int
		alloc := allocatedDuring(func() {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost,
				e.base+"/v1/jobs?face=true", &zeros{left: bigUpload})
			req.ContentLength = bigUpload
			req.Header.Set("Content-Type", "image/jpeg")
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("upload: %v", err) // the 401 comes back before the body is sent
			}
			code = resp.StatusCode
			_ = resp.Body.Close()
		})
		t.Logf("REST, key %q: %d, %.1f MiB allocated for a %d MiB body", key, code, float64(alloc)/(1<<20), bigUpload>>20)
		if code != http.StatusUnauthorized {
			t.Fatalf("unauthenticated upload: %d, want 401", code)
		}
		if alloc > 4<<20 {
			t.Fatalf("the process allocated %d bytes answering an unauthenticated %d byte upload", alloc, bigUpload)
		}
	}

	// gRPC: the client itself encodes the message (one copy); the server must add none.
	img := &httpbody.HttpBody{ContentType: "image/jpeg", Data: make([]byte, bigUpload)}
	anon := anonjobv1.NewJobServiceClient(dial(t, e.srv.GRPCAddr().String(), ""))
	var err error
	alloc := allocatedDuring(func() {
		_, err = anon.CreateJob(context.Background(), &anonjobv1.CreateJobRequest{Image: img, Face: true})
	})
	t.Logf("gRPC: %v, %.1f MiB allocated for a %d MiB message", status.Code(err), float64(alloc)/(1<<20), bigUpload>>20)
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("unauthenticated CreateJob: %v", err)
	}
	if alloc > bigUpload+bigUpload/2 {
		t.Fatalf("%d bytes allocated: the server read the unauthenticated message", alloc)
	}
	if n := e.jobCount(); n != 0 {
		t.Fatalf("%d jobs made by unauthenticated uploads", n)
	}
}

// A held upload takes the budget; the next one is refused at once over REST and gRPC.
func TestUploadBudgetRefusesWhenFull(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *server.Config) {
		c.MaxUploadBytes = 1 << 20
		c.MaxInflightUploadBytes = 1<<20 + 64<<10 // one upload's worth
	})
	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pw.CloseWithError(io.ErrUnexpectedEOF) }) // a failure ends it too
	held := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, e.base+"/v1/jobs?face=true", pr)
		req.ContentLength = 1 << 20
		req.Header.Set("Content-Type", "image/png")
		req.Header.Set("Authorization", "Bearer "+e.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			held <- 0
			return
		}
		_ = resp.Body.Close()
		held <- resp.StatusCode
	}()
	// A write returns once the client's transport has taken the bytes, which can be before
	// the server has checked the key and reserved the upload: wait until the budget's gauge
	// shows it held.
	if _, err := pw.Write(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		body := scrape(t, e)
		if v, _ := sample(body, "anonjob_upload_bytes_in_flight"); v >= 1<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the held upload never took the budget:\n%s", linesWith(body, "anonjob_upload_bytes"))
		}
	}
	if v, _ := sample(scrape(t, e), "anonjob_upload_bytes_limit"); v != 1<<20+64<<10 {
		t.Fatalf("anonjob_upload_bytes_limit %v, want %d", v, 1<<20+64<<10)
	}
	// 100 KiB does not fit into the 64 KiB left.
	padded := noisyPNG(t, 256)
	r := e.postImage(url.Values{"face": {"true"}}, "image/png", padded)
	if r.status != http.StatusTooManyRequests || r.reason() != "TOO_MANY_UPLOADS" {
		t.Fatalf("upload while the budget is held: %d %s", r.status, r.raw)
	}
	// Over gRPC the first 64 KiB fit at the tap, the message's 100 KiB then do not.
	_, err := e.jobs.CreateJob(context.Background(), &anonjobv1.CreateJobRequest{Image: &httpbody.HttpBody{ContentType: "image/png", Data: padded}, Face: true})
	assertStatus(t, err, codes.ResourceExhausted, "TOO_MANY_UPLOADS", "")
	// Reads are not uploads: they pass while the budget is full.
	if g := e.do(http.MethodGet, "/v1/jobs", "", nil); g.status != http.StatusOK {
		t.Fatalf("list while uploads are full: %d %s", g.status, g.raw)
	}
	_ = pw.CloseWithError(io.ErrUnexpectedEOF) // the held upload ends
	<-held
	// The client may hear of its failure a moment before the server's handler returns and
	// releases the bytes: wait for that, not for a fixed time.
	deadline := time.Now().Add(10 * time.Second)
	r = e.postImage(url.Values{"face": {"true"}}, "image/png", padded)
	for r.status == http.StatusTooManyRequests && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		r = e.postImage(url.Values{"face": {"true"}}, "image/png", padded)
	}
	if r.status != http.StatusOK {
		t.Fatalf("upload after the budget was released: %d %s", r.status, r.raw)
	}
	// Its handler releases the bytes a moment after the answer is sent.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		v, _ := sample(scrape(t, e), "anonjob_upload_bytes_in_flight")
		if v == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("anonjob_upload_bytes_in_flight %v with no upload under way, want 0", v)
		}
	}
	if _, err := e.jobs.CreateJob(context.Background(), &anonjobv1.CreateJobRequest{Image: &httpbody.HttpBody{ContentType: "image/png", Data: testPNG(t)}, Face: true}); err != nil {
		t.Fatalf("gRPC upload after the budget was released: %v", err)
	}
}

func TestEachMethodHasItsOwnReceiveLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	id := e.processingJob("f-big")
	cb, err := url.Parse(e.callback(id))
	if err != nil {
		t.Fatal(err)
	}
	token := cb.Query().Get("token")
	// gRPC: the provider webhook takes 64 KiB, however the token turns out.
	_, err = e.hooks.HandleCelanturWebhook(ctx, &anonjobv1.HandleCelanturWebhookRequest{JobId: id, Token: token,
		Payload: &httpbody.HttpBody{ContentType: "application/json", Data: bytes.Repeat([]byte(" "), 100<<10)}})
	assertStatus(t, err, codes.ResourceExhausted, "BODY_TOO_LARGE", "body")
	if n := e.receipts(id, ""); n != 0 {
		t.Fatalf("an oversized webhook was stored (%d receipts)", n)
	}
	// gRPC: other calls take 1 MiB.
	_, err = e.jobs.GetJob(ctx, &anonjobv1.GetJobRequest{Id: strings.Repeat("x", 2<<20)})
	assertStatus(t, err, codes.ResourceExhausted, "BODY_TOO_LARGE", "body")
	// gRPC: an upload over 1 MiB is fine up to --max-upload-bytes.
	big := noisyPNG(t, 1000) // about 4 MB
	if _, err := e.jobs.CreateJob(ctx, &anonjobv1.CreateJobRequest{Image: &httpbody.HttpBody{ContentType: "image/png", Data: big}, Face: true}); err != nil {
		t.Fatalf("a %d byte upload: %v", len(big), err)
	}
	// REST: the same limits.
	if r := e.do(http.MethodPost, e.callback(id), "application/json", bytes.Repeat([]byte(" "), 100<<10)); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("REST webhook of 100 KiB: %d %s", r.status, r.raw)
	}
	if r := e.do(http.MethodPost, "/v1/jobs/"+id+":cancel", "application/json", bytes.Repeat([]byte(" "), 2<<20)); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("REST cancel with a 2 MiB body: %d %s", r.status, r.raw)
	}
	if r := e.postImage(url.Values{"face": {"true"}}, "image/png", big); r.status != http.StatusOK {
		t.Fatalf("REST upload of %d bytes: %d %s", len(big), r.status, r.raw)
	}
}

func TestRateLimitPerCustomer(t *testing.T) {
	t.Parallel()
	// One request per 100 s after a burst of two: no test runs long enough to refill.
	e := newEnv(t, func(c *server.Config) { c.RateLimit, c.RateBurst = 0.01, 2 })
	for i := range 2 {
		// REST calls pass the gateway's limit only: were they counted again over gRPC, the
		// second would fail.
		if r := e.do(http.MethodGet, "/v1/jobs", "", nil); r.status != http.StatusOK {
			t.Fatalf("request %d of the burst: %d %s", i+1, r.status, r.raw)
		}
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, e.base+"/v1/jobs", nil)
	req.Header.Set("Authorization", "Bearer "+e.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || secs < 1 || secs > 100 {
		t.Fatalf("over the limit: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	_, err = e.jobs.GetJob(context.Background(), &anonjobv1.GetJobRequest{Id: "00000000-0000-0000-0000-000000000000"})
	assertStatus(t, err, codes.ResourceExhausted, "RATE_LIMITED", "")
	var retry *errdetails.RetryInfo
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() <= 0 {
		t.Fatalf("RESOURCE_EXHAUSTED without a retry delay: %v", status.Convert(err).Details())
	}
	// Another customer has a bucket of its own.
	if r := e.doAs(e.rivalKey, http.MethodGet, "/v1/jobs", "", nil); r.status != http.StatusOK {
		t.Fatalf("another customer limited by acme's traffic: %d %s", r.status, r.raw)
	}
	// Health stays open.
	if r := e.doAs("", http.MethodGet, "/healthz", "", nil); r.status != http.StatusOK {
		t.Fatalf("healthz: %d", r.status)
	}
}

func TestMetricsToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *server.Config) { c.MetricsToken = "m3trics-t0ken" })
	for _, tt := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{"Bearer " + e.key, http.StatusUnauthorized}, // an API key is not the metrics token
		{"Bearer m3trics-t0ken", http.StatusOK},
	} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, e.base+"/metrics", nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Fatalf("/metrics with %q: %d, want %d", tt.auth, resp.StatusCode, tt.want)
		}
		if tt.want == http.StatusOK && !strings.Contains(string(body), "# HELP") {
			t.Fatalf("/metrics answered no metrics: %.200s", body)
		}
		if tt.want != http.StatusOK && strings.Contains(string(body), "# HELP") {
			t.Fatal("/metrics leaked metrics without its token")
		}
	}
	open := newEnv(t)
	if r := open.doAs("", http.MethodGet, "/metrics", "", nil); r.status != http.StatusOK {
		t.Fatalf("/metrics without a configured token: %d", r.status)
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tt := range []struct {
		method, path, key string
	}{
		{http.MethodPost, "/v1/webhook-secret:rotate", e.key},
		{http.MethodGet, "/v1/jobs", e.key},
		{http.MethodGet, "/v1/jobs", ""}, // the 401 too
		{http.MethodGet, "/healthz", ""},
	} {
		req, _ := http.NewRequestWithContext(context.Background(), tt.method, e.base+tt.path, nil)
		if tt.key != "" {
			req.Header.Set("Authorization", "Bearer "+tt.key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		h := resp.Header
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" ||
			h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s %s (%d): headers %v", tt.method, tt.path, resp.StatusCode, h)
		}
	}
}

func TestCallbackPortsAreLimited(t *testing.T) {
	t.Parallel()
	// Loopback is allowed as in the other tests, but the ports are the defaults.
	e := newEnv(t, func(c *server.Config) { c.CallbackAllowPorts = nil })
	for _, port := range []int{22, 80, 8080, 6379} {
		cb := fmt.Sprintf("https://127.0.0.1:%d/hook", port)
		r := e.postImage(url.Values{"face": {"true"}, "callback_url": {cb}}, "image/png", testPNG(t))
		if r.status != http.StatusBadRequest || !strings.Contains(asString(r.body["message"]), "port") {
			t.Errorf("callback_url %s: %d %s", cb, r.status, r.raw)
		}
	}
	for _, cb := range []string{"https://127.0.0.1/hook", "https://127.0.0.1:8443/hook"} {
		if r := e.postImage(url.Values{"face": {"true"}, "callback_url": {cb}}, "image/png", testPNG(t)); r.status != http.StatusOK {
			t.Errorf("callback_url %s: %d %s", cb, r.status, r.raw)
		}
	}
	if n := e.jobCount(); n != 2 {
		t.Fatalf("%d jobs, want the two with allowed ports", n)
	}
}

func TestWebhookAnswersBareAcknowledgementOverGRPC(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.processingJob("f-ack")
	cb, _ := url.Parse(e.callback(id))
	resp, err := e.hooks.HandleCelanturWebhook(context.Background(), &anonjobv1.HandleCelanturWebhookRequest{
		JobId: id, Token: cb.Query().Get("token"),
		Payload: &httpbody.HttpBody{ContentType: "application/json", Data: []byte(donePayload("f-ack"))}})
	if err != nil {
		t.Fatal(err)
	}
	//nolint:staticcheck // the deprecated field must stay empty
	if resp.GetOutcome() != anonjobv1.WebhookOutcome_WEBHOOK_OUTCOME_APPLIED || resp.GetJob() != nil {
		t.Fatalf("webhook answer: %v", resp)
	}
}
