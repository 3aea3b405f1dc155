package haar

import (
	"math"
	"math/bits"
	"sort"
	"unsafe"
)

// The stump path: a cascade of depth-1 trees with integer rectangle weights (every
// opencv-data cascade used here) is evaluated with exact integer stage sums that stop as soon
// as a stage is decided, reading both summed-area tables through one pointer.

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
