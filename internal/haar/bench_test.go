package haar

import (
	"context"
	"fmt"
	"image"
	"image/draw"
	_ "image/png"
	"os"
	"path/filepath"
	"testing"
)

// benchImage loads the 1920x1080 collage of the labelled development set
// (ANONJOB_TESTDATA, default ../../../shared/testdata).
func benchImage(b *testing.B) *image.RGBA {
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
	rgba := image.NewRGBA(img.Bounds())
	draw.Draw(rgba, rgba.Rect, img, img.Bounds().Min, draw.Src)
	return rgba
}

// BenchmarkPlates is the licence-plate search over a 1080p image, with
// pyramid levels spread over 1 or 2 cores.
func BenchmarkPlates(b *testing.B) {
	img := benchImage(b)
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
