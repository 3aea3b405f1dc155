package detectors

import (
	"context"
	"fmt"
	"image"
	"testing"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/testimages"
)

// BenchmarkDetectors times each detector of the set alone over the 1080p collage, with one
// thread (its runs one after another: its cost in core-seconds) and with two (its two runs
// side by side: its latency alone on this machine). The
// pipeline runs them side by side, so an image's detection costs about the sum of the
// one-thread figures spread over the cores (BenchmarkClasses1080pJPEG in internal/anonymize).
func BenchmarkDetectors(b *testing.B) {
	img := testimages.Collage(b)
	for _, threads := range []int{1, 2} {
		s, err := Open(Config{Threads: threads})
		if err != nil {
			b.Skipf("detector data: %v", err)
		}
		b.Cleanup(func() { _ = s.Close() })
		ps := s.Detectors.Plates.(plateSearches)
		for _, d := range []struct {
			name   string
			detect func(context.Context, *image.RGBA) ([]detect.Detection, error)
		}{
			{"faces", s.Detectors.Faces.Detect},
			{"objects-coarse", func(ctx context.Context, img *image.RGBA) ([]detect.Detection, error) {
				return s.Detectors.Objects.DetectObjects(ctx, img, false)
			}},
			{"objects", func(ctx context.Context, img *image.RGBA) ([]detect.Detection, error) {
				return s.Detectors.Objects.DetectObjects(ctx, img, true)
			}},
			{"plates-cascade", ps.cascade.Detect},
			{"plates-characters", ps.chars.Detect},
		} {
			testimages.BenchDetect(b, fmt.Sprintf("%s/threads=%d", d.name, threads), d.detect, img)
		}
	}
}
