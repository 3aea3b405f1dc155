package plates

import (
	"cmp"
	"image"
	"slices"
)

// plane is a grey image, one byte per pixel, row after row.
type plane struct {
	w, h int
	pix  []uint8
}

func (p *plane) at(x, y int) uint8 { return p.pix[y*p.w+x] }

// grey is the luma of the part r of img (BT.601 weights, as OpenCV's grey conversion).
func grey(img *image.RGBA, r image.Rectangle) *plane {
	p := &plane{w: r.Dx(), h: r.Dy(), pix: make([]uint8, r.Dx()*r.Dy())}
	for y := range p.h {
		row := img.Pix[img.PixOffset(r.Min.X, r.Min.Y+y):]
		out := p.pix[y*p.w : (y+1)*p.w]
		for x := range out {
			px := row[4*x : 4*x+3]
			out[x] = uint8((299*int(px[0]) + 587*int(px[1]) + 114*int(px[2]) + 500) / 1000)
		}
	}
	return p
}

// resample scales p to w x h: area averages when shrinking (small characters keep their
// contrast better than when sampled), bilinear when enlarging.
func resample(p *plane, w, h int) *plane {
	switch {
	case w == p.w && h == p.h:
		return p
	case w > p.w:
		return bilinear(p, w, h)
	}
	// Column sums of each output row's source rows, not a summed-area table of the whole
	// plane: a 40 MP photo's table alone would take 160 MB.
	out := &plane{w: w, h: h, pix: make([]uint8, w*h)}
	xs := make([]int, w+1)
	for x := range xs {
		xs[x] = x * p.w / w
	}
	cols := make([]int32, p.w)
	for y := range h {
		y0, y1 := y*p.h/h, max(y*p.h/h+1, (y+1)*p.h/h)
		clear(cols)
		for sy := y0; sy < y1; sy++ {
			for x, v := range p.pix[sy*p.w : (sy+1)*p.w] {
				cols[x] += int32(v)
			}
		}
		for x := range w {
			x0, x1 := xs[x], max(xs[x]+1, xs[x+1])
			var sum int32
			for _, v := range cols[x0:x1] {
				sum += v
			}
			n := int32((x1 - x0) * (y1 - y0))
			out.pix[y*w+x] = uint8((sum + n/2) / n)
		}
	}
	return out
}

func bilinear(p *plane, w, h int) *plane {
	out := &plane{w: w, h: h, pix: make([]uint8, w*h)}
	sx, sy := float64(p.w)/float64(w), float64(p.h)/float64(h)
	for y := range h {
		fy := max(0, (float64(y)+0.5)*sy-0.5)
		y0 := min(int(fy), p.h-1)
		y1 := min(y0+1, p.h-1)
		wy := fy - float64(y0)
		for x := range w {
			fx := max(0, (float64(x)+0.5)*sx-0.5)
			x0 := min(int(fx), p.w-1)
			x1 := min(x0+1, p.w-1)
			wx := fx - float64(x0)
			top := float64(p.at(x0, y0))*(1-wx) + float64(p.at(x1, y0))*wx
			bot := float64(p.at(x0, y1))*(1-wx) + float64(p.at(x1, y1))*wx
			out.pix[y*w+x] = uint8(top*(1-wy) + bot*wy + 0.5)
		}
	}
	return out
}

// table is a summed-area table: s[y*(w+1)+x] is the sum over [0,x) x [0,y).
type table struct {
	w int
	s []int32
}

// integral is the summed-area table of a w x h plane of values.
func integral(w, h int, v []uint8) table {
	t := table{w: w + 1, s: make([]int32, (w+1)*(h+1))}
	for y := range h {
		var row int32
		above, out := t.s[y*t.w:(y+1)*t.w], t.s[(y+1)*t.w:(y+2)*t.w]
		for x, p := range v[y*w : (y+1)*w] {
			row += int32(p)
			out[x+1] = above[x+1] + row
		}
	}
	return t
}

// rect is the sum over [x0,x1) x [y0,y1).
func (t table) rect(x0, y0, x1, y1 int) int32 {
	return t.s[y1*t.w+x1] - t.s[y0*t.w+x1] - t.s[y1*t.w+x0] + t.s[y0*t.w+x0]
}

// byScore is a copy of xs, best score first; equal scores keep their order, so the result
// does not depend on the sort's implementation.
func byScore[T any](xs []T, score func(T) float64) []T {
	out := slices.Clone(xs)
	slices.SortStableFunc(out, func(a, b T) int { return cmp.Compare(score(b), score(a)) })
	return out
}
