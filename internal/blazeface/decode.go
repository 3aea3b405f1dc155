package blazeface

import (
	"fmt"
	"image"
	"math"
	"sort"
)

// head is one of the network's two output layers: a grid of cells at a
// stride, each with a number of anchors. MediaPipe's "back" model: every
// 16 px two anchors, every 32 px six (its SSD anchor options with fixed
// anchor size, so an anchor is a point and the regressors are pixels).
type head struct {
	stride  int
	anchors int
}

func heads() [2]head { return [2]head{{stride: 16, anchors: 2}, {stride: 32, anchors: 6}} }

// regressors per anchor: box centre offset x, y, width, height, then six
// key points (eyes, nose, mouth, ears) as x, y.
const regressors = 16

// candidate is one scored box in image pixels.
type candidate struct {
	x1, y1, x2, y2 float64
	score          float64
	// support is, after merging, the sum of the scores of the candidates
	// merged into this one: a face is seen by many anchors at several
	// levels, a face-like patch of texture by few.
	support float64
}

func (c candidate) area() float64 { return max(0, c.x2-c.x1) * max(0, c.y2-c.y1) }

func iou(a, b candidate) float64 {
	w := min(a.x2, b.x2) - max(a.x1, b.x1)
	h := min(a.y2, b.y2) - max(a.y1, b.y1)
	if w <= 0 || h <= 0 {
		return 0
	}
	inter := w * h
	return inter / (a.area() + b.area() - inter)
}

// decode turns one head's raw outputs for a level into candidates above
// threshold, in the coordinates of the full image.
func decode(l *level, hd head, scores, boxes []float32, threshold float64) ([]candidate, error) {
	gw, gh := l.pw/hd.stride, l.ph/hd.stride
	n := gw * gh * hd.anchors
	if len(scores) != n || len(boxes) != n*regressors {
		return nil, fmt.Errorf("blazeface: stride %d head gave %d scores and %d regressors for a %dx%d input, want %d and %d",
			hd.stride, len(scores), len(boxes), l.pw, l.ph, n, n*regressors)
	}
	// Comparing raw logits saves a sigmoid per anchor.
	logit := math.Log(threshold / (1 - threshold))
	scale := 1 / l.scale
	var out []candidate
	for i, s := range scores {
		// Written so that a NaN score fails it too.
		if !(float64(s) >= logit) {
			continue
		}
		cell := i / hd.anchors
		ax := (float64(cell%gw) + 0.5) * float64(hd.stride)
		ay := (float64(cell/gw) + 0.5) * float64(hd.stride)
		if !l.keep.Empty() && !image.Pt(int(ax), int(ay)).In(l.keep) {
			continue
		}
		ax, ay = ax+float64(l.ox), ay+float64(l.oy)
		r := boxes[i*regressors:]
		cx, cy := ax+float64(r[0]), ay+float64(r[1])
		hw, hh := float64(r[2])/2, float64(r[3])/2
		// A box that is not finite and positive would merge everything near it into nonsense.
		if !finite(cx, cy, hw, hh) || !(hw > 0 && hh > 0) {
			continue
		}
		out = append(out, candidate{
			x1: (cx - hw) * scale, y1: (cy - hh) * scale,
			x2: (cx + hw) * scale, y2: (cy + hh) * scale,
			score: sigmoid(float64(s)),
		})
	}
	return out, nil
}

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

func sigmoid(x float64) float64 {
	// MediaPipe clips the logits the same way.
	x = max(-100, min(100, x))
	return 1 / (1 + math.Exp(-x))
}

// nmsOverlap is the IoU at which two candidates are the same face
// (MediaPipe's min_suppression_threshold for BlazeFace).
const nmsOverlap = 0.3

// weightedNMS merges overlapping candidates the way MediaPipe does for
// BlazeFace: the best remaining candidate and everything overlapping it
// become one box, their score-weighted mean, with the best score and the
// sum of their scores as support. Averaging (rather than keeping the best
// box) steadies the box across anchors and pyramid levels.
func weightedNMS(cs []candidate) []candidate {
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].score > cs[j].score })
	used := make([]bool, len(cs))
	var out []candidate
	for i, best := range cs {
		if used[i] {
			continue
		}
		var sum candidate
		var w float64
		for j := i; j < len(cs); j++ {
			if used[j] || (j != i && iou(best, cs[j]) < nmsOverlap) {
				continue
			}
			used[j] = true
			c := cs[j]
			sum.x1 += c.x1 * c.score
			sum.y1 += c.y1 * c.score
			sum.x2 += c.x2 * c.score
			sum.y2 += c.y2 * c.score
			w += c.score
		}
		out = append(out, candidate{x1: sum.x1 / w, y1: sum.y1 / w, x2: sum.x2 / w, y2: sum.y2 / w, score: best.score, support: w})
	}
	return out
}
