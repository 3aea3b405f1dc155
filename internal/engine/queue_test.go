package engine

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestQueueFullAndNotDone holds the only worker so the states before done
// and the full queue can be observed.
func TestQueueFullAndNotDone(t *testing.T) {
	t.Parallel()
	det := newBlockingDetector()
	te := startEngine(t, func(c *Config) {
		c.Detectors = det.detectors()
		c.Workers = 1
		c.QueueSize = 1
	})
	img := smallPNG(t)
	first := te.upload(mustQuery(t, "method=blur"), img, http.StatusOK)["file_id"].(string)
	<-det.started // the worker holds the first file
	second := te.upload(mustQuery(t, "method=pixelate"), img, http.StatusOK)["file_id"].(string)

	resp, data := te.do(http.MethodPost, "/v1/file?method=blur", te.tok, bytes.NewReader(img))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("full queue: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), data)
	}
	// The capacity it tells is exactly what it held before refusing.
	resp, data = te.do(http.MethodGet, "/v1/capacity", te.tok, nil)
	if resp.StatusCode != http.StatusOK || string(data) != `{"capacity":2,"workers":1,"queue_size":1}`+"\n" {
		t.Errorf("capacity: %d %s", resp.StatusCode, data)
	}
	if resp, _ := te.do(http.MethodGet, "/v1/capacity", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("capacity without a token: %d", resp.StatusCode)
	}

	if s := te.status(first)["file_status"]; s != statusProcessing {
		t.Errorf("first file %v, want processing", s)
	}
	if s := te.status(second)["file_status"]; s != statusQueued {
		t.Errorf("second file %v, want queued", s)
	}
	for _, kind := range []string{"anonymized", "binary-mask", "instance-mask", "metadata"} {
		resp, data := te.do(http.MethodGet, "/v1/file/"+second+"/"+kind, te.tok, nil)
		if resp.StatusCode != http.StatusConflict || !strings.Contains(string(data), "queued") {
			t.Errorf("%s before done: %d %s", kind, resp.StatusCode, data)
		}
	}
	resp, _ = te.do(http.MethodGet, "/v1/file/"+second+"/original", te.tok, nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("original while queued: %d", resp.StatusCode)
	}
	if s := te.status(first)["webhook_status"]; s != webhookEmpty {
		t.Errorf("webhook_status without webhook: %v", s)
	}
	close(det.release)
	waitStatus(t, te, first, statusDone)
	waitStatus(t, te, second, statusDone)
}

// TestWebhookFailure checks that a receiver that keeps refusing ends in
// webhook_status failed, and a failed file still notifies.
func TestWebhookFailure(t *testing.T) {
	t.Parallel()
	hook := newHookReceiver(t, 1000)
	te := startEngine(t, func(c *Config) { c.WebhookAttempts = 3 })
	q := url.Values{"method": {"blur"}, "webhook": {hook.srv.URL + "/h?x=1"}}
	id := te.upload(q, faceJPEG(t)[:600], http.StatusOK)["file_id"].(string)
	st := waitWebhook(t, te, id, webhookFailed)
	if st["file_status"] != statusFailed {
		t.Fatalf("status %v", st)
	}
}

// TestRestartResumes checks that queued files survive Close and are
// processed by the next engine on the same data dir.
func TestRestartResumes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	det := newBlockingDetector()
	te := startEngine(t, func(c *Config) {
		c.DataDir = dir
		c.Detectors = det.detectors()
		c.Workers = 1
	})
	img := smallPNG(t)
	first := te.upload(mustQuery(t, "method=blur"), img, http.StatusOK)["file_id"].(string)
	<-det.started
	second := te.upload(mustQuery(t, "method=blur"), img, http.StatusOK)["file_id"].(string)
	close(det.release) // the worker finishes the first file while closing
	if err := te.e.Close(); err != nil {
		t.Fatal(err)
	}

	te2 := startEngine(t, func(c *Config) { c.DataDir = dir })
	waitStatus(t, te2, first, statusDone)
	waitStatus(t, te2, second, statusDone)
}

// TestMetricsOfBusyAndQueued holds the only worker and checks the gauges read the pool.
func TestMetricsOfBusyAndQueued(t *testing.T) {
	t.Parallel()
	det := newBlockingDetector()
	reg := prometheus.NewRegistry()
	te := startEngine(t, func(c *Config) {
		c.Detectors = det.detectors()
		c.Workers, c.QueueSize = 1, 2
		c.Metrics = reg
	})
	img := smallPNG(t)
	te.upload(mustQuery(t, "method=blur"), img, http.StatusOK)
	<-det.started // the worker holds the first file
	te.upload(mustQuery(t, "method=blur"), img, http.StatusOK)
	want := `
# HELP anonjob_engine_queue_length Images accepted by the built-in engine and waiting for a worker.
# TYPE anonjob_engine_queue_length gauge
anonjob_engine_queue_length 1
# HELP anonjob_engine_workers_busy Built-in engine workers processing an image.
# TYPE anonjob_engine_workers_busy gauge
anonjob_engine_workers_busy 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "anonjob_engine_queue_length", "anonjob_engine_workers_busy"); err != nil {
		t.Fatal(err)
	}
	close(det.release)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n := testutil.CollectAndCount(reg, "anonjob_engine_process_seconds"); n == 1 {
			if mfs, err := reg.Gather(); err == nil {
				for _, mf := range mfs {
					if mf.GetName() == "anonjob_engine_process_seconds" && mf.GetMetric()[0].GetHistogram().GetSampleCount() == 2 {
						return
					}
				}
			}
		}
	}
	t.Fatal("two processed images never showed in anonjob_engine_process_seconds")
}
