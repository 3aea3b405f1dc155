package haar

import (
	"context"
	"fmt"
	"testing"

	"github.com/anonjob/anonjob/internal/testimages"
)

// BenchmarkPlates is the licence-plate search over a 1080p image, with
// pyramid levels spread over 1 or 2 cores.
func BenchmarkPlates(b *testing.B) {
	img := testimages.Collage(b)
	for _, workers := range []int{1, 2} {
		cfg := DefaultPlateConfig()
		cfg.Workers = workers
		d, err := NewPlateDetector(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for b.Loop() {
				if _, err := d.Detect(context.Background(), img); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
