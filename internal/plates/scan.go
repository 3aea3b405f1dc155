package plates

import (
	"cmp"
	"context"
	"image"
	"slices"
)

// The plate model on one pyramid level, in level pixels. A window is a plate's character
// band: textHeights tall (a plate is about textShare of its height in characters), widths of
// textShapes times its height (a European plate's characters are about 6 times as wide as
// tall, an American plate's about 3.5), with a margin of marginShare of its height above and
// below that belongs to the plate too.
var (
	textHeights = []int{5, 6, 8, 10}
	textShapes  = []float64{2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7}
)

const (
	// baseHeight is the smallest plate height searched on a level: textHeights[0] of
	// characters and the margins.
	baseHeight  = 8
	marginShare = 0.25
	// edgeContrast is the grey step (of 255) that counts as a vertical edge: the strokes
	// of a 20x8 px plate's characters, blurred to a few pixels, still step by more.
	edgeContrast = 24
	// minBand is the share of edge pixels in the character band; maxMargin the share above
	// or below it, as a fraction of the band's: characters are dense, a plate's margins
	// are plain. Textures (foliage, gravel, brick) are dense everywhere and fail the margins.
	minBand   = 0.3
	maxMargin = 0.35
	// minThird is the share of edge pixels in each third of the band: characters run from
	// one end of a plate to the other.
	minThird = 0.08
	// maxJoined is the widest a line of characters gets, in band heights: a European plate's
	// is about 6.
	maxJoined = 9
)

type candidate struct {
	rect  image.Rectangle // the plate: character band and margins
	band  image.Rectangle
	score float64
}

// Bounds on one level's work, so that a page of text (every row of it a band of characters
// with plain margins between the lines) costs about what a photo does: a 1080p screenshot of
// small text passed 15.8 M windows and took minutes. A photo stays far inside them (the 1080p
// collage of the face set passes 12.5 k windows on its finest level).
const (
	// maxWindows are kept per level: beyond it, the best half are kept and collection goes on.
	maxWindows = 200_000
	// maxChecks windows per level are checked on their pixels; maxPlates are found at most.
	maxChecks = 20_000
	maxPlates = 256
)

// scanLevel scores every window of l and returns the plates that pass the checks of
// verify, best first, without overlaps.
func scanLevel(ctx context.Context, l *plane) ([]candidate, error) {
	edges := integral(l.w, l.h, edgeMap(l))
	found, err := plateWindows(ctx, l, edges)
	if err != nil {
		return nil, err
	}
	return pickPlates(ctx, l, edges, found)
}

// plateWindows returns the windows of l whose edge densities are a plate's, in no order.
func plateWindows(ctx context.Context, l *plane, edges table) ([]candidate, error) {
	var found []candidate
	row := func(y int) []int32 { return edges.s[y*edges.w : (y+1)*edges.w] }
	for _, th := range textHeights {
		r := newRowScan(th, edges.w)
		m := r.margin
		for y := m; y+th+m <= l.h; y++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if len(found) >= maxWindows {
				found = byScore(found, func(c candidate) float64 { return c.score })[:maxWindows/2]
			}
			found = r.scan(found, l, y, row(y-m), row(y), row(y+th), row(y+th+m))
		}
	}
	return found, nil
}

// rowScan finds the windows of one band height along the rows of a level. The tests of
// every window compare edge counts with the least counts that pass (the same decisions as
// comparing densities, without a division per window). The narrowest shape first: a band
// that is not dense at its left end is no plate's.
type rowScan struct {
	th, margin int
	shapes     []windowShape
	// skip[d] is the step to the next narrow window that may pass when this one is d
	// edges short: one step right adds at most a column of th edges, so the windows up to
	// the one that could make them up fail too.
	skip []int
	// next[i] is the first position of the row where shapes[i] may pass the margins' test:
	// a window whose margins fail plainMargins fails it at the next positions too.
	next []int
	// band[x] is the number of edges left of column x in the character band of the row:
	// every count in the band is a difference of two of its entries. It is filled only
	// where the narrow window passes, as far as the widest shape reaches.
	band []int32
}

func newRowScan(th, tableWidth int) *rowScan {
	r := &rowScan{th: th, margin: max(1, int(marginShare*float64(th)+0.5)), shapes: windowShapes(th), band: make([]int32, tableWidth)}
	r.next = make([]int, len(r.shapes))
	r.skip = make([]int, r.shapes[0].band+1)
	for d := 1; d < len(r.skip); d++ {
		r.skip[d] = 1 + (d-1)/th
	}
	return r
}

