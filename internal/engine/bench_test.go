package engine

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/anonjob/anonjob/internal/testimages"
)

// BenchmarkUploadToDone is one image at a time through an idle engine over
// loopback HTTP, from the upload request to the completion webhook: the
// latency a client of the engine sees, with faces and plates searched.
func BenchmarkUploadToDone(b *testing.B) {
	for _, tc := range []struct {
		name string
		img  []byte
	}{{"64x48-png", smallPNG(b)}, {"1080p-jpeg", testimages.CollageJPEG(b)}} {
		b.Run(tc.name, func(b *testing.B) {
			hook := newHookReceiver(b, 0)
			te := startEngine(b, func(c *Config) { c.Workers = 1 })
			q := url.Values{"method": {"blur"}, "webhook": {hook.srv.URL + "/hook"}}
			for b.Loop() {
				te.upload(q, tc.img, http.StatusOK)
				if call := <-hook.calls; call.body["file_status"] != statusDone {
					b.Fatalf("webhook %v", call.body)
				}
			}
		})
	}
}
