package blazeface

import (
	"context"
	"fmt"
	"image"
	"math"
	"testing"

	"github.com/anonjob/anonjob/internal/testimages"
)

// BenchmarkDetect is face detection of one image, all pyramid levels, with
// ONNX Runtime on one thread or on every core: the latency of one image in
// an idle engine.
func BenchmarkDetect(b *testing.B) {
	for _, tc := range []struct {
		name string
		img  *image.RGBA
	}{{"1080p", testimages.Collage(b)}, {"64x48", noise(64, 48, 1)}} {
		for _, threads := range []int{1, 2} {
			d := newDetector(b, Config{Threads: threads})
			testimages.BenchDetect(b, fmt.Sprintf("%s/threads=%d", tc.name, threads), d.Detect, tc.img)
		}
	}
}

// BenchmarkDetectParallel keeps every core busy with its own image through
// one shared session, as the engine's workers do: images/s = 1e9 / ns/op.
func BenchmarkDetectParallel(b *testing.B) {
	img := testimages.Collage(b)
	for _, threads := range []int{1, 2} {
		d := newDetector(b, Config{Threads: threads})
		b.Run(fmt.Sprintf("1080p/threads=%d", threads), func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := d.Detect(context.Background(), img); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkLevel is one network run per pyramid level of a 1080p image
// (both chains), on every core, to show where the time goes.
func BenchmarkLevel(b *testing.B) {
	img := testimages.Collage(b)
	d := newDetector(b, Config{})
	var levels []*level
	for l := fromRGBA(img); ; l = l.halve() {
		levels = append(levels, l)
		if !l.coarser(coarsest) {
			break
		}
	}
	last := levels[len(levels)-1].scale
	for l := levels[0].scaled(1 / math.Sqrt2); l.scale > last; l = l.halve() {
		levels = append(levels, l)
	}
	for _, l := range levels {
		b.Run(fmt.Sprintf("scale=%.3f/%dx%d", l.scale, l.pw, l.ph), func(b *testing.B) {
			for b.Loop() {
				if _, err := d.runLevel(context.Background(), l, candidateFloor); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("build-pyramid", func(b *testing.B) {
		for b.Loop() {
			coarserLevels(fromRGBA(img))
		}
	})
}
