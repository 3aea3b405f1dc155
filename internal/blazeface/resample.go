package blazeface

import (
	"image"
	"math"
)

// tap is one source pixel's weight in an output pixel of an area-average
// resampling along one axis.
type tap struct {
	src    int
	weight float32
}

// areaTaps returns, for each of the n output pixels of a source of size
// src scaled by f (< 1), the source pixels it covers and their weights,
// summing to 1.
func areaTaps(src, n int, f float64) [][]tap {
	out := make([][]tap, n)
	for i := range n {
		lo, hi := float64(i)/f, math.Min(float64(i+1)/f, float64(src))
		var ts []tap
		for s := int(lo); float64(s) < hi && s < src; s++ {
			w := math.Min(hi, float64(s+1)) - math.Max(lo, float64(s))
			if w > 0 {
				ts = append(ts, tap{src: s, weight: float32(w * f)})
			}
		}
		out[i] = ts
	}
	return out
}

// scaleRGBA fills a level with img scaled by f (< 1), averaging the source
// area under each output pixel so the level is not aliased.
func scaleRGBA(img *image.RGBA, f float64) *level {
	b := img.Rect
	w, h := b.Dx(), b.Dy()
	nw, nh := max(1, int(float64(w)*f)), max(1, int(float64(h)*f))
	l := newLevel(f, nw, nh)
	xt, yt := areaTaps(w, nw, f), areaTaps(h, nh, f)
	// Horizontal pass into rows of floats, then vertical into the level.
	rows := make([]float32, h*nw*3)
	for y := range h {
		src := img.Pix[img.PixOffset(b.Min.X, b.Min.Y+y):]
		dst := rows[y*nw*3:]
		for x, ts := range xt {
			var r, g, bl float32
			for _, t := range ts {
				p := src[4*t.src:]
				r += t.weight * float32(p[0])
				g += t.weight * float32(p[1])
				bl += t.weight * float32(p[2])
			}
			dst[3*x], dst[3*x+1], dst[3*x+2] = r, g, bl
		}
	}
	for y, ts := range yt {
		dst := l.data[y*l.pw*3:]
		for x := range nw * 3 {
			var v float32
			for _, t := range ts {
				v += t.weight * rows[t.src*nw*3+x]
			}
			dst[x] = v/127.5 - 1
		}
	}
	return l
}
