package blazeface

import "math"

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

// scaled resamples l by f (< 1), averaging the area under each output pixel so the new
// level is not aliased. Working from a level rather than the image keeps the memory of a
// large photo's second chain to the size of its levels.
func (l *level) scaled(f float64) *level {
	nw, nh := max(1, int(float64(l.w)*f)), max(1, int(float64(l.h)*f))
	n := newLevel(l.scale*f, nw, nh)
	xt, yt := areaTaps(l.w, nw, f), areaTaps(l.h, nh, f)
	// Vertical pass row by row into one buffer, then horizontal into the level.
	row := make([]float32, l.w*3)
	for y, ts := range yt {
		clear(row)
		for _, t := range ts {
			src := l.data[t.src*l.pw*3:][:l.w*3]
			for i, v := range src {
				row[i] += t.weight * v
			}
		}
		dst := n.data[y*n.pw*3:]
		for x, ts := range xt {
			var r, g, b float32
			for _, t := range ts {
				p := row[3*t.src:]
				r += t.weight * p[0]
				g += t.weight * p[1]
				b += t.weight * p[2]
			}
			dst[3*x], dst[3*x+1], dst[3*x+2] = r, g, b
		}
	}
	return n
}
