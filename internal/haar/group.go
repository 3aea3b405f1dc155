package haar

import (
	"image"
	"math"
)

// Group is a cluster of raw cascade hits averaged into one rectangle.
// Neighbors is the number of hits in the cluster: the higher, the surer.
type Group struct {
	Rect      image.Rectangle
	Neighbors int
}

// groupRectangles clusters raw hits like cv::groupRectangles: two
// rectangles are similar when every edge differs by at most
// eps*(mean of the smaller sides); clusters are the transitive closure of
// that relation; clusters with minNeighbors or fewer members are dropped,
// as are clusters lying inside a stronger cluster.
func groupRectangles(rects []image.Rectangle, minNeighbors int, eps float64) []Group {
	if len(rects) == 0 {
		return nil
	}
	labels := partition(rects, eps)
	n := 0
	for _, l := range labels {
		n = max(n, l+1)
	}
	type acc struct{ x, y, w, h, count int }
	accs := make([]acc, n)
	for i, r := range rects {
		a := &accs[labels[i]]
		a.x += r.Min.X
		a.y += r.Min.Y
		a.w += r.Dx()
		a.h += r.Dy()
		a.count++
	}
	avg := make([]Group, n)
	for i, a := range accs {
		s := 1 / float64(a.count)
		x, y := roundInt(float64(a.x)*s), roundInt(float64(a.y)*s)
		w, h := roundInt(float64(a.w)*s), roundInt(float64(a.h)*s)
		avg[i] = Group{Rect: image.Rect(x, y, x+w, y+h), Neighbors: a.count}
	}
	var out []Group
	for i, g1 := range avg {
		if g1.Neighbors <= minNeighbors {
			continue
		}
		r1, n1 := g1.Rect, g1.Neighbors
		inside := false
		for j, g2 := range avg {
			n2 := g2.Neighbors
			if j == i || n2 <= minNeighbors {
				continue
			}
			r2 := g2.Rect
			dx, dy := roundInt(float64(r2.Dx())*eps), roundInt(float64(r2.Dy())*eps)
			if r1.Min.X >= r2.Min.X-dx && r1.Min.Y >= r2.Min.Y-dy &&
				r1.Max.X <= r2.Max.X+dx && r1.Max.Y <= r2.Max.Y+dy &&
				(n2 > max(3, n1) || n1 < 3) {
				inside = true
				break
			}
		}
		if !inside {
			out = append(out, g1)
		}
	}
	return out
}

// similar is OpenCV's SimilarRects predicate.
func similar(a, b image.Rectangle, eps float64) bool {
	delta := eps * float64(min(a.Dx(), b.Dx())+min(a.Dy(), b.Dy())) * 0.5
	return math.Abs(float64(a.Min.X-b.Min.X)) <= delta &&
		math.Abs(float64(a.Min.Y-b.Min.Y)) <= delta &&
		math.Abs(float64(a.Max.X-b.Max.X)) <= delta &&
		math.Abs(float64(a.Max.Y-b.Max.Y)) <= delta
}

// partition labels rects by connected components of the similarity
// relation, using union-find. Labels are dense and in order of first
// appearance.
func partition(rects []image.Rectangle, eps float64) []int {
	parent := make([]int, len(rects))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for i := range rects {
		for j := i + 1; j < len(rects); j++ {
			if similar(rects[i], rects[j], eps) {
				if a, b := find(i), find(j); a != b {
					parent[b] = a
				}
			}
		}
	}
	labels := make([]int, len(rects))
	ids := map[int]int{}
	for i := range rects {
		root := find(i)
		id, ok := ids[root]
		if !ok {
			id = len(ids)
			ids[root] = id
		}
		labels[i] = id
	}
	return labels
}

// roundInt rounds half away from zero, like cvRound for the values here.
func roundInt(v float64) int { return int(math.Round(v)) }
