package anonymize_test

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/anonjob/anonjob/internal/anonymize"
)

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

// BenchmarkProcess1080pJPEG is the whole per-image work of the engine:
// decode, detect faces and plates, blur, encode the image, both masks and
// the metadata. "serial" is one image at a time on one core (the latency
// of a worker); "parallel" keeps every core busy with its own image, as
// the engine's worker pool does (images/s = 1e9 / ns/op).
func BenchmarkProcess1080pJPEG(b *testing.B) {
	src := jpeg1080p(b)
	d := openDetectors(b)
	req := anonymize.Request{Method: anonymize.Blur, Faces: true, Plates: true}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := anonymize.Process(context.Background(), d, src, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := anonymize.Process(context.Background(), d, src, req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
