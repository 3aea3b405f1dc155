package anonymize_test

import (
	"context"
	"testing"
	"time"

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

// BenchmarkClasses1080pJPEG is one 1080p image at a time with every core (the latency of an
// idle engine): faces only (the baseline of the same run, as the machine is noisy), faces and
// plates (the default), and all four classes. Each stage's mean time is reported as
// <stage>-ms; stages that run side by side overlap, detect-ms is their wall clock.
func BenchmarkClasses1080pJPEG(b *testing.B) {
	src := testimages.CollageJPEG(b)
	d := openDetectors(b)
	for _, tc := range []struct {
		name string
		req  anonymize.Request
	}{
		{"faces", anonymize.Request{Method: anonymize.Blur, Faces: true}},
		{"faces+plates", anonymize.Request{Method: anonymize.Blur, Faces: true, Plates: true}},
		{"all", anonymize.Request{Method: anonymize.Blur, Faces: true, Plates: true, Persons: true, Vehicles: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			sums := map[string]time.Duration{}
			for b.Loop() {
				res, err := anonymize.Process(context.Background(), d, src, tc.req)
				if err != nil {
					b.Fatal(err)
				}
				for _, s := range res.Stages {
					sums[s.Name] += s.Duration
				}
			}
			for name, sum := range sums {
				b.ReportMetric(float64(sum.Milliseconds())/float64(b.N), name+"-ms")
			}
		})
	}
}
