package detect

import (
	"context"
	"fmt"
	"image"
	_ "image/png"
	"os"
	"path/filepath"
	"testing"
)

// benchImage loads the 1920x1080 collage of the labelled development set
// (ANONJOB_TESTDATA, default ../../../shared/testdata).
func benchImage(b *testing.B) image.Image {
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
	return img
}

// BenchmarkCascade is one cascade over a 1080p image on one core, as
// OpenCV's detectMultiScale(gray, 1.1, 3) would run it.
func BenchmarkCascade(b *testing.B) {
	g := Gray(benchImage(b))
	for _, name := range []string{FrontalFaceDefault, FrontalFaceAlt2, ProfileFace, RussianPlate} {
		c, err := LoadCascade("", name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Run(context.Background(), g, []Job{{Cascade: c, MinNeighbors: 3}}, Options{ScaleFactor: 1.1, Workers: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDetect is the default detector (faces at all angles and plates)
// over a 1080p image, with pyramid levels spread over 1 or 2 cores.
func BenchmarkDetect(b *testing.B) {
	img := benchImage(b)
	for _, workers := range []int{1, 2} {
		cfg := DefaultConfig()
		cfg.Workers = workers
		d, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for b.Loop() {
				if _, err := d.Detect(context.Background(), img, true, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