// scan appends to found the windows whose band starts on row y of l, given the rows of the
// edge table at the margin's top (above), the band's top and bottom, and the margin's
// bottom (below).
func (r *rowScan) scan(found []candidate, l *plane, y int, above, top, bottom, below []int32) []candidate {
	// between counts the edges in columns x0..x1-1 between table rows a and b.
	between := func(a, b []int32, x0, x1 int) int32 { return b[x1] - a[x1] - b[x0] + a[x0] }
	th, m, narrow, band := r.th, r.margin, r.shapes[0], r.band
	widest := r.shapes[len(r.shapes)-1].width
	clear(r.next)
	filled := 0 // band is set from the current position to filled
	for x := 0; x+narrow.width <= l.w; {
		if n := between(top, bottom, x, x+narrow.width); n < narrow.band {
			x += r.skip[narrow.band-n]
			continue
		}
		filled = max(filled, x)
		for end := min(x+widest, l.w); filled <= end; filled++ {
			band[filled] = bottom[filled] - top[filled]
		}
		// Counts against least counts first (band, then its thirds), the margins'
		// densities only for the windows that pass them.
		for i, sh := range r.shapes {
			tw, t := sh.width, sh.third
			if x+tw > l.w {
				break
			}
			if x < r.next[i] {
				continue
			}
			b0, b1, b2, b3 := band[x], band[x+t], band[x+2*t], band[x+tw]
			n := b3 - b0
			// One test of the four counts: a difference below zero is a count short.
			if (n-sh.band)|(b1-b0-sh.thirds[0])|(b2-b1-sh.thirds[1])|(b3-b2-sh.thirds[2]) < 0 {
				continue
			}
			edgy := max(between(above, top, x, x+tw), between(bottom, below, x, x+tw))
			if over := -plainMargins(edgy, n, m, th); over > 0 {
				// Fits 32 bits (see plainMargins), where division is quicker.
				r.next[i] = x + 1 + int(uint32(over-1)/uint32(27*th*m))
				continue
			}
			density := float64(n) / float64(tw*th)
			margin := float64(edgy) / float64(tw*m)
			if margin > maxMargin*density {
				continue
			}
			found = append(found, candidate{
				rect:  image.Rect(x-tw/8, y-m, x+tw+tw/20+1, y+th+m).Intersect(image.Rect(0, 0, l.w, l.h)),
				band:  image.Rect(x, y, x+tw, y+th),
				score: density - margin,
			})
		}
		x++
	}
	return found
}

// plainMargins compares the densities of a window's margins and band without dividing:
// with edgy edges in the busier margin, m rows tall, and n in the band, th rows tall, the
// margins are plain when edgy/(w*m) <= maxMargin*n/(w*th), which is 20*edgy*th <= 7*n*m
// for maxMargin = 7/20. It is negative when they are not, positive when they are, and zero
// when the two sides are equal. Only then can the rounding of the float densities that
// plateWindows computes decide: their relative error is below 1e-15, and two different
// integer sides (at most 20*edgy*th <= 20*(7*10*3)*10 = 42000) differ by more than 2e-5 of
// themselves. So a negative result is the float test's answer too.
func plainMargins(edgy, n int32, m, th int) int64 {
	return 7*int64(n)*int64(m) - 20*int64(edgy)*int64(th)
}

// A window whose margins fail plainMargins by over = -plainMargins(edgy, n, m, th) > 0
// fails it at the next (over-1)/(27*th*m) positions of the row too: one step right removes
// at most a column of m edges from the busier margin and adds at most a column of th to
// the band, so over shrinks by at most 20*th*m + 7*m*th per step.

// plainMargins is written for maxMargin = 7/20: either constant fails to compile otherwise.
const (
	_ uint = 20*maxMargin - 7
	_ uint = 7 - 20*maxMargin
)

// windowShape is one window width of plateWindows for a band th pixels tall, with the least
// edge counts its band and each of its thirds need.
type windowShape struct {
	width, third int
	band         int32
	thirds       [3]int32
}

func windowShapes(th int) []windowShape {
	out := make([]windowShape, len(textShapes))
	for i, shape := range textShapes {
		tw := int(shape * float64(th))
		t := tw / 3
		out[i] = windowShape{width: tw, third: t, band: leastCount(tw*th, minBand),
			thirds: [3]int32{leastCount(t*th, minThird), leastCount(t*th, minThird), leastCount((tw-2*t)*th, minThird)}}
	}
	return out
}

// leastCount is the least number of edge pixels in a window of area pixels whose density
// (count / area, as plateWindows computes it) is at least share.
func leastCount(area int, share float64) int32 {
	n := int32(share * float64(area))
	for n > 0 && float64(n-1)/float64(area) >= share {
		n--
	}
	for float64(n)/float64(area) < share {
		n++
	}
	return n
}

// pickPlates checks found best first on their pixels and returns the plates, best first,
// none overlapping a better one.
func pickPlates(ctx context.Context, l *plane, edges table, found []candidate) ([]candidate, error) {
	var out []candidate
	for i, k := range bestFirst(found) {
		c := &found[k]
		if i == maxChecks || len(out) == maxPlates {
			break
		}
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if overlaps(c.rect, out) || !strokes(edges, c.band) {
			continue
		}
		if verify(l, *c) {
			out = append(out, extend(edges, *c, l.w))
		}
	}
	return out, nil
}

