package haar

import (
	"fmt"
	"image"
	"testing"

	"github.com/anonjob/anonjob/internal/limits"
	"github.com/anonjob/anonjob/internal/testimages"
)

// BenchmarkPlates is the licence-plate search over a 1080p image, with
// pyramid levels spread over 1 or 2 cores.
func BenchmarkPlates(b *testing.B) {
	img := testimages.Collage(b)
	for _, workers := range []int{1, 2} {
		benchPlates(b, fmt.Sprintf("workers=%d", workers), img, func(c *PlateConfig) { c.Workers = workers })
	}
}

// BenchmarkPlatesLarge is the licence-plate search over a 24 MP (6000x4000) image, scanned
// whole or, as the engine does, on a copy of at most limits.PlateLevelPixels (half size).
func BenchmarkPlatesLarge(b *testing.B) {
	g := street(6000, 4000, 3)
	drawPlate(g, 1000, 1000, 300)
	img := rgbaOf(g)
	for _, level := range []int{0, limits.PlateLevelPixels} {
		benchPlates(b, fmt.Sprintf("max-level-pixels=%d", level), img, func(c *PlateConfig) { c.MaxLevelPixels = level })
	}
}

// benchPlates times the plate search of img as the sub-benchmark name, with the default
// configuration as set changes it.
func benchPlates(b *testing.B, name string, img *image.RGBA, set func(*PlateConfig)) {
	b.Helper()
	cfg := DefaultPlateConfig()
	set(&cfg)
	d, err := NewPlateDetector(cfg)
	if err != nil {
		b.Fatal(err)
	}
	testimages.BenchDetect(b, name, d.Detect, img)
}
