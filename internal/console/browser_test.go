package console_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/anonjob/anonjob/internal/netguard"
	"github.com/anonjob/anonjob/internal/onnxrt"
	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/server/servertest"
)

var harness *pgtest.Harness

func TestMain(m *testing.M) { pgtest.Main(m, &harness) }

// chromium finds the browser: ANONJOB_CHROMIUM, else Debian's chromium or another common name.
func chromium() string {
	if p := os.Getenv("ANONJOB_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestConsoleInBrowser drives the console in a real headless Chromium against a real anonjobd
// with its built-in engine: sign in with a key, upload an image, watch its row reach DONE
// without a reload, open the job and find both images loaded, the mask overlay drawn and the
// client webhook delivered; redeliver it; and see nothing of another customer's.
func TestConsoleInBrowser(t *testing.T) {
	if !onnxrt.Available() {
		t.Skip("the built-in engine needs cgo")
	}
	browser := chromium()
	if browser == "" {
		t.Skip("no Chromium found (apt-get install chromium, or set ANONJOB_CHROMIUM); .ci/run installs it")
	}
	var hooks atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hooks.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	cfg := servertest.Config(t, harness.NewDatabase(t))
	cfg.MaxDBConns = 8
	cfg.CallbackAllowCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cfg.CallbackAllowPorts = netguard.AllPorts() // the webhook receiver listens on a random port
	srv, keys := servertest.Start(t, cfg, "acme", "rival")
	key, rivalKey := keys[0], keys[1]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	api := "http://" + srv.HTTPAddr().String()
	face, err := os.ReadFile(filepath.Join("..", "anonymize", "testdata", "face.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	rivalJob := createJob(t, api, rivalKey, face, "image/jpeg")
	// The browser reaches anonjobd through a proxy that can cut its connections and hold watch
	// streams off, as a flaky network or a restarting server would.
	cut := newCutter(t, api)
	base := cut.URL

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1100))...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()

	// Every console message, so that a refused script or style (CSP) or an exception fails the test.
	var mu sync.Mutex
	var messages []string
	console := chromedp.Console(tab)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			mu.Lock()
			messages = append(messages, fmt.Sprintf("%s: %s (%s)", m.Type, m, m.URL))
			mu.Unlock()
		}
	}()

	image, err := filepath.Abs(filepath.Join("..", "anonymize", "testdata", "face.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(tab, 90*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			page, _ := chromedp.Run(tab, chromedp.Evaluate[string](`location.href + '\n' + document.body.innerText`))
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("%s: %v\npage: %s\nconsole:\n%s", what, err, page, strings.Join(messages, "\n"))
		}
	}
	wait := func(what, predicate string) {
		t.Helper()
		step(what, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(90*time.Second)))
	}

	step("sign in",
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("api-key")),
		chromedp.SendKeys(chromedp.ID("api-key"), key),
		chromedp.Click(chromedp.ID("signin-submit")),
		chromedp.WaitVisible(chromedp.ID("upload-files")))
	// A mark that a reload would wipe out.
	step("mark the page", chromedp.Evaluate[chromedp.Void](`window.sameDocument = true`))
	wait("watch stream live", `document.getElementById('live').dataset.state === 'live'`)
	step("upload",
		chromedp.SetUploadFiles(chromedp.ID("upload-files"), []string{image}),
		chromedp.SendKeys(chromedp.ID("upload-callback"), receiver.URL+"/hook"),
		chromedp.Click(chromedp.ID("upload-submit")))
	wait("the new job's row", `document.querySelectorAll('#jobs-body tr').length === 1`)
	id, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector('#jobs-body tr').dataset.id`))
	if err != nil {
		t.Fatal(err)
	}
	wait("the row reaches DONE", fmt.Sprintf(`document.querySelector('#jobs-body tr[data-id=%q]')?.dataset.status === 'DONE'`, id))
	if same, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.sameDocument === true`)); err != nil || !same {
		t.Fatalf("the page was reloaded (%v)", err)
	}
	rows, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#jobs-body tr')].map(r => r.dataset.id)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0] != id || id == rivalJob {
		t.Fatalf("rows %v: want only the uploaded job %s (never the rival's %s)", rows, id, rivalJob)
	}

	// A disconnect: streams are cut and refused while a job is created and finishes. When the
	// page gets through again it resumes from the last revision it saw, so the job's events,
	// all committed while it was away, still reach its table.
	cut.down.Store(true)
	cut.CloseClientConnections()
	wait("watch reconnecting", `document.getElementById('live').dataset.state === 'reconnecting'`)
	missed := createJob(t, api, key, face, "image/jpeg")
	waitDone(t, api, key, missed)
	cut.down.Store(false)
	wait("the job made while away reaches the table", fmt.Sprintf(
		`document.querySelector('#jobs-body tr[data-id=%q]')?.dataset.status === 'DONE'`, missed))
	if since := cut.lastSince(); since == "" || since == "0" {
		t.Fatalf("the page watched again with since_revision=%q, not from where it was", since)
	}
	if same, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.sameDocument === true`)); err != nil || !same {
		t.Fatalf("the page was reloaded (%v)", err)
	}
	shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	saveScreenshot(t, "console-jobs.png", shot)

	step("open the job",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#jobs-body tr[data-id=%q] a`, id))))
	wait("the job page", `document.getElementById('job-status')?.dataset.status === 'DONE'`)
	wait("both images loaded", `['original', 'anonymized'].every(i => {
		const img = document.getElementById(i);
		return img.complete && img.naturalWidth > 0 && img.src.startsWith('blob:');
	})`)
	wait("detections listed", `document.querySelectorAll('#detections-body tr').length > 0`)
	step("show the mask", chromedp.Click(chromedp.ID("mask-toggle")))
	wait("mask drawn", `(() => { const c = document.getElementById('mask-overlay'); return !c.hidden && c.width > 0; })()`)
	wait("webhook delivered", `document.querySelector('.delivery[data-state=SUCCEEDED]') !== null`)
	if cancelled, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.getElementById('cancel').disabled`)); err != nil || !cancelled {
		t.Fatalf("cancel is offered for a finished job (%v)", err)
	}

	if shot, err = chromedp.Run(tab, chromedp.FullScreenshot(100)); err != nil {
		t.Fatal(err)
	}
	saveScreenshot(t, "console-job.png", shot)

	step("redeliver", chromedp.Click(chromedp.ID("redeliver")))
	wait("second delivery", `document.querySelectorAll('.delivery[data-state=SUCCEEDED]').length === 2`)
	if n := hooks.Load(); n != 2 {
		t.Fatalf("the receiver got %d webhooks, want 2", n)
	}

	// The key lives in this tab's session storage only and was never part of a URL.
	urls, err := chromedp.Run(tab, chromedp.Evaluate[[]string](
		`[location.href, ...performance.getEntriesByType('resource').map(e => e.name)]`))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range urls {
		// The secret is base64url and may itself hold '_': split off the prefix and id only.
		if strings.Contains(u, key) || strings.Contains(u, strings.SplitN(key, "_", 3)[2]) {
			t.Errorf("the key is in a URL: %s", u)
		}
	}
	stored, err := chromedp.Run(tab, chromedp.Evaluate[[]string](
		`[sessionStorage.getItem('anonjob.apiKey') || '', Object.keys(localStorage).join(','), document.cookie]`))
	if err != nil {
		t.Fatal(err)
	}
	if stored[0] != key || stored[1] != "" || stored[2] != "" {
		t.Errorf("storage: session %t, local %q, cookies %q", stored[0] == key, stored[1], stored[2])
	}
	// Paging and filters: 11 more jobs make 13, two pages of 10.
	small := tinyPNG(t)
	for range 11 {
		createJob(t, api, key, small, "image/png")
	}
	step("back to the table", chromedp.Click(chromedp.CSS(`main a[href="#/"]`)))
	wait("13 jobs listed", `document.querySelectorAll('#jobs-body tr').length === 13`)
	step("10 per page", chromedp.SetValue(chromedp.ID("page-size"), "10"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('page-size').dispatchEvent(new Event('change'))`))
	wait("first page", `document.querySelectorAll('#jobs-body tr').length === 10 && !document.getElementById('page-next').disabled`)
	step("older", chromedp.Click(chromedp.ID("page-next")))
	wait("second page", `document.querySelectorAll('#jobs-body tr').length === 3 && document.getElementById('page-next').disabled`)
	if last, err := chromedp.Run(tab, chromedp.Evaluate[string](`[...document.querySelectorAll('#jobs-body tr')].pop().dataset.id`)); err != nil || last != rows[0] {
		t.Fatalf("the oldest job %q is not last on the last page: %q (%v)", rows[0], last, err)
	}
	step("filter cancelled", chromedp.Click(chromedp.CSS(`#status-filters input[value=CANCELLED]`)))
	wait("no cancelled jobs", `document.querySelectorAll('#jobs-body tr').length === 0 && !document.getElementById('jobs-empty').hidden`)
	step("filter done too", chromedp.Click(chromedp.CSS(`#status-filters input[value=DONE]`)))
	wait("the finished jobs", `[...document.querySelectorAll('#jobs-body tr')].some(r => r.dataset.status === 'DONE') &&
		[...document.querySelectorAll('#jobs-body tr')].every(r => r.dataset.status === 'DONE')`)

	cancelTab() // ends the console reader
	mu.Lock()
	defer mu.Unlock()
	for _, m := range messages {
		if strings.Contains(m, "Failed to load resource") && strings.Contains(m, "/v1/jobs:watch") {
			continue // the streams the proxy cut and refused
		}
		if strings.Contains(m, "Content Security Policy") || strings.HasPrefix(m, "exception") || strings.HasPrefix(m, "error") {
			t.Errorf("browser console: %s", m)
		}
	}
}

