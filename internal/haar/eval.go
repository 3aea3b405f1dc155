package haar

import (
	"math"
)

// evaluator is a cascade laid out for fast evaluation on layers of one
// row stride: every rectangle corner is a precomputed offset into the
// summed-area tables, and the weak classifiers are flattened into arrays.
type evaluator struct {
	win      [2]int // window width, height
	stride   int
	tiltedAt int // where the tilted table starts after the upright one, in entries
	feats    []optFeature
	normOfs  [4]int
	normArea float64
	// sureVar is a variance (times area squared) above which the
	// standard-deviation test of runAt cannot fail, so the division it needs
	// is skipped.
	sureVar float64

	stageEnd []int     // end index into weak data for each stage
	stageThr []float64 // stage thresholds
	// Stumps (depth-1 trees) are the common case and get their feature
	// geometry and integer leaves inlined so the inner loop touches one
	// array (see newStumps); deeper trees use nodeStart/nodes/leaves and the
	// shared feature table.
	stumps               bool
	st                   []stump
	stageMin             []int64 // per stage: the least integer leaf sum that passes
	nodeStart, leafStart []int
	nodes                []Node
	leaves               []float32
}

type optFeature struct {
	n      int
	tilted bool
	ofs    [3][4]int
	w      [3]float32
}

// newEvaluator lays out c for layers of the size of it.
func newEvaluator(c *Cascade, it *integral) *evaluator {
	if hasTilted(c) && it.tilted == nil {
		// The stump path would read the missing table out of bounds, unchecked.
		panic("haar: a cascade with tilted features on a layer without the tilted table")
	}
	stride := it.stride
	e := &evaluator{win: [2]int{c.Width, c.Height}, stride: stride, tiltedAt: len(it.sum)}
	e.feats = make([]optFeature, len(c.Features))
	for i, f := range c.Features {
		e.feats[i] = newOptFeature(f, stride)
	}
	e.normOfs = rectOffsets(1, 1, c.Width-2, c.Height-2, stride)
	e.normArea = float64((c.Width - 2) * (c.Height - 2))
	e.sureVar = 100.01 * e.normArea * e.normArea
	e.flatten(c)
	return e
}

// hasTilted reports whether a feature of c is tilted, whatever c.HasTilted says: a stump that
// reads the tilted table must never run on a layer without it.
func hasTilted(c *Cascade) bool {
	for _, f := range c.Features {
		if f.Tilted {
			return true
		}
	}
	return false
}

func newOptFeature(f Feature, stride int) optFeature {
	of := optFeature{n: len(f.Rects), tilted: f.Tilted}
	for j, r := range f.Rects {
		of.w[j] = float32(r.Weight)
		if f.Tilted {
			of.ofs[j] = tiltedOffsets(r, stride)
		} else {
			of.ofs[j] = rectOffsets(r.X, r.Y, r.W, r.H, stride)
		}
	}
	return of
}

// tiltedOffsets are the corners of r in the tilted table, in the order rectOffsets gives an
// upright rectangle's, so both are summed alike: top, left, right, bottom.
func tiltedOffsets(r WeightedRect, stride int) [4]int {
	return [4]int{
		r.X + stride*r.Y,
		r.X - r.H + stride*(r.Y+r.H),
		r.X + r.W + stride*(r.Y+r.W),
		r.X + r.W - r.H + stride*(r.Y+r.W+r.H),
	}
}

// flatten lays out the weak classifiers of stages in evaluation order, with each stage's end
// and threshold. It needs e.feats set, and takes the stump path when c allows it (every
// opencv-data cascade of stumps does); other cascades go through the general tree path,
// which compares feature values as OpenCV does (v/norm < threshold, where the stump path
// compares v - threshold*norm: the two can differ on a window at a tie).
func (e *evaluator) flatten(c *Cascade) {
	scale, ok := leafScale(c.Stages)
	e.stumps = ok && stumpsOnly(c) && e.offsetsFit()
	n := 0
	for _, s := range c.Stages {
		if e.stumps {
			e.st = append(e.st, e.newStumps(s, scale)...)
			e.stageMin = append(e.stageMin, stageMin(s.Threshold, scale))
		} else {
			for _, w := range s.Weak {
				e.addTree(w)
			}
		}
		n += len(s.Weak)
		e.stageEnd = append(e.stageEnd, n)
		e.stageThr = append(e.stageThr, s.Threshold)
	}
}

