package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/onnxrt"
	"github.com/anonjob/anonjob/internal/server"
	"github.com/anonjob/anonjob/internal/server/servertest"
	"github.com/anonjob/anonjob/internal/testlog"
)

// writeImages makes a folder of distinct PNGs, one in a subfolder, and a file that is not
// an image (which a folder search must pass over).
func writeImages(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for i, name := range []string{"a.png", "b.png", filepath.Join("sub", "c.png")} {
		img := image.NewGray(image.Rect(0, 0, 8, 8))
		img.SetGray(i, i, color.Gray{Y: 200}) // distinct content, distinct jobs
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func countJobs(t *testing.T, addr string) int {
	t.Helper()
	code, out, errOut := runCLI(context.Background(), addr, "--json", "list", "--all")
	if code != 0 {
		t.Fatalf("list: %d %s", code, errOut)
	}
	return strings.Count(out, `"id":`)
}

func TestSubmitFolderWaitAndSave(t *testing.T) {
	if !onnxrt.Available() {
		t.Skip("the built-in engine needs cgo")
	}
	t.Parallel()
	addr := strings.Join(pair(startServer(t, true)), " ")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir, out := writeImages(t), t.TempDir()

	code, stdout, stderr := runCLI(ctx, addr, "submit", dir, "--wait", "--out", out, "--files", "anonymized,metadata", "--concurrency", "2")
	if code != 0 {
		t.Fatalf("submit: %d\n%s\n%s", code, stdout, stderr)
	}
	if n := strings.Count(stdout, "DONE "); n != 3 {
		t.Fatalf("want one DONE line per image, got %d:\n%s", n, stdout)
	}
	if !strings.Contains(stderr, "3 images: 3 done, 0 failed, 0 cancelled, 0 rejected; 6 files saved, 0 already there") {
		t.Fatalf("summary: %s", stderr)
	}
	for _, name := range []string{"a.png", "b.png", "sub/c.png"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Fatalf("%s is not a PNG: %v", name, err)
		}
		meta, err := os.ReadFile(filepath.Join(out, strings.TrimSuffix(name, ".png")+".metadata.json"))
		if err != nil || !json.Valid(meta) {
			t.Fatalf("metadata of %s: %v %q", name, err, meta)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "notes.txt")); err == nil {
		t.Fatal("a text file was submitted")
	}

	// Again: the same jobs (no new ones), nothing downloaded twice.
	before := countJobs(t, addr)
	code, stdout, stderr = runCLI(ctx, addr, "submit", dir, "--wait", "--out", out, "--files", "anonymized,metadata")
	if code != 0 || !strings.Contains(stderr, "0 files saved, 6 already there") || strings.Count(stdout, "already saved") != 3 {
		t.Fatalf("re-run: %d\n%s\n%s", code, stdout, stderr)
	}
	if after := countJobs(t, addr); after != before || before != 3 {
		t.Fatalf("jobs before the re-run %d, after %d", before, after)
	}

	// fetch --all saves every file the job has.
	id := strings.Fields(strings.Split(stdout, "\n")[0])[2]
	all := t.TempDir()
	if code, _, stderr := runCLI(ctx, addr, "fetch", id, "--all", "--out", all); code != 0 {
		t.Fatalf("fetch --all: %d %s", code, stderr)
	}
	entries, _ := os.ReadDir(all)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	for _, want := range []string{id + ".png", id + ".original.png", id + ".metadata.json", id + ".binary-mask.png"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("fetch --all lacks %s: %v", want, names)
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("never: %s", what)
}

// TestBatchExitsNonZeroWhenJobsDoNotComplete: a batch whose jobs are cancelled ends with a
// summary and exit 3.
func TestBatchExitsNonZeroWhenJobsDoNotComplete(t *testing.T) {
	t.Parallel()
	addr := strings.Join(pair(startServer(t, false)), " ")
	ctx := context.Background()
	dir := writeImages(t)
	res := make(chan [3]string, 1)
	go func() {
		code, out, errOut := runCLI(ctx, addr, "submit", filepath.Join(dir, "*.png"), "--wait")
		res <- [3]string{string(rune('0' + code)), out, errOut}
	}()
	eventually(t, "both jobs queued", func() bool { return countJobs(t, addr) == 2 })
	_, out, _ := runCLI(ctx, addr, "--json", "list")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if code, _, errOut := runCLI(ctx, addr, "cancel", between(line, `"id":"`, `"`)); code != 0 {
			t.Fatalf("cancel: %s", errOut)
		}
	}
	r := <-res
	if r[0] != "3" || strings.Count(r[1], "CANCELLED ") != 2 || !strings.Contains(r[2], "2 images: 0 done, 0 failed, 2 cancelled") {
		t.Fatalf("exit %s\n%s\n%s", r[0], r[1], r[2])
	}
}

// TestWatchResumesAcrossServerRestart: the watch command rides out a server restart and
// prints every event once.
func TestWatchResumesAcrossServerRestart(t *testing.T) {
	t.Parallel()
	dbURL := harness.NewDatabase(t)
	start := func(grpcAddr string) *server.Server {
		cfg := servertest.Config(t, dbURL)
		cfg.GRPCAddr, cfg.Dispatch = grpcAddr, false
		cfg.ShutdownTimeout = 2 * time.Second
		srv, err := server.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		<-srv.Hub.Ready()
		return srv
	}
	first := start("127.0.0.1:0")
	grpcAddr := first.GRPCAddr().String()
	_, key := startKey(t, first)
	addr := grpcAddr + " " + key
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	img := writePNG(t)
	// A first job, so that the next one's revision is above 1 and since_revision (its
	// revision minus one) is not 0, which would mean "only new events".
	if code, out, _ := runCLI(ctx, addr, "submit", img, "--request-id", "first"); code != 0 {
		t.Fatal(out)
	}
	code, out, _ := runCLI(ctx, addr, "--json", "submit", img, "--request-id", "before")
	if code != 0 {
		t.Fatal(out)
	}
	before := between(out, `"id":"`, `"`)
	var created struct {
		Revision string `json:"revision"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	since, err := strconv.ParseInt(created.Revision, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr testlog.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--addr", grpcAddr, "--api-key", key, "watch", "--since", strconv.FormatInt(since-1, 10)}, &stdout, &stderr)
	}()
	eventually(t, "the first job's event", func() bool { return strings.Contains(stdout.String(), before) })

	first.Close()
	second := start(grpcAddr)
	t.Cleanup(second.Close)
	code, out, _ = runCLI(ctx, addr, "--json", "submit", img, "--request-id", "after")
	if code != 0 {
		t.Fatal(out)
	}
	after := between(out, `"id":"`, `"`)
	if code, _, errOut := runCLI(ctx, addr, "cancel", before); code != 0 {
		t.Fatal(errOut)
	}
	eventually(t, "the events after the restart", func() bool {
		s := stdout.String()
		return strings.Contains(s, after) && strings.Contains(s, before+"  QUEUED -> CANCELLED")
	})
	cancel()
	<-done
	s := stdout.String()
	if strings.Count(s, before) != 2 || strings.Count(s, after) != 1 {
		t.Fatalf("every event once:\n%s", s)
	}
	if !strings.Contains(stderr.String(), "resuming from revision") {
		t.Fatalf("stderr: %s", stderr.String())
	}
}

func TestExpandInputs(t *testing.T) {
	t.Parallel()
	dir := writeImages(t)
	for _, tc := range []struct {
		args []string
		want []string // rel names
	}{
		{[]string{dir}, []string{"a.png", "b.png", filepath.Join("sub", "c.png")}},
		{[]string{filepath.Join(dir, "*.png")}, []string{"a.png", "b.png"}},
		{[]string{filepath.Join(dir, "*", "*.png")}, []string{filepath.Join("sub", "c.png")}},
		{[]string{filepath.Join(dir, "a.png"), dir}, []string{"a.png", "b.png", filepath.Join("sub", "c.png")}},
	} {
		got, err := expandInputs(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		var rels []string
		for _, in := range got {
			rels = append(rels, in.rel)
		}
		if strings.Join(rels, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%v: got %v, want %v", tc.args, rels, tc.want)
		}
	}
	for _, bad := range []string{filepath.Join(dir, "missing.png"), filepath.Join(dir, "*.gif"), t.TempDir()} {
		if _, err := expandInputs([]string{bad}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
