package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/anonjob/anonjob/internal/anonymize"
	"github.com/anonjob/anonjob/internal/detect"

	"github.com/anonjob/anonjob/internal/onnxrt"
)

const (
	testUser = "alice"
	testPass = "s3cret"
)

// testEngine starts an engine over a real loopback HTTP server.
type testEngine struct {
	t   testing.TB
	e   *Engine
	srv *httptest.Server
	tok string
}

func startEngine(t testing.TB, mod func(*Config)) *testEngine {
	t.Helper()
	if !onnxrt.Available() && (mod == nil || !setsDetectors(mod)) {
		t.Skip("the built-in detectors need cgo")
	}
	cfg := Config{
		DataDir: t.TempDir(), Username: testUser, Password: testPass,
		PublicURL: "http://engine.invalid", Workers: 2,
		Logger:                 slog.New(slog.NewTextHandler(io.Discard, nil)),
		WebhookInitialInterval: 10e6, // 10ms: tests should not wait for retries
	}
	if mod != nil {
		mod(&cfg)
	}
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err) // names scripts/install-detector-data.sh when detector files are missing
	}
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	te := &testEngine{t: t, e: e, srv: srv}
	te.tok = te.signin(testUser, testPass, http.StatusOK)
	return te
}

func (te *testEngine) signin(user, pass string, want int) string {
	te.t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": pass})
	resp, data := te.do(http.MethodPost, "/v1/signin", "", bytes.NewReader(body))
	if resp.StatusCode != want {
		te.t.Fatalf("signin: status %d, want %d: %s", resp.StatusCode, want, data)
	}
	if want != http.StatusOK {
		return ""
	}
	var out struct {
		AccessToken string
		ExpiresIn   int
	}
	if err := json.Unmarshal(data, &out); err != nil || out.AccessToken == "" || out.ExpiresIn != 3600 {
		te.t.Fatalf("signin answer %s (%v)", data, err)
	}
	return out.AccessToken
}

// do sends a request with the raw token and returns the response and body.
func (te *testEngine) do(method, path, token string, body io.Reader) (*http.Response, []byte) {
	te.t.Helper()
	req, err := http.NewRequest(method, te.srv.URL+path, body)
	if err != nil {
		te.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		te.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		te.t.Fatal(err)
	}
	return resp, data
}

// upload posts img with the query q and decodes the JSON answer.
func (te *testEngine) upload(q url.Values, img []byte, want int) map[string]any {
	te.t.Helper()
	resp, data := te.do(http.MethodPost, "/v1/file?"+q.Encode(), te.tok, bytes.NewReader(img))
	if resp.StatusCode != want {
		te.t.Fatalf("upload %s: status %d, want %d: %s", q.Encode(), resp.StatusCode, want, data)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		te.t.Fatalf("upload answer %q: %v", data, err)
	}
	return out
}

func (te *testEngine) status(id string) map[string]any {
	te.t.Helper()
	resp, data := te.do(http.MethodGet, "/v1/file/"+id+"/status", te.tok, nil)
	if resp.StatusCode != http.StatusOK {
		te.t.Fatalf("status: %d %s", resp.StatusCode, data)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		te.t.Fatal(err)
	}
	return out
}

func faceJPEG(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../anonymize/testdata/face.jpg")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// smallPNG is a plain image with no face.
func smallPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hookReceiver records webhook calls: the raw query string and the body.
type hookReceiver struct {
	srv   *httptest.Server
	calls chan hookCall
	mu    sync.Mutex
	fails int // answer 503 this many times first
}

type hookCall struct {
	rawQuery string
	path     string
	ctype    string
	body     map[string]string
}

func newHookReceiver(t testing.TB, fails int) *hookReceiver {
	h := &hookReceiver{calls: make(chan hookCall, 16), fails: fails}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		fail := h.fails > 0
		h.fails--
		h.mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var body map[string]string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		h.calls <- hookCall{rawQuery: r.URL.RawQuery, path: r.URL.Path, ctype: r.Header.Get("Content-Type"), body: body}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// blockingDetector holds every detection until released, so tests can
// observe the queued and processing states and fill the queue.
type blockingDetector struct {
	started chan struct{}
	release chan struct{}
}

func newBlockingDetector() *blockingDetector {
	return &blockingDetector{started: make(chan struct{}, 16), release: make(chan struct{})}
}

// detectors uses b for faces, so each image starts it once, and finds no
// plates, persons or vehicles.
func (b *blockingDetector) detectors() *anonymize.Detectors {
	return &anonymize.Detectors{Faces: b, Plates: nothing{}, Objects: nothing{}}
}

// nothing is a detector that finds nothing.
type nothing struct{}

func (nothing) Detect(context.Context, *image.RGBA) ([]detect.Detection, error) { return nil, nil }

func (nothing) DetectInVehicles(context.Context, *image.RGBA, []image.Rectangle) ([]detect.Detection, error) {
	return nil, nil
}

func (b *blockingDetector) Detect(ctx context.Context, _ *image.RGBA) ([]detect.Detection, error) {
	b.started <- struct{}{}
	select {
	case <-b.release:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// setsDetectors reports whether mod brings its own detectors, so the engine needs none of
// the installed ones.
func setsDetectors(mod func(*Config)) bool {
	var c Config
	mod(&c)
	return c.Detectors != nil
}

func (nothing) DetectObjects(ctx context.Context, img *image.RGBA, _ bool) ([]detect.Detection, error) {
	return nil, nil
}
