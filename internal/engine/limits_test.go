package engine

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/limits"
	"github.com/anonjob/anonjob/internal/testimages"
)

// TestUploadPixelLimit refuses, at upload, an image over the pixel limit the API reads too,
// or over the per-image memory budget, naming the limit.
func TestUploadPixelLimit(t *testing.T) {
	t.Parallel()
	te := startEngine(t, func(c *Config) {
		c.Detectors = newBlockingDetector().detectors()
		c.Limits = limits.Image{MaxPixels: 1_000_000, MaxMemory: 200 << 20}
	})
	for _, tc := range []struct {
		w, h int
		want string
	}{
		{1001, 1000, "the limit is 1000000 pixels"},
		{limits.DefaultMaxImagePixels / 1000, 1001, "the limit is 1000000 pixels"},
	} {
		resp, data := te.do(http.MethodPost, "/v1/file?method=blur", te.tok, bytes.NewReader(testimages.PNGHeader(tc.w, tc.h)))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(data), tc.want) {
			t.Errorf("%dx%d: %d %s, want 400 saying %q", tc.w, tc.h, resp.StatusCode, data, tc.want)
		}
	}
	// The default limit is the API's: 40 MP.
	def := startEngine(t, func(c *Config) { c.Detectors = newBlockingDetector().detectors() })
	resp, data := def.do(http.MethodPost, "/v1/file?method=blur", def.tok, bytes.NewReader(testimages.PNGHeader(8000, 5001)))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(data), "the limit is 40000000 pixels") {
		t.Errorf("40 MP default: %d %s", resp.StatusCode, data)
	}
	// A budget too small for what the pixel limit lets in refuses by memory.
	small := startEngine(t, func(c *Config) {
		c.Detectors = newBlockingDetector().detectors()
		c.Limits = limits.Image{MaxMemory: 16 << 20}
	})
	resp, data = small.do(http.MethodPost, "/v1/file?method=blur", small.tok, bytes.NewReader(testimages.PNGHeader(1000, 1000)))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(data), "the per-image budget is 16 MiB") {
		t.Errorf("memory budget: %d %s", resp.StatusCode, data)
	}
}

// TestImageDeadline fails an image whose processing outlives the deadline, with the reason in
// its status and its webhook, and goes on with the next one.
func TestImageDeadline(t *testing.T) {
	t.Parallel()
	hook := newHookReceiver(t, 0)
	slow := newBlockingDetector() // never released: only the deadline ends its work
	te := startEngine(t, func(c *Config) {
		c.Detectors = slow.detectors()
		c.Limits = limits.Image{Timeout: 50 * time.Millisecond}
		c.Workers = 1
	})
	q := mustQuery(t, "method=blur&webhook="+hook.srv.URL+"/hook")
	first := te.upload(q, smallPNG(t), http.StatusOK)["file_id"].(string)
	st := waitStatus(t, te, first, statusFailed)
	if msg, _ := st["error"].(string); !strings.Contains(msg, "deadline of 50ms per image") {
		t.Fatalf("failed status %v lacks the deadline", st)
	}
	call := <-hook.calls
	if call.body["file_status"] != statusFailed || !strings.Contains(call.body["error"], "deadline of 50ms") {
		t.Fatalf("webhook %v, want failed", call.body)
	}
	// The worker is free again.
	second := te.upload(q, smallPNG(t), http.StatusOK)["file_id"].(string)
	waitStatus(t, te, second, statusFailed)
}