// addTree appends a tree deeper than a stump; runAt finds its nodes and leaves through
// nodeStart and leafStart.
func (e *evaluator) addTree(w Weak) {
	e.nodeStart = append(e.nodeStart, len(e.nodes))
	e.leafStart = append(e.leafStart, len(e.leaves))
	e.nodes = append(e.nodes, w.Nodes...)
	for _, l := range w.Leaves {
		e.leaves = append(e.leaves, float32(l))
	}
}

func rectOffsets(x, y, w, h, stride int) [4]int {
	return [4]int{y*stride + x, y*stride + x + w, (y+h)*stride + x, (y+h)*stride + x + w}
}

// runAt evaluates the window whose top-left corner is (x,y) in layer it.
// It returns 1 when every stage accepts, -1 when the window is rejected
// before any stage (outside the layer or too flat), and otherwise minus the
// index of the rejecting stage, so 0 means the first stage rejected it,
// which the scanner uses to skip the next position as OpenCV does.
func (e *evaluator) runAt(it *integral, x, y int) int {
	if x < 0 || y < 0 || x+e.win[0] >= it.w+1 || y+e.win[1] >= it.h+1 {
		return -1
	}
	p := y*e.stride + x
	s, q := it.sum, it.sqsum
	o := &e.normOfs
	valsum := s[p+o[0]] - s[p+o[1]] - s[p+o[2]] + s[p+o[3]]
	valsq := q[p+o[0]] - q[p+o[1]] - q[p+o[2]] + q[p+o[3]]
	nf := e.normArea*float64(valsq) - float64(valsum)*float64(valsum)
	// OpenCV rejects windows whose standard deviation is at most 10 grey
	// levels (area/sqrt(nf) >= 0.1): they cannot hold a face or a plate and
	// are the bulk of flat backgrounds, so testing it before the square
	// root is also a large speed-up.
	if nf <= 100*e.normArea*e.normArea {
		return -1
	}
	nfRoot := math.Sqrt(nf)
	if e.stumps {
		// Above sureVar (100.01 area^2), area/sqrt(nf) is below 0.1 by a
		// relative 5e-5, far more than the rounding of OpenCV's test (1/sqrt
		// rounded to float32, about 6e-8) can make up, so the stump path,
		// which needs no 1/sqrt(nf), skips the division.
		if nf < e.sureVar && e.normArea*float64(float32(1/nfRoot)) >= 0.1 {
			return -1
		}
		return e.runStumps(it, p, float32(nfRoot))
	}
	vnf := float32(1 / nfRoot)
	if e.normArea*float64(vnf) >= 0.1 {
		return -1
	}
	begin := 0
	for si, end := range e.stageEnd {
		var sum float64
		for k := begin; k < end; k++ {
			nodes := e.nodes[e.nodeStart[k]:]
			idx := 0
			for {
				nd := &nodes[idx]
				v := e.featureValue(it, nd.Feature, p) * vnf
				if v < float32(nd.Threshold) {
					idx = nd.Left
				} else {
					idx = nd.Right
				}
				if idx <= 0 {
					break
				}
			}
			sum += float64(e.leaves[e.leafStart[k]-idx])
		}
		if sum < e.stageThr[si] {
			return -si
		}
		begin = end
	}
	return 1
}

// runStumps is runAt's stage loop for a cascade of stumps, on the window at offset p whose
// variance normalisation is norm.
func (e *evaluator) runStumps(it *integral, p int, norm float32) int {
	begin := 0
	for si, end := range e.stageEnd {
		if !stumpStage(it, e.st[begin:end], p, norm, e.stageMin[si]) {
			return -si
		}
		begin = end
	}
	return 1
}

// featureValue is the weighted rectangle sum of feature f for the window at
// offset p, before variance normalisation.
func (e *evaluator) featureValue(it *integral, f, p int) float32 {
	of := &e.feats[f]
	t := it.sum
	if of.tilted {
		t = it.tilted
	}
	var v float32
	for j := 0; j < of.n; j++ {
		o := &of.ofs[j]
		v += of.w[j] * float32(t[p+o[0]]-t[p+o[1]]-t[p+o[2]]+t[p+o[3]])
	}
	return v
}
