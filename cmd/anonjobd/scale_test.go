package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/auth"
	"github.com/anonjob/anonjob/internal/blazeface"
	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/onnxrt"
	"github.com/anonjob/anonjob/internal/store"
)

// engineProc is one standalone built-in engine (`anonjobd engine`).
type engineProc struct {
	cmd     *exec.Cmd
	addr    string
	dataDir string
	log     string
}

func (e *engineProc) url() string { return "http://" + e.addr }
func (e *engineProc) id() string  { return e.addr } // enginepool.EngineID of its URL

func startEngine(t *testing.T, bin, addr, dataDir string) *engineProc {
	t.Helper()
	cmd, logPath := startProcess(t, bin, "engine.log", []string{"ANONJOB_ENGINE_USERNAME=u", "ANONJOB_ENGINE_PASSWORD=p"},
		"engine", "--addr", addr, "--data-dir", dataDir, "--workers", "1")
	e := &engineProc{cmd: cmd, addr: addr, dataDir: dataDir, log: logPath}
	waitReady(t, "engine never answered", logPath, func() bool {
		resp, err := http.Post(e.url()+"/v1/signin", "application/json", strings.NewReader(`{"username":"u","password":"p"}`))
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return true
	})
	return e
}

// jobsAt lists the jobs the engine was given, from the records it keeps of its files.
func (e *engineProc) jobsAt(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(e.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "record.json" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var r struct {
			Name   string
			FileID string `json:"file_id"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		out[r.Name] = append(out[r.Name], r.FileID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// startPoolReplica starts a replica on the database with the given engines and flags.
func startPoolReplica(t *testing.T, bin, dbURL, id string, engines []string, args ...string) *replica {
	t.Helper()
	all := []string{"--replica-id", id, "--rate-limit", "0"}
	for _, e := range engines {
		all = append(all, "--provider-url", e)
	}
	return startAnonjobd(t, bin, dbURL, append(all, args...)...)
}

// scaleSetup is three replicas and two standalone engines on one database.
type scaleSetup struct {
	bin      string
	dbURL    string
	db       *store.Store
	key      string
	engines  []*engineProc
	replicas []*replica
	img      []byte
}

func newScaleSetup(t *testing.T, engines int, deadAfter string) *scaleSetup {
	t.Helper()
	if !onnxrt.Available() {
		t.Skip("the built-in engine needs cgo")
	}
	faceModel, _ := blazeface.Model(0)
	if _, err := os.Stat(filepath.Join(detect.DefaultDir, faceModel)); err != nil && os.Getenv("ANONJOB_DETECTOR_DIR") == "" {
		t.Skip("no detector data (scripts/install-detector-data.sh)")
	}
	s := &scaleSetup{bin: buildBinary(t), dbURL: harness.NewDatabase(t)}
	s.db = openStore(t, s.dbURL)
	var err error
	if _, s.key, err = auth.CreateKey(context.Background(), s.db, "acme"); err != nil {
		t.Fatal(err)
	}
	var urls []string
	for range engines {
		e := startEngine(t, s.bin, freeAddr(t), t.TempDir())
		s.engines = append(s.engines, e)
		urls = append(urls, e.url())
	}
	// Each replica is told of some engines and learns the others from the database.
	for i := range 3 {
		s.replicas = append(s.replicas, startPoolReplica(t, s.bin, s.dbURL, "r"+strconv.Itoa(i),
			[]string{urls[i%len(urls)]}, "--engine-dead-after", deadAfter, "--webhook-deadline", "5s"))
	}
	return s
}

// photo is a PNG big enough to keep an engine busy for a moment (its detectors scan it),
// small enough to upload in a millisecond.
func photo(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 480, 360))
	for y := range 360 {
		for x := range 480 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func createPhotoJob(t *testing.T, base, key string, img []byte) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/jobs?face=true", bytes.NewReader(img))
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return ""
	}
	defer func() { _ = resp.Body.Close() }()
	var j struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil || resp.StatusCode != http.StatusOK || j.ID == "" {
		t.Errorf("create: %d %v", resp.StatusCode, err)
	}
	return j.ID
}

// create makes n jobs, each on a random replica, a few at a time.
func (s *scaleSetup) create(t *testing.T, n int) []string {
	t.Helper()
	if s.img == nil {
		s.img = photo(t)
	}
	ids := make([]string, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				ids[i] = createPhotoJob(t, s.replicas[rand.IntN(len(s.replicas))].base, s.key, s.img)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return ids
}

func (s *scaleSetup) processingAt(t *testing.T, engine string) int {
	t.Helper()
	n, err := s.db.CountProcessingAt(context.Background(), engine)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (s *scaleSetup) abandoned(t *testing.T, q store.AbandonedQuery) []store.Abandonment {
	t.Helper()
	out, err := s.db.Abandonments(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// receipts counts the provider webhooks of the jobs with an outcome, those naming file only
// when it is not "".
func (s *scaleSetup) receipts(t *testing.T, ids []string, outcome anonjobv1.WebhookOutcome, file string) int {
	t.Helper()
	n := 0
	for _, id := range ids {
		rs, err := s.db.Receipts(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Outcome == outcome.String() && (file == "" || r.FileID == file) {
				n++
			}
		}
	}
	return n
}

// waitDone waits for every job to be DONE and returns when that was seen.
func (s *scaleSetup) waitDone(t *testing.T, ids []string, within time.Duration) time.Time {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		byStatus, err := s.db.CountByStatus(context.Background(), ids)
		if err != nil {
			t.Fatal(err)
		}
		n := byStatus[job.StatusDone]
		if n == len(ids) {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs DONE; replica log:\n%s", n, len(ids), s.replicas[0].logs())
		}
	}
}

// checkEndedOnce checks that every job became DONE exactly once (one event), and that a job
// given to two engines had its first file given up (recorded) before the second. The one
// copy no row records is one that killed, an engine killed while it answered the upload,
// kept (docs/deploy.md): the job went to another engine as an upload without an outcome.
func (s *scaleSetup) checkEndedOnce(t *testing.T, ids []string, killed *engineProc) {
	t.Helper()
	done := map[string]int{}
	for after := int64(0); ; {
		tail, err := s.db.EventsAfter(context.Background(), after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(tail.Events) == 0 {
			break
		}
		for _, e := range tail.Events {
			if e.Job.Status == job.StatusDone {
				done[e.Job.ID]++
			}
		}
		after = tail.Events[len(tail.Events)-1].Revision
	}
	for _, id := range ids {
		if done[id] != 1 {
			t.Errorf("job %s became DONE %d times", id, done[id])
		}
	}
	at := make([]map[string][]string, len(s.engines))
	for i, e := range s.engines {
		at[i] = e.jobsAt(t)
	}
	for _, id := range ids {
		j, err := s.db.GetJob(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		givenUp := map[string]bool{}
		for _, f := range s.abandoned(t, store.AbandonedQuery{JobID: id}) {
			givenUp[f.FileID] = true
		}
		for i, e := range s.engines {
			files := at[i][id]
			if len(files) > 1 {
				t.Errorf("job %s uploaded %d times to engine %s", id, len(files), e.id())
			}
			for _, f := range files {
				switch {
				case f == j.ProviderFileID, givenUp[f]:
				case killed != nil && e.id() == killed.id():
					t.Logf("job %s: file %s at the killed engine has no record (killed while it answered the upload)", id, f)
				default:
					t.Errorf("job %s has file %s at engine %s, neither its own nor given up", id, f, e.id())
				}
			}
		}
	}
}

// checkDownloads fetches every job's anonymized image from every replica.
func (s *scaleSetup) checkDownloads(t *testing.T, ids []string) {
	t.Helper()
	for _, r := range s.replicas {
		for _, id := range ids {
			req, _ := http.NewRequest(http.MethodGet, r.base+"/v1/jobs/"+id+"/files/anonymized", nil)
			req.Header.Set("Authorization", "Bearer "+s.key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK || len(b) == 0 {
				t.Errorf("job %s from %s: %d %q", id, r.base, resp.StatusCode, b[:min(len(b), 200)])
			}
		}
	}
}

func (s *scaleSetup) enginesCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(s.bin, append([]string{"engines", "--database-url", s.dbURL}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("engines %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestEnginePool runs three replicas and two standalone engines on one database: jobs created
// on random replicas all end DONE once, one engine killed with SIGKILL during the run has its
// jobs finished by the other, every result file is served by every replica (the dead engine
// back, its late webhooks ignored), and an engine drained while busy finishes its jobs and
// gets no new ones.
func TestEnginePool(t *testing.T) {
	s := newScaleSetup(t, 2, "2s")
	n := 24
	if v, err := strconv.Atoi(os.Getenv("ANONJOB_TEST_POOL_JOBS")); err == nil && v > 0 {
		n = v
	}
	first := s.create(t, n/2)
	// Kill an engine while it holds jobs: the first one seen holding some. Both have room for
	// the whole first batch, so the dispatchers may send all of it to either one; and should
	// the jobs finish between two looks, more are created.
	killAt := -1
	for deadline, more := time.Now().Add(60*time.Second), time.Now().Add(200*time.Millisecond); ; time.Sleep(5 * time.Millisecond) {
		for i, e := range s.engines {
			if s.processingAt(t, e.id()) > 0 {
				killAt = i
				break
			}
		}
		if killAt >= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no job reached an engine; log:\n%s", s.replicas[0].logs())
		}
		if time.Now().After(more) && len(first) < 4*n {
			first = append(first, s.create(t, 2)...)
			more = time.Now().Add(200 * time.Millisecond)
		}
	}
	dead, alive := s.engines[killAt], s.engines[1-killAt]
	if err := dead.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = dead.cmd.Process.Wait()
	killed := time.Now()
	stranded := s.processingAt(t, dead.id())
	ids := append(first, s.create(t, n-n/2)...)
	done := s.waitDone(t, ids, 3*time.Minute)
	handed := len(s.abandoned(t, store.AbandonedQuery{EngineID: dead.id()}))
	t.Logf("%d jobs on the engine killed (dead after 2s), %d handed over; all %d DONE %v after the kill",
		stranded, handed, len(ids), done.Sub(killed).Round(time.Millisecond))
	if stranded > 0 && handed == 0 {
		t.Error("the dead engine's jobs were not handed over, yet ended")
	}
	for _, f := range s.abandoned(t, store.AbandonedQuery{}) {
		if f.EngineID != dead.id() {
			t.Errorf("file %s given up at %s, an engine that did not die", f.FileID, f.EngineID)
		}
	}

	s.checkEndedOnce(t, ids, dead) // the dead engine's files as it left them

	// The dead engine comes back with its files: the files given up there are deleted there,
	// and the late webhooks it sends for any it finishes first change nothing.
	dead = startEngine(t, s.bin, dead.addr, dead.dataDir)
	s.engines[killAt] = dead
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(s.enginesCmd(t, "list"), dead.id()+" "); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("engine not listed")
		}
	}
	deleted := func() int {
		n := 0
		for _, f := range s.abandoned(t, store.AbandonedQuery{}) {
			if f.Deleted {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(90 * time.Second); deleted() < handed; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the %d files given up at the engine were not deleted there once it was back", handed)
		}
	}
	for _, f := range s.abandoned(t, store.AbandonedQuery{}) {
		if n := s.receipts(t, []string{f.JobID}, anonjobv1.WebhookOutcome_WEBHOOK_OUTCOME_APPLIED, f.FileID); n != 0 {
			t.Errorf("%d webhooks for file %s, given up, were applied", n, f.FileID)
		}
	}
	late := s.receipts(t, ids, anonjobv1.WebhookOutcome_WEBHOOK_OUTCOME_IGNORED, "")
	t.Logf("the engine back: %d files given up deleted there, %d late webhooks ignored", handed, late)
	s.checkEndedOnce(t, ids, dead)
	s.checkDownloads(t, ids)

	// Drain the living engine while it is busy: its jobs finish, new jobs go to the other.
	// Tiny images finish within milliseconds, so its work is seen by the engine each job
	// records (kept after the job ends), not by catching one PROCESSING there.
	gotWork := func(ids []string) bool {
		for _, id := range ids {
			if engine, err := s.db.EngineOfJob(context.Background(), id); err == nil && engine == alive.id() {
				return true
			}
		}
		return false
	}
	more := s.create(t, 8)
	for deadline := time.Now().Add(60 * time.Second); !gotWork(more); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the engine to drain never got work")
		}
		if s.processingAt(t, alive.id()) == 0 && len(more) < 64 {
			more = append(more, s.create(t, 4)...)
		}
	}
	s.enginesCmd(t, "drain", alive.id())
	time.Sleep(time.Second) // the replicas re-read the engines every fifth of --engine-dead-after
	drained := s.processingAt(t, alive.id())
	later := s.create(t, 6)
	s.waitDone(t, append(more, later...), 3*time.Minute)
	for _, id := range later {
		if engine, err := s.db.EngineOfJob(context.Background(), id); err != nil || engine == alive.id() {
			t.Errorf("job %s, created after the drain, went to engine %q (%v)", id, engine, err)
		}
	}
	out, err := exec.Command(s.bin, "engines", "--database-url", s.dbURL, "list").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "draining") {
		t.Errorf("engines list: %v\n%s", err, out)
	}
	t.Logf("drained with %d jobs at it; they and %d later jobs DONE", drained, len(later))
}

// TestEnginePoolFigures measures the throughput of ANONJOB_POOL_FIGURES jobs (tiny images,
// created on random replicas) with one engine (the other drained) and then with two, in one
// run, and how long the jobs of an engine killed during a third run take to finish on the
// other with --engine-dead-after ANONJOB_POOL_DEAD_AFTER (default 30s). Off by default: it
// takes minutes.
func TestEnginePoolFigures(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("ANONJOB_POOL_FIGURES"))
	if err != nil || n <= 0 {
		t.Skip("set ANONJOB_POOL_FIGURES=500 to measure")
	}
	deadAfter := cmpOr(os.Getenv("ANONJOB_POOL_DEAD_AFTER"), "30s")
	s := newScaleSetup(t, 2, deadAfter)
	var tiny bytes.Buffer
	_ = png.Encode(&tiny, image.NewGray(image.Rect(0, 0, 64, 48)))
	s.img = tiny.Bytes()
	run := func(label string) []string {
		began := time.Now()
		ids := s.create(t, n)
		end := s.waitDone(t, ids, 20*time.Minute)
		took := end.Sub(began)
		t.Logf("%s: %d jobs in %v = %.1f jobs/s", label, n, took.Round(time.Millisecond), float64(n)/took.Seconds())
		return ids
	}
	s.enginesCmd(t, "drain", s.engines[1].id())
	time.Sleep(time.Duration(float64(time.Second) * 1.5))
	run("one engine")
	s.enginesCmd(t, "drain", "--resume", s.engines[1].id())
	time.Sleep(time.Duration(float64(time.Second) * 1.5))
	ids := run("two engines")
	s.checkDownloads(t, ids[:min(len(ids), 50)])

	// Kill one engine halfway through a third run.
	dead := s.engines[0]
	began := time.Now()
	ids = s.create(t, n/2)
	stranded, err := s.db.JobsAtEngine(context.Background(), dead.id(), job.StatusProcessing, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := dead.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	ids = append(ids, s.create(t, n-n/2)...)
	strandedDone := s.waitDone(t, stranded, 10*time.Minute)
	end := s.waitDone(t, ids, 20*time.Minute)
	t.Logf("engine killed with %d jobs at it: they were DONE on the other %v after the kill (--engine-dead-after %s); "+
		"the run of %d jobs took %v", len(stranded), strandedDone.Sub(killed).Round(time.Millisecond), deadAfter, n,
		end.Sub(began).Round(time.Millisecond))
	s.checkEndedOnce(t, ids, dead)
}
