package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/auth"
	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/server"
	"github.com/anonjob/anonjob/internal/server/servertest"

	"github.com/anonjob/anonjob/internal/onnxrt"
)

var harness *pgtest.Harness

func TestMain(m *testing.M) { pgtest.Main(m, &harness) }

// startServer runs a server and returns its address and an API key for it.
func startServer(t *testing.T, dispatch bool) (string, string) {
	t.Helper()
	cfg := servertest.Config(t, harness.NewDatabase(t))
	cfg.Dispatch = dispatch
	srv, keys := servertest.Start(t, cfg, "cli")
	<-srv.Hub.Ready()
	return srv.GRPCAddr().String(), keys[0]
}

// startKey makes an API key on srv and returns srv's gRPC address and the key.
func startKey(t *testing.T, srv *server.Server) (string, string) {
	t.Helper()
	_, key, err := auth.CreateKey(context.Background(), srv.Store, "cli")
	if err != nil {
		t.Fatal(err)
	}
	return srv.GRPCAddr().String(), key
}

func writePNG(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "photo.png")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runCLI runs the command and returns its exit code, stdout and stderr.
func runCLI(ctx context.Context, addr string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	// addr is "host:port key" as startServer's results joined by a space.
	a, key, _ := strings.Cut(addr, " ")
	code := run(ctx, append([]string{"--addr", a, "--api-key", key}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCommands(t *testing.T) {
	t.Parallel()
	addr := strings.Join(pair(startServer(t, false)), " ")
	ctx := context.Background()
	img := writePNG(t)

	code, out, errOut := runCLI(ctx, addr, "--json", "submit", img, "--method", "pixelate", "--face")
	if code != 0 || !strings.Contains(out, `"status":"JOB_STATUS_QUEUED"`) || !strings.Contains(out, `"method":"pixelate"`) {
		t.Fatalf("submit: %d %q %q", code, out, errOut)
	}
	id := between(out, `"id":"`, `"`)

	if code, out, _ := runCLI(ctx, addr, "get", id); code != 0 || !strings.Contains(out, "QUEUED") || !strings.Contains(out, "face") {
		t.Fatalf("get: %d %q", code, out)
	}
	if code, out, _ := runCLI(ctx, addr, "list", "--status", "queued"); code != 0 || !strings.Contains(out, id) {
		t.Fatalf("list: %d %q", code, out)
	}
	// submit --wait follows the job; a cancel from elsewhere ends it, and the exit code says
	// it did not complete.
	waitDone := make(chan [3]string)
	go func() {
		code, out, errOut := runCLI(ctx, addr, "submit", img, "--request-id", "w-1", "--wait")
		waitDone <- [3]string{string(rune('0' + code)), out, errOut}
	}()
	var waited string
	for deadline := time.Now().Add(20 * time.Second); waited == "" && time.Now().Before(deadline); {
		_, out, _ := runCLI(ctx, addr, "--json", "list", "--status", "queued")
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, `"request_id":"w-1"`) {
				waited = between(line, `"id":"`, `"`)
			}
		}
	}
	if code, out, _ := runCLI(ctx, addr, "cancel", waited); code != 0 || !strings.Contains(out, "CANCELLED") {
		t.Fatalf("cancel: %d %q", code, out)
	}
	res := <-waitDone
	if res[0] != "3" || !strings.Contains(res[2], "CANCELLED") {
		t.Fatalf("submit --wait: exit %s, stdout %q, stderr %q", res[0], res[1], res[2])
	}
	// watch replays from a revision until stopped.
	// It runs until stopped, so it is stopped after a while; a busy machine may need longer
	// to start it and replay.
	for wait := 500 * time.Millisecond; wait <= 8*time.Second; wait *= 2 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		_, out, _ = runCLI(wctx, addr, "watch", "--since", "1")
		cancel()
		if strings.Contains(out, "QUEUED -> CANCELLED") {
			break
		}
	}
	if !strings.Contains(out, waited) || !strings.Contains(out, "QUEUED -> CANCELLED") {
		t.Fatalf("watch: %q", out)
	}
	// Errors name their reason; usage errors exit 2.
	if code, _, errOut := runCLI(ctx, addr, "get", "0190c6f2-0000-7000-8000-000000000000"); code != 1 || !strings.Contains(errOut, "JOB_NOT_FOUND") {
		t.Fatalf("get unknown: %d %q", code, errOut)
	}
	if code, _, _ := runCLI(ctx, addr, "frobnicate"); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
	// The webhook secret rotates, printing the new one on its last line.
	code, out, _ = runCLI(ctx, addr, "webhook-secret", "rotate")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || !strings.HasPrefix(lines[len(lines)-1], "whsec_") {
		t.Fatalf("webhook-secret rotate: %d %q", code, out)
	}
	if code, out, errOut := runCLI(ctx, addr, "deliveries", waited); code != 0 || out != "" {
		t.Fatalf("deliveries of a job without callback: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(ctx, addr, "redeliver", waited); code != 1 || !strings.Contains(errOut, "NOTHING_TO_DELIVER") {
		t.Fatalf("redeliver without callback: %d %q", code, errOut)
	}
	if code, out, _ := runCLI(ctx, addr, "--help"); code != 0 || !strings.Contains(out, "submit") {
		t.Fatalf("--help: %d %q", code, out)
	}
}

func pair(a, b string) []string { return []string{a, b} }

func between(s, from, to string) string {
	_, after, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(after, to)
	return v
}

// TestSubmitWaitWithBuiltInEngine: the whole flow from the command line.
func TestSubmitWaitWithBuiltInEngine(t *testing.T) {
	if !onnxrt.Available() {
		t.Skip("the built-in engine needs cgo")
	}
	t.Parallel()
	addr := strings.Join(pair(startServer(t, true)), " ")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code, out, errOut := runCLI(ctx, addr, "--json", "submit", writePNG(t), "--wait")
	if code != 0 || !strings.Contains(out, "JOB_STATUS_DONE") {
		t.Fatalf("submit --wait: %d %q %q", code, out, errOut)
	}
	for _, step := range []string{"QUEUED", "PROCESSING", "DONE"} {
		if !strings.Contains(errOut, step) {
			t.Fatalf("progress lacks %s: %q", step, errOut)
		}
	}
	id := between(out, `"id":"`, `"`)
	dst := filepath.Join(t.TempDir(), "anonymized.png")
	if code, _, errOut := runCLI(ctx, addr, "fetch", id, "anonymized", "-o", dst); code != 0 {
		t.Fatalf("fetch: %d %q", code, errOut)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Fatalf("fetched file is not a PNG: %v", err)
	}
}
