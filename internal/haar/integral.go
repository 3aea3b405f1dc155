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
	// It directly follows sum in memory, so that the stumps address both
	// tables from one pointer (see newStumps).
	tilted []int32
}

// tables is the memory of the summed-area tables, kept from one pyramid
// layer to the next by a worker of Run: the layers it takes get smaller,
// so after the first one nothing is allocated.
type tables struct {
	sums  []int32 // sum, then tilted
	sqsum []uint32
	rows  [4][]int32 // computeTilted's rows
	gray  []uint8    // the resized layer
}

// integral computes the tables for g in the memory of tb, which the result
// shares: it is valid until the next call. withTilted adds the tilted table.
func (tb *tables) integral(g *image.Gray, withTilted bool) *integral {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	s := w + 1
	n := s * (h + 1)
	sums := n
	if withTilted {
		sums = 2 * n
	}
	tb.sums = grow(tb.sums, sums)
	tb.sqsum = grow(tb.sqsum, n)
	it := &integral{w: w, h: h, stride: s, sum: tb.sums[:n:n], sqsum: tb.sqsum}
	clear(it.sum[:s])
	clear(it.sqsum[:s])
	for y := 0; y < h; y++ {
		row := g.Pix[y*g.Stride : y*g.Stride+w]
		// The rows of the tables below and above, without their first
		// column, as long as row, so the loop runs without bounds checks.
		cur, up := it.sum[(y+1)*s:(y+2)*s], it.sum[y*s+1:(y+1)*s]
		curQ, upQ := it.sqsum[(y+1)*s:(y+2)*s], it.sqsum[y*s+1:(y+1)*s]
		cur[0], curQ[0] = 0, 0
		cur, curQ = cur[1:], curQ[1:]
		up, upQ = up[:len(row)], upQ[:len(row)]
		cur, curQ = cur[:len(row)], curQ[:len(row)]
		var rs int32
		var rq uint32
		for x, p := range row {
			rs += int32(p)
			rq += uint32(p) * uint32(p)
			cur[x] = up[x] + rs
			curQ[x] = upQ[x] + rq
		}
	}
	if withTilted {
		it.tilted = tb.sums[n : 2*n : 2*n]
		it.computeTilted(&tb.rows)
	}
	return it
}

// grow returns buf if it holds n values, else a new slice of n.
func grow[T any](buf []T, n int) []T {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]T, n)
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
// (every column clamps to w); off the left edge B is zero. rows is
// scratch space for the previous and current rows of A and B.
func (it *integral) computeTilted(rows *[4][]int32) {
	w, h, s := it.w, it.h, it.stride
	t := it.tilted
	clear(t[:s])
	for i := range rows {
		rows[i] = grow(rows[i], s)
	}
	prevA, prevB, curA, curB := rows[0], rows[1], rows[2], rows[3]
	clear(prevA)
	clear(prevB)
	for Y := 1; Y <= h; Y++ {
		// P(Y-1, x) = sum[Y][x] - sum[Y-1][x]
		rowY, rowUp := it.sum[Y*s:(Y+1)*s], it.sum[(Y-1)*s:Y*s]
		out := t[Y*s : (Y+1)*s]
		// The first w entries of every row, so that the loop runs without
		// bounds checks; curB[X+1] is written after curB[X] is read.
		pY, pUp, o := rowY[:w], rowUp[:w], out[:w]
		aIn, aOut := prevA[1:w+1], curA[:w]
		bIn, bOut, bOld := prevB[:w], curB[1:w+1], curB[:w]
		curB[0] = 0
		for X := range pY {
			p := pY[X] - pUp[X]
			a := aIn[X] + p
			aOut[X] = a
			o[X] = a - bOld[X]
			bOut[X] = bIn[X] + p
		}
		// Off the right edge A(X', Y-1) is the full-width sum.
		a := it.sum[(Y-1)*s+w] + rowY[w] - rowUp[w]
		curA[w] = a
		out[w] = a - curB[w]
		prevA, curA = curA, prevA
		prevB, curB = curB, prevB
	}
}
