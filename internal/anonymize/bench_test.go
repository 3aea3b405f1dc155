package anonymize_test

import (
	"context"
	"testing"

	"github.com/anonjob/anonjob/internal/anonymize"
	"github.com/anonjob/anonjob/internal/testimages"
)

// BenchmarkProcess1080pJPEG is the whole per-image work of the engine:
// decode, detect faces and plates, blur, encode the image, both masks and
// the metadata. "serial" is one image at a time on one core (the latency
// of a worker); "parallel" keeps every core busy with its own image, as
// the engine's worker pool does (images/s = 1e9 / ns/op).
func BenchmarkProcess1080pJPEG(b *testing.B) {
	src := testimages.CollageJPEG(b)
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
