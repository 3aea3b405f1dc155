package haar

import (
	"math"
	"unsafe"
)

// evaluator is a cascade laid out for fast evaluation on layers of one
// row stride: every rectangle corner is a precomputed offset into the
// summed-area tables, and the weak classifiers are flattened into arrays.
type evaluator struct {
	win      [2]int // window width, height
	stride   int
	feats    []optFeature
	normOfs  [4]int
	normArea float64

	stageEnd []int     // end index into weak data for each stage
	stageThr []float64 // stage thresholds
	// Stumps (depth-1 trees) are the common case and get their feature
	// geometry inlined so the inner loop touches one array; deeper trees use
	// nodeStart/nodes/leaves and the shared feature table.
	stumps               bool
	st                   []stump
	nodeStart, leafStart []int
	nodes                []Node
	leaves               []float32
}

type stump struct {
	ofs         [12]int  // byte offsets from the window origin
	w           [3]int32 // Haar weights are small integers (-1, 2, 3, 9)
	thr         float32
	left, right uint32 // float32 bits, chosen without a branch
	tilted      bool
}

type optFeature struct {
	n      int
	tilted bool
	ofs    [3][4]int
	w      [3]float32
}

func newEvaluator(c *Cascade, stride int) *evaluator {
	e := &evaluator{win: [2]int{c.Width, c.Height}, stride: stride}
	e.feats = make([]optFeature, len(c.Features))
	for i, f := range c.Features {
		e.feats[i] = newOptFeature(f, stride)
	}
	e.normOfs = rectOffsets(1, 1, c.Width-2, c.Height-2, stride)
	e.normArea = float64((c.Width - 2) * (c.Height - 2))
	e.stumps = stumpsOnly(c)
	e.flatten(c.Stages)
	return e
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
// and threshold. It needs e.feats and e.stumps set.
func (e *evaluator) flatten(stages []Stage) {
	n := 0
	for _, s := range stages {
		for _, w := range s.Weak {
			if e.stumps {
				e.st = append(e.st, e.newStump(w))
			} else {
				e.addTree(w)
			}
		}
		n += len(s.Weak)
		e.stageEnd = append(e.stageEnd, n)
		e.stageThr = append(e.stageThr, s.Threshold)
	}
}

// newStump copies the geometry of w's feature into the stump, so that stumpStage reads one
// array; its offsets are in bytes, as stumpStage reads the int32 tables through pointers.
func (e *evaluator) newStump(w Weak) stump {
	nd := w.Nodes[0]
	f := &e.feats[nd.Feature]
	st := stump{w: [3]int32{int32(f.w[0]), int32(f.w[1]), int32(f.w[2])}, thr: float32(nd.Threshold), tilted: f.tilted,
		left:  math.Float32bits(float32(w.Leaves[-nd.Left])),
		right: math.Float32bits(float32(w.Leaves[-nd.Right]))}
	for j := 0; j < f.n; j++ {
		for k := range 4 {
			st.ofs[4*j+k] = 4 * f.ofs[j][k]
		}
	}
	return st
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
	vnf := float32(1 / nfRoot)
	if e.normArea*float64(vnf) >= 0.1 {
		return -1
	}
	begin := 0
	for si, end := range e.stageEnd {
		var sum float64
		if e.stumps {
			sum = e.stumpStage(it, e.st[begin:end], p, float32(nfRoot))
		} else {
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
		}
		if sum < e.stageThr[si] {
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

// stumpStage sums one stage of stumps. A missing third rectangle has weight
// and offsets zero, so every feature is evaluated as three rectangles
// without a branch. The feature value is an exact integer; instead of
// scaling it by 1/norm (norm = sqrt(area*sqsum - sum^2)) it is compared
// with threshold*norm, which spares two conversions and multiplications
// per stump.
//
// This is the innermost loop of detection (tens of millions of iterations
// per image), so it reads the tables through unsafe pointers: runAt has
// already checked that the whole window, and so every offset here, lies
// inside the layer, which makes the twelve per-stump bounds checks dead
// weight (they cost about a third of the detection time).
func (e *evaluator) stumpStage(it *integral, sts []stump, p int, norm float32) float64 {
	var sum float64
	up := unsafe.Pointer(unsafe.SliceData(it.sum[p:]))
	tl := up
	if it.tilted != nil {
		tl = unsafe.Pointer(unsafe.SliceData(it.tilted[p:]))
	}
	for i := range sts {
		st := &sts[i]
		t := up
		if st.tilted {
			t = tl
		}
		o := &st.ofs
		v := st.w[0]*(at(t, o[0])-at(t, o[1])-at(t, o[2])+at(t, o[3])) +
			st.w[1]*(at(t, o[4])-at(t, o[5])-at(t, o[6])+at(t, o[7])) +
			st.w[2]*(at(t, o[8])-at(t, o[9])-at(t, o[10])+at(t, o[11]))
		// The comparison is close to a coin toss, so a branch here would
		// mispredict half the time. The sign bit of v-thr*norm is 1 exactly
		// when v < thr*norm (an exact difference of equal values is +0).
		neg := math.Float32bits(float32(v)-st.thr*norm) >> 31
		leaf := st.right ^ ((st.left ^ st.right) & -neg)
		sum += float64(math.Float32frombits(leaf))
	}
	return sum
}

// at reads the int32 at byte offset off from base.
func at(base unsafe.Pointer, off int) int32 {
	return *(*int32)(unsafe.Add(base, off))
}
