package haar

import "image"

// integral holds the summed-area tables of one pyramid layer. All tables
// are (w+1) x (h+1) with a zero first row and column, like cv::integral.
//
// Sums are kept in 32 bits and allowed to wrap: a rectangle sum is a
// difference of four entries, which modular arithmetic gets exactly right as
// long as the rectangle's own sum fits, which it always does for detection
// windows. This keeps large images from overflowing and halves memory.
type integral struct {
	w, h   int
	stride int
	sum    []int32
	sqsum  []uint32
	// tilted is the 45-degree summed-area table (nil unless requested):
	// tilted(X,Y) = sum of I(x,y) over y < Y and |x-X+1| <= Y-y-1.
	tilted []int32
}

// newIntegral computes the tables for g. withTilted adds the tilted table.
func newIntegral(g *image.Gray, withTilted bool) *integral {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	s := w + 1
	it := &integral{w: w, h: h, stride: s, sum: make([]int32, s*(h+1)), sqsum: make([]uint32, s*(h+1))}
	for y := 0; y < h; y++ {
		row := g.Pix[y*g.Stride : y*g.Stride+w]
		var rs int32
		var rq uint32
		up, cur := y*s, (y+1)*s
		for x, p := range row {
			rs += int32(p)
			rq += uint32(p) * uint32(p)
			it.sum[cur+x+1] = it.sum[up+x+1] + rs
			it.sqsum[cur+x+1] = it.sqsum[up+x+1] + rq
		}
	}
	if withTilted {
		it.tilted = it.computeTilted()
	}
	return it
}

// computeTilted derives the tilted table from the upright one. With P(y,x)
// the prefix sum of row y up to column x (clamped to [0,w]):
//
//	tilted(X,Y) = A(X,Y) - B(X,Y)
//	A(X,Y) = sum_{y<Y} P(y, X+Y-1-y) = A(X+1,Y-1) + P(Y-1, X)
//	B(X,Y) = sum_{y<Y} P(y, X-Y+y)   = B(X-1,Y-1) + P(Y-1, X-1)
//
// A walks up an anti-diagonal and B up a diagonal, so each row needs only
// the previous one. Off the right edge A(X,Y) is the full-width sum
// (every column clamps to w); off the left edge B is zero.
func (it *integral) computeTilted() []int32 {
	w, h, s := it.w, it.h, it.stride
	t := make([]int32, s*(h+1))
	prevA, prevB := make([]int32, s), make([]int32, s)
	curA, curB := make([]int32, s), make([]int32, s)
	for Y := 1; Y <= h; Y++ {
		// P(Y-1, x) = sum[Y][x] - sum[Y-1][x]
		rowY, rowUp := it.sum[Y*s:(Y+1)*s], it.sum[(Y-1)*s:Y*s]
		fullPrev := it.sum[(Y-1)*s+w] // A(X', Y-1) for X' > w
		for X := 0; X <= w; X++ {
			p := rowY[X] - rowUp[X]
			a := fullPrev
			if X+1 <= w {
				a = prevA[X+1]
			}
			curA[X] = a + p
			var b int32
			if X >= 1 {
				b = prevB[X-1] + rowY[X-1] - rowUp[X-1]
			}
			curB[X] = b
			t[Y*s+X] = curA[X] - curB[X]
		}
		prevA, curA = curA, prevA
		prevB, curB = curB, prevB
	}
	return t
}
