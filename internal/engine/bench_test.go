package engine

import (
	"bytes"
	"image"
	"image/jpeg"
	_ "image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkUploadToDone is one image at a time through an idle engine over
// loopback HTTP, from the upload request to the completion webhook: the
// latency a client of the engine sees, with faces and plates searched.
func BenchmarkUploadToDone(b *testing.B) {
	for _, tc := range []struct {
		name string
		img  []byte
	}{{"64x48-png", smallPNG(b)}, {"1080p-jpeg", jpeg1080p(b)}} {
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

// jpeg1080p re-encodes the 1920x1080 development collage as a JPEG, the
// typical upload.
func jpeg1080p(b *testing.B) []byte {
	b.Helper()
	dir := os.Getenv("ANONJOB_TESTDATA")
	if dir == "" {
		dir = "../../../shared/testdata"
	}
	f, err := os.Open(filepath.Join(dir, "dev_composite_1920x1080.png"))
	if err != nil {
		b.Fatalf("benchmark image: %v (set ANONJOB_TESTDATA to the labelled set)", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}