// bestFirst is the order of byScore(cs, score) as indices of cs: sorting them moves
// less memory than sorting the candidates (on the 1080p collage the search took 208-216 ms
// with it, 227-236 ms with byScore). Ties go by index, as in the stable sort.
func bestFirst(cs []candidate) []int32 {
	type ranked struct {
		score float64
		i     int32
	}
	rs := make([]ranked, len(cs))
	for i, c := range cs {
		rs[i] = ranked{c.score, int32(i)}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	order := make([]int32, len(rs))
	for i, r := range rs {
		order[i] = r.i
	}
	return order
}

// overlaps reports whether r overlaps one of the plates in cs: the same plate found again
// by a window of another size or place.
func overlaps(r image.Rectangle, cs []candidate) bool {
	for _, k := range cs {
		if iou(r, k.rect) > 0.2 {
			return true
		}
	}
	return false
}

// joinLines joins plates found in pieces: windows side by side on one line of characters
// (their bands overlapping in height by half, the gap between them less than a band height
// and a half) are one plate. The best window of a plate is often a run of its characters.
func joinLines(cs []candidate) []candidate {
	for i := 0; i < len(cs); i++ {
		// cs[i] grows with each join, so the rest are looked at again until none joins.
		for joined := true; joined; {
			joined = false
			for j := i + 1; j < len(cs); j++ {
				a, b := cs[i].band, cs[j].band
				over := min(a.Max.Y, b.Max.Y) - max(a.Min.Y, b.Min.Y)
				th := max(a.Dy(), b.Dy())
				gap := max(a.Min.X, b.Min.X) - min(a.Max.X, b.Max.X)
				u := a.Union(b)
				if 2*over < min(a.Dy(), b.Dy()) || 2*gap > 3*th || 2*max(a.Dy(), b.Dy()) > 3*min(a.Dy(), b.Dy()) ||
					u.Dx() > maxJoined*u.Dy() {
					continue
				}
				cs[i] = candidate{rect: cs[i].rect.Union(cs[j].rect), band: u, score: max(cs[i].score, cs[j].score)}
				cs = append(cs[:j], cs[j+1:]...)
				joined = true
				break
			}
		}
	}
	return cs
}

// edgeMap marks the pixels of l where the grey steps by edgeContrast or more from left to
// right: the sides of character strokes.
func edgeMap(l *plane) []uint8 {
	e := make([]uint8, len(l.pix))
	for y := range l.h {
		row, out := l.pix[y*l.w:(y+1)*l.w], e[y*l.w:(y+1)*l.w]
		for x := 1; x < l.w-1; x++ {
			if d := int(row[x+1]) - int(row[x-1]); d >= edgeContrast || -d >= edgeContrast {
				out[x] = 1
			}
		}
	}
	return e
}

// Strokes: a character's vertical strokes run through most of the band's rows, so the edges
// they make stack up in columns; the edges of foliage, gravel or a wall's texture do not.
const (
	strokeRows = 0.6 // of the band's height, for a column to be a stroke
	// minStrokes is the number of stroke columns per band height of width: about two edges
	// per character, a character about half a band height wide.
	minStrokes = 1.2
)

func strokes(edges table, b image.Rectangle) bool {
	need := int(strokeRows*float64(b.Dy()) + 0.5)
	n := 0
	for x := b.Min.X; x < b.Max.X; x++ {
		if int(edges.rect(x, b.Min.Y, x+1, b.Max.Y)) >= need {
			n++
		}
	}
	return float64(n) >= minStrokes*float64(b.Dx())/float64(b.Dy())
}

// extend widens a verified band over the characters next to it, by at most half its width
// on either side: the best window of a plate is often a run of its characters, and the rest
// of them, or a country strip, lie beside it. A step of half a band height is taken while it
// has edges.
func extend(edges table, c candidate, w int) candidate {
	b := c.band
	th := b.Dy()
	step := max(2, th/2)
	reach := b.Dx() / 2
	dense := func(x0, x1 int) bool {
		return float64(edges.rect(x0, b.Min.Y, x1, b.Max.Y))/float64((x1-x0)*th) >= minThird
	}
	left, right := b.Min.X, b.Max.X
	for right+step <= min(w, b.Max.X+reach) && dense(right, right+step) {
		right += step
	}
	for left-step >= max(0, b.Min.X-reach) && dense(left-step, left) {
		left -= step
	}
	c.rect.Min.X -= b.Min.X - left
	c.rect.Max.X += right - b.Max.X
	c.band.Min.X, c.band.Max.X = left, right
	return c
}
