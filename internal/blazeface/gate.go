package blazeface

import (
	"image"
	"math"
)

// The finest pyramid level is half of the search, and what it adds are the faces too small
// for the levels below: faces of 10-20 px. Such a face already stirs the levels below it
// (the sqrt(2) level sees it at 7-14 px), with a small box at a score under the threshold,
// so those levels' small weak boxes mark where the finest level can find something. The
// finest level then runs only over those regions (with context around them) instead of
// over the whole image: sky, sand and walls cost nothing there. On the face set this finds
// the same faces (docs/engine.md); weaker boxes (0.05 and less) stir almost everywhere.

// regionCell is the grid the regions are laid on, in finest-level pixels: the network's coarsest
// stride, so a crop's anchors fall on the full level's anchor grid.
const regionCell = align

// cropContext is how far a region's crop reaches beyond it, in cells. A region already
// reaches one cell beyond the boxes that mark it, so a face there is at least two cells from
// the crop's edge: enough for the faces to come out as in the whole level's run
// (TestGateFindsTheSameFaces; without the context cell they do not). Two cells made the
// collage's crops 72 % of its finest level instead of 51 %.
const cropContext = 1

// maxGateWidth is the widest gate box (finest-level pixels) that marks a region: a larger
// face is the coarser levels' own.
const maxGateWidth = 48

// fullRunShare is the share of the level above which one run over the whole level is
// cheaper than the crops with their context.
const fullRunShare = 0.6

// regions returns the rectangles of the finest level l (in its pixels, multiples of regionCell)
// that the small gate boxes of the coarser levels point at: the cells each one touches, and
// one cell around them, merged into rectangles that do not overlap. full reports that they
// cover so much of the level that one run over all of it is cheaper.
func regions(l *level, gates []candidate) (rs []image.Rectangle, full bool) {
	gw, gh := l.pw/regionCell, l.ph/regionCell
	marked := make([]bool, gw*gh)
	n := 0
	for _, c := range gates {
		// Image pixels to level pixels.
		x1, y1, x2, y2 := c.x1*l.scale, c.y1*l.scale, c.x2*l.scale, c.y2*l.scale
		if x2-x1 > maxGateWidth {
			continue
		}
		m := float64(regionCell)
		cx1 := clampInt(int(math.Floor((x1-m)/regionCell)), 0, gw)
		cy1 := clampInt(int(math.Floor((y1-m)/regionCell)), 0, gh)
		cx2 := clampInt(int(math.Ceil((x2+m)/regionCell)), 0, gw)
		cy2 := clampInt(int(math.Ceil((y2+m)/regionCell)), 0, gh)
		for y := cy1; y < cy2; y++ {
			for x := cx1; x < cx2; x++ {
				if !marked[y*gw+x] {
					marked[y*gw+x] = true
					n++
				}
			}
		}
	}
	if float64(n) > fullRunShare*float64(gw*gh) {
		return nil, true
	}
	for _, r := range mergeRects(components(marked, gw, gh)) {
		rs = append(rs, image.Rect(r.Min.X*regionCell, r.Min.Y*regionCell, r.Max.X*regionCell, r.Max.Y*regionCell))
	}
	return rs, false
}

// components returns the bounding boxes (in cells) of the 8-connected groups of marked cells.
func components(marked []bool, gw, gh int) []image.Rectangle {
	seen := make([]bool, len(marked))
	var out []image.Rectangle
	var stack []int
	for i, m := range marked {
		if !m || seen[i] {
			continue
		}
		r := image.Rect(i%gw, i/gw, i%gw+1, i/gw+1)
		seen[i] = true
		stack = append(stack[:0], i)
		for len(stack) > 0 {
			j := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			x, y := j%gw, j/gw
			r = r.Union(image.Rect(x, y, x+1, y+1))
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := x+dx, y+dy
					if nx < 0 || ny < 0 || nx >= gw || ny >= gh {
						continue
					}
					k := ny*gw + nx
					if marked[k] && !seen[k] {
						seen[k] = true
						stack = append(stack, k)
					}
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// mergeRects joins overlapping rectangles until none overlap, so no cell is searched twice.
func mergeRects(rs []image.Rectangle) []image.Rectangle {
	for merged := true; merged; {
		merged = false
		for i := 0; i < len(rs); i++ {
			for j := i + 1; j < len(rs); j++ {
				if rs[i].Overlaps(rs[j]) {
					rs[i] = rs[i].Union(rs[j])
					rs = append(rs[:j], rs[j+1:]...)
					merged = true
					j = i
				}
			}
		}
	}
	return rs
}

func clampInt(v, lo, hi int) int { return max(lo, min(hi, v)) }

// crop cuts region r of l, with cropContext cells of context where l has them, as a level of
// its own whose decoding keeps only the anchors inside r and places them in l's coordinates.
func (l *level) crop(r image.Rectangle) *level {
	ctx := cropContext * regionCell
	c := image.Rect(r.Min.X-ctx, r.Min.Y-ctx, r.Max.X+ctx, r.Max.Y+ctx).Intersect(image.Rect(0, 0, l.pw, l.ph))
	n := &level{scale: l.scale, w: c.Dx(), h: c.Dy(), pw: c.Dx(), ph: c.Dy(), data: make([]float32, c.Dx()*c.Dy()*3),
		ox: c.Min.X, oy: c.Min.Y, keep: r.Sub(c.Min)}
	for y := range c.Dy() {
		copy(n.data[y*n.pw*3:(y+1)*n.pw*3], l.data[((c.Min.Y+y)*l.pw+c.Min.X)*3:])
	}
	return n
}
