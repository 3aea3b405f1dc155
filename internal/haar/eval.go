package haar

import (
	"math"
	"math/bits"
	"sort"
	"unsafe"
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

// stump is a depth-1 tree with its feature's geometry. Its leaves are integers: the float32
// leaves of the cascade scaled by a common power of two (see leafScale).
type stump struct {
	// ofs are byte offsets from the window's origin in the upright table, four per
	// rectangle; those of a tilted feature reach into the tilted table, which follows it.
	// Every corner is at or below the window's top row, so they are not negative: unsigned,
	// they load without the sign extension that keeps int32 loads out of the compiler's
	// indexed addressing.
	ofs [12]uint32
	w   [3]int32
	thr float32
	// three is set for features of three rectangles: the branch on it takes the same way
	// for every window, which the branch predictor learns.
	three bool
	// right is the leaf taken when the feature value is at least the threshold, right+diff
	// the other one.
	right, diff int64
	// The stage is decided after this stump when the leaf sum so far is below lo, or at
	// least lo+span, whatever the stumps after it give (see decideBounds).
	lo   int64
	span uint64
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

// stumpsOnly reports whether c can take the fast path. It needs depth-1 trees and integer
// rectangle weights, which is what every opencv-data cascade used here has.
func stumpsOnly(c *Cascade) bool {
	for _, s := range c.Stages {
		for _, w := range s.Weak {
			if len(w.Nodes) != 1 {
				return false
			}
		}
	}
	for _, f := range c.Features {
		for _, r := range f.Rects {
			if r.Weight != math.Trunc(r.Weight) || math.Abs(r.Weight) > 1<<10 {
				return false
			}
		}
	}
	return true
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

// offsetsFit reports whether every byte offset of e's features fits the uint32 offsets of
// stump. It needs e.feats set.
func (e *evaluator) offsetsFit() bool {
	for _, f := range e.feats {
		table := 0
		if f.tilted {
			table = e.tiltedAt
		}
		for _, ofs := range f.ofs[:f.n] {
			for _, o := range ofs {
				if o := 4 * (table + o); o < 0 || o > math.MaxUint32 {
					return false
				}
			}
		}
	}
	return true
}

// leafScale finds the power of two that turns every float32 leaf of stages into an integer,
// and reports whether that scale gives exact stage sums. The evaluator sums a stage's leaves
// in float64; when every leaf is a multiple of 2^-k and a stage's leaves sum, in absolute
// value, to at most 2^53 of those units, every partial sum is a float64 and the float sum
// is exact. Then the integer sum makes the same decision in any order and can stop as soon
// as the stage's outcome is certain. Every opencv-data cascade qualifies.
func leafScale(stages []Stage) (int, bool) {
	k := math.MinInt
	for _, s := range stages {
		if math.IsNaN(s.Threshold) {
			return 0, false
		}
		for _, w := range s.Weak {
			for _, l := range w.Leaves {
				l32 := float64(float32(l))
				if math.IsNaN(l32) || math.IsInf(l32, 0) {
					return 0, false
				}
				if l32 != 0 {
					// l32 = frac * 2^exp with 53 bits of frac, the lowest set one at exp-53+tz.
					frac, exp := math.Frexp(math.Abs(l32))
					tz := bits.TrailingZeros64(uint64(math.Ldexp(frac, 53)))
					k = max(k, 53-exp-tz)
				}
			}
		}
	}
	if k == math.MinInt {
		return 0, true // all leaves are zero
	}
	for _, s := range stages {
		var total float64
		for _, w := range s.Weak {
			for _, l := range w.Leaves {
				total += math.Abs(math.Ldexp(float64(float32(l)), k))
			}
		}
		if total > 1<<53 {
			return 0, false
		}
	}
	return k, true
}

// newStumps copies the geometry of each weak classifier's feature into its stump, so that
// stumpStage reads one array; its offsets are in bytes, as stumpStage reads the int32 tables
// through a pointer. The leaves are scaled by 2^scale into exact integers. A missing third
// rectangle has weight and offsets zero.
//
// The stumps of a stage are ordered by how much their two leaves differ, largest first: the
// sum of those settles soonest whether the stage passes. The order changes no decision, as
// the sum is exact.
func (e *evaluator) newStumps(s Stage, scale int) []stump {
	sts := make([]stump, len(s.Weak))
	for i, w := range s.Weak {
		nd := w.Nodes[0]
		f := &e.feats[nd.Feature]
		left := int64(math.Ldexp(float64(float32(w.Leaves[-nd.Left])), scale))
		right := int64(math.Ldexp(float64(float32(w.Leaves[-nd.Right])), scale))
		st := stump{w: [3]int32{int32(f.w[0]), int32(f.w[1]), int32(f.w[2])}, thr: float32(nd.Threshold),
			right: right, diff: left - right, three: f.n == 3}
		table := 0
		if f.tilted {
			table = e.tiltedAt
		}
		for j := 0; j < f.n; j++ {
			for k := range 4 {
				st.ofs[4*j+k] = uint32(4 * (table + f.ofs[j][k]))
			}
		}
		sts[i] = st
	}
	sort.SliceStable(sts, func(a, b int) bool { return abs64(sts[a].diff) > abs64(sts[b].diff) })
	decideBounds(sts, stageMin(s.Threshold, scale))
	return sts
}

// stageMin is the least integer leaf sum that passes a stage of threshold thr: a sum passes
// when sum*2^-scale >= thr. It is clamped to +-2^54, beyond any stage's sum.
func stageMin(thr float64, scale int) int64 {
	t := math.Ceil(math.Ldexp(thr, scale))
	if thr > 0 && t <= 0 {
		t = 1 // a positive threshold too small for 2^scale to keep: only a positive sum passes
	}
	return int64(max(-(1 << 54), min(1<<54, t)))
}

// decideBounds sets lo and span of each stump of a stage that passes with a leaf sum of
// least: after stump i the stage fails if even the larger leaves of all stumps after it
// cannot reach least, and passes if even their smaller leaves do. After the last stump the
// two bounds meet at least.
func decideBounds(sts []stump, least int64) {
	var maxRest, minRest int64
	for i := len(sts) - 1; i >= 0; i-- {
		st := &sts[i]
		st.lo = least - maxRest
		st.span = uint64(maxRest - minRest)
		left := st.right + st.diff
		maxRest += max(left, st.right)
		minRest += min(left, st.right)
	}
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
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

// stumpStage reports whether the window at offset p passes the stage of stumps sts, whose
// integer leaves must sum to least. The feature value is an exact integer; instead of
// scaling it by 1/norm (norm = sqrt(area*sqsum - sum^2)) it is compared with
// threshold*norm, which spares two conversions and multiplications per stump. The stage
// ends at the first stump after which its outcome is certain (see decideBounds).
//
// This is the innermost loop of detection (tens of millions of iterations
// per image), so it reads the tables through an unsafe pointer: runAt has
// already checked that the whole window, and so every offset here, lies
// inside the layer, which makes the twelve per-stump bounds checks dead
// weight (they cost about a third of the detection time). The pointer is
// into the memory that holds the upright table and then the tilted one
// (see tables.integral), so one base serves both.
func stumpStage(it *integral, sts []stump, p int, norm float32, least int64) bool {
	var sum int64
	t := unsafe.Add(unsafe.Pointer(unsafe.SliceData(it.sum)), 4*p)
	for i := range sts {
		st := &sts[i]
		v := st.w[0]*(at(t, st.ofs[0])-at(t, st.ofs[1])-at(t, st.ofs[2])+at(t, st.ofs[3])) +
			st.w[1]*(at(t, st.ofs[4])-at(t, st.ofs[5])-at(t, st.ofs[6])+at(t, st.ofs[7]))
		if st.three {
			v += st.w[2] * (at(t, st.ofs[8]) - at(t, st.ofs[9]) - at(t, st.ofs[10]) + at(t, st.ofs[11]))
		}
		// The comparison is close to a coin toss, so a branch here would
		// mispredict half the time. The sign bit of v-thr*norm is 1 exactly
		// when v < thr*norm (an exact difference of equal values is +0);
		// shifted down arithmetically it makes a mask of all ones.
		neg := int64(int32(math.Float32bits(float32(v)-st.thr*norm)) >> 31)
		sum += st.right + st.diff&neg
		// One unsigned comparison tests sum < lo and sum >= lo+span.
		if uint64(sum-st.lo) >= st.span {
			return sum >= st.lo
		}
	}
	return sum >= least // only an empty stage gets here
}

// at reads the int32 at byte offset off from base.
func at(base unsafe.Pointer, off uint32) int32 {
	return *(*int32)(unsafe.Add(base, off))
}