// createJob submits an image over REST as the key's customer.
func createJob(t *testing.T, base, key string, data []byte, contentType string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, base+"/v1/jobs?face=true", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create job: %d %s", resp.StatusCode, body)
	}
	_, rest, _ := strings.Cut(string(body), `"id":"`)
	id, _, _ := strings.Cut(rest, `"`)
	return id
}

// saveScreenshot writes the screenshot under the test's temp dir, and also into
// ANONJOB_SCREENSHOT_DIR when set, to look at after the run.
func saveScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	dirs := []string{t.TempDir()}
	if d := os.Getenv("ANONJOB_SCREENSHOT_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", p, len(png))
	}
}

// cutter is a reverse proxy in front of anonjobd that can drop every connection and, while
// down, refuse watch streams. It remembers the since_revision of the last watch request.
type cutter struct {
	*httptest.Server
	down  atomic.Bool
	mu    sync.Mutex
	since string
}

func newCutter(t *testing.T, target string) *cutter {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.FlushInterval = -1 // pass watch messages on as they come
	proxy.ErrorLog = nil
	c := &cutter{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/jobs:watch" {
			if c.down.Load() {
				http.Error(w, `{"code":14,"message":"unavailable"}`, http.StatusServiceUnavailable)
				return
			}
			c.mu.Lock()
			c.since = r.URL.Query().Get("since_revision")
			c.mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *cutter) lastSince() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.since
}

// waitDone polls the job over REST until it is DONE.
func waitDone(t *testing.T, base, key, id string) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, base+"/v1/jobs/"+id, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if strings.Contains(string(body), `"status":"JOB_STATUS_DONE"`) {
			return
		}
		if strings.Contains(string(body), `"JOB_STATUS_FAILED"`) {
			t.Fatalf("job %s failed: %s", id, body)
		}
	}
	t.Fatalf("job %s did not finish", id)
}

func tinyPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 24, 16))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
