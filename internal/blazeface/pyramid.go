package blazeface

import (
	"image"
)

// align is what the network needs of its input's height and width: its
// coarsest head sees the image at a stride of 32.
const align = 32

// level is one rung of the image pyramid, ready to be fed to the network:
// NHWC float32 RGB in [-1, 1], padded with zeros (mid grey) to a multiple
// of align.
type level struct {
	scale float64 // of the level relative to the image
	w, h  int     // image pixels at this level
	pw    int     // padded width
	ph    int     // padded height
	data  []float32
	// A crop of a larger level (see crop) sits at ox, oy in it and keeps only the anchors
	// inside keep (in its own pixels); a whole level has keep empty.
	ox, oy int
	keep   image.Rectangle
}

func newLevel(scale float64, w, h int) *level {
	pw, ph := roundUp(w, align), roundUp(h, align)
	return &level{scale: scale, w: w, h: h, pw: pw, ph: ph, data: make([]float32, pw*ph*3)}
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// fromRGBA fills a level with img itself.
func fromRGBA(img *image.RGBA) *level {
	b := img.Rect
	l := newLevel(1, b.Dx(), b.Dy())
	for y := range l.h {
		row := img.Pix[img.PixOffset(b.Min.X, b.Min.Y+y):]
		out := l.data[y*l.pw*3:]
		for x := range l.w {
			out[3*x] = unitTable[row[4*x]]
			out[3*x+1] = unitTable[row[4*x+1]]
			out[3*x+2] = unitTable[row[4*x+2]]
		}
	}
	return l
}

// shrinkRGBA fills a level with img averaged over k x k blocks (k > 1), straight from the
// image: a large photo's finest level is built without the levels above it.
func shrinkRGBA(img *image.RGBA, k int) *level {
	b := img.Rect
	l := newLevel(1/float64(k), b.Dx()/k, b.Dy()/k)
	acc := make([]int, 3*l.w)
	norm := float32(k*k) * 127.5
	for y := range l.h {
		clear(acc)
		for dy := range k {
			row := img.Pix[img.PixOffset(b.Min.X, b.Min.Y+y*k+dy):]
			for x := range l.w {
				px := row[4*x*k:]
				for dx := range k {
					acc[3*x] += int(px[4*dx])
					acc[3*x+1] += int(px[4*dx+1])
					acc[3*x+2] += int(px[4*dx+2])
				}
			}
		}
		out := l.data[y*l.pw*3:]
		for i, v := range acc {
			out[i] = float32(v)/norm - 1
		}
	}
	return l
}

// halve averages l over 2x2 blocks into the next level.
func (l *level) halve() *level {
	n := newLevel(l.scale/2, l.w/2, l.h/2)
	stride := l.pw * 3
	for y := range n.h {
		r0 := l.data[2*y*stride:]
		r1 := l.data[(2*y+1)*stride:]
		out := n.data[y*n.pw*3:]
		for x := range n.w {
			for c := range 3 {
				out[3*x+c] = (r0[6*x+c] + r0[6*x+3+c] + r1[6*x+c] + r1[6*x+3+c]) / 4
			}
		}
	}
	return n
}

// unit maps a byte to [-1, 1], the range the network was trained on.
func unit(v uint8) float32 { return float32(v)/127.5 - 1 }

// unitTable is unit of every byte, read-only after init: a lookup is cheaper than the division
// for the 6 M channel values of a 1080p image.
var unitTable = func() (t [256]float32) {
	for v := range t {
		t[v] = unit(uint8(v))
	}
	return t
}()

// finest returns the shrink factor of the pyramid's finest level for an image of w x h
// pixels: 1, or the first power of 2 at which the image has at most maxPixels pixels, so a
// large photo costs no more than one of maxPixels, but never so far that a side vanishes.
func finest(w, h, maxPixels int) int {
	k := 1
	for (w/k)*(h/k) > maxPixels && min(w, h)/(2*k) >= 1 {
		k *= 2
	}
	return k
}

// coarser reports whether the pyramid goes on below l: until the shorter side of a level is
// at most coarsest, where a face filling the whole image is still within the sizes the
// anchors cover, and never to a level without pixels.
func (l *level) coarser(coarsest int) bool {
	return min(l.w, l.h) > coarsest && min(l.w, l.h) >= 2
}
