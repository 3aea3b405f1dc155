package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/server"
)

// busyEngine stands in for an engine that holds at most capacity files: an upload beyond
// that is refused with 429 and a Retry-After of an hour, so a job parked for it would not end
// within the test. A file is done a moment after its upload, and its webhook sent.
type busyEngine struct {
	*httptest.Server
	capacity int
	tell     bool // answer GET /v1/capacity, as anonjob's engine does

	mu        sync.Mutex
	held      int
	maxHeld   int
	uploads   int
	refusals  int
	completed sync.WaitGroup
}

func newBusyEngine(t *testing.T, capacity int, tell bool) *busyEngine {
	f := &busyEngine{capacity: capacity, tell: tell}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/signin", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"AccessToken":"tok","ExpiresIn":3600}`)
	})
	mux.HandleFunc("GET /v1/capacity", func(w http.ResponseWriter, r *http.Request) {
		if !f.tell {
			http.NotFound(w, r)
			return
		}
		_, _ = fmt.Fprintf(w, `{"capacity":%d}`, f.capacity)
	})
	mux.HandleFunc("POST /v1/file", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.uploads++
		if f.held >= f.capacity {
			f.refusals++
			f.mu.Unlock()
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"message":"queue full"}`)
			return
		}
		f.held++
		f.maxHeld = max(f.maxHeld, f.held)
		id := fmt.Sprintf("file-%d", f.uploads)
		f.completed.Add(1)
		f.mu.Unlock()
		hook := r.URL.Query().Get("webhook")
		_, _ = fmt.Fprintf(w, `{"customer_id":"c","file_id":%q,"file_status":"queued","webhook_status":"set"}`, id)
		go f.finish(t, id, hook)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// finish completes a file: it leaves the engine, then the webhook goes out.
func (f *busyEngine) finish(t *testing.T, id, hook string) {
	defer f.completed.Done()
	time.Sleep(5 * time.Millisecond)
	f.mu.Lock()
	f.held--
	f.mu.Unlock()
	body, _ := json.Marshal(map[string]string{"customer_id": "c", "file_id": id, "file_status": "done",
		"anonymized_link": f.URL + "/v1/file/" + id + "/anonymized"})
	for range 50 {
		resp, err := http.Post(hook, "application/json", bytes.NewReader(body))
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("webhook for %s not accepted", id)
}

func (f *busyEngine) counts() (uploads, refusals, maxHeld int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.uploads, f.refusals, f.maxHeld
}

// TestFlowControlKeepsTheEngineFull: jobs far beyond an engine's capacity all end, none
// parked for the engine's Retry-After and none charged an attempt for a refusal, while the
// engine is filled to its capacity. An engine that tells its capacity is never refused at
// all; one that does not is found out from its 429 answers, the dispatcher's default
// concurrency notwithstanding: its slow start meets the engine with a few uploads, not 32.
func TestFlowControlKeepsTheEngineFull(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tell bool
		flag int // --provider-concurrency
	}{
		{"told by the engine", true, 0},
		{"told by the flag", false, 3},
		{"found from 429s", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const capacity, jobs = 3, 60
			eng := newBusyEngine(t, capacity, tc.tell)
			queued := newEnv(t) // jobs wait while no dispatcher runs
			for range jobs {
				queued.createJob(t)
			}
			e := startOn(t, queued.dbURL, func(c *server.Config) {
				c.Dispatch = true
				c.ProviderURL = eng.URL
				c.ProviderCredentials.Username, c.ProviderCredentials.Password = "u", "p"
				c.ProviderConcurrency = tc.flag
			})
			for deadline := time.Now().Add(2 * time.Minute); e.jobCount(job.StatusDone) < jobs; {
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d jobs done; the others were parked", e.jobCount(job.StatusDone), jobs)
				}
				time.Sleep(10 * time.Millisecond)
			}
			eng.completed.Wait()
			uploads, refusals, maxHeld := eng.counts()
			if n := e.jobsCharged(func(attempts int) bool { return attempts != 1 }); n != 0 {
				t.Errorf("%d jobs were charged other than their one upload", n)
			}
			if uploads-refusals != jobs {
				t.Errorf("%d uploads accepted, want %d", uploads-refusals, jobs)
			}
			if maxHeld != capacity {
				t.Errorf("the engine held at most %d files, want it filled to %d", maxHeld, capacity)
			}
			if (tc.tell || tc.flag > 0) && refusals != 0 {
				t.Errorf("%d uploads refused although the capacity was known", refusals)
			}
			// At the default dispatch concurrency (32), first contact without a slow start
			// alone would be refused 29 times; the slow start's first round is 4 uploads, and
			// the probing after it costs at most one refusal per climb of the limit from 2 back
			// to 4, which takes six accepted uploads.
			if refusals > jobs/3 {
				t.Errorf("%d refusals for %d jobs: the limit started too high or did not come down", refusals, jobs)
			}
			t.Logf("%d uploads, %d refused", uploads, refusals)
		})
	}
}
