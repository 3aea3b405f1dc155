package haar

import (
	"context"
	"fmt"
	"image"
	"sort"
	"sync"
	"sync/atomic"
)

// Job asks for one cascade to be run over the pyramid.
type Job struct {
	Cascade *Cascade
	// MinSize and MaxSize bound the detected object size in input pixels;
	// zero MinSize means the cascade's window size and zero MaxSize means
	// no limit. A MinSize below the window size upsamples the image, which
	// finds smaller objects at a cost.
	MinSize, MaxSize image.Point
	// MinNeighbors is OpenCV's minNeighbors: a cluster needs more than
	// this many raw hits. Zero returns the raw hits ungrouped.
	MinNeighbors int
	// DenseStep tries every position at every scale for this job, where by
	// default, like OpenCV, windows are tried every second pixel below
	// scale 2. It costs up to four times the work and finds objects whose
	// few hits would otherwise fall between the positions tried.
	DenseStep bool
}

// Options control the shared pyramid.
type Options struct {
	// ScaleFactor is the ratio between pyramid levels (> 1, e.g. 1.1).
	ScaleFactor float64
	// DenseStep sets Job.DenseStep for every job.
	DenseStep bool
	// Workers evaluates this many pyramid levels at once; < 1 means 1.
	Workers int
}

// Run evaluates every job over one shared image pyramid of g, so the
// resizing and summed-area tables are computed once for all cascades.
// The result has one slice of groups per job, in input pixels.
func Run(ctx context.Context, g *image.Gray, jobs []Job, opt Options) ([][]Group, error) {
	if opt.ScaleFactor <= 1 {
		return nil, fmt.Errorf("scale factor %v must be greater than 1", opt.ScaleFactor)
	}
	w, h := g.Rect.Dx(), g.Rect.Dy()
	factors := pyramidFactors(w, h, jobs, opt.ScaleFactor)
	raw := make([][]image.Rectangle, len(jobs))
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	workers := max(1, min(opt.Workers, len(factors)))
	for range workers {
		wg.Go(func() {
			var tb tables
			for {
				i := int(next.Add(1) - 1)
				if i >= len(factors) || ctx.Err() != nil {
					return
				}
				hits := scanLevel(g, jobs, factors[i], opt, &tb)
				mu.Lock()
				for j := range hits {
					raw[j] = append(raw[j], hits[j]...)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("detection cancelled: %w", err)
	}
	out := make([][]Group, len(jobs))
	for j, job := range jobs {
		rs := raw[j]
		// Sorting makes the grouping independent of worker scheduling.
		sort.Slice(rs, func(a, b int) bool { return lessRect(rs[a], rs[b]) })
		if job.MinNeighbors <= 0 {
			for _, r := range rs {
				out[j] = append(out[j], Group{Rect: r, Neighbors: 1})
			}
			continue
		}
		out[j] = groupRectangles(rs, job.MinNeighbors, 0.2)
	}
	return out, nil
}

func lessRect(a, b image.Rectangle) bool {
	if a.Dx() != b.Dx() {
		return a.Dx() < b.Dx()
	}
	if a.Min.Y != b.Min.Y {
		return a.Min.Y < b.Min.Y
	}
	if a.Min.X != b.Min.X {
		return a.Min.X < b.Min.X
	}
	return a.Dy() < b.Dy()
}

// pyramidFactors lists the scales at which at least one job runs, largest
// level (smallest factor, most work) first so parallel workers finish
// together. The first factor is 1, or smaller when a job's MinSize asks for
// objects below its window size.
func pyramidFactors(w, h int, jobs []Job, sf float64) []float64 {
	start := 1.0
	for _, j := range jobs {
		if j.MinSize.X > 0 && j.MinSize.Y > 0 {
			start = min(start, float64(j.MinSize.X)/float64(j.Cascade.Width), float64(j.MinSize.Y)/float64(j.Cascade.Height))
		}
	}
	var out []float64
	for f := start; ; f *= sf {
		lw, lh := roundInt(float64(w)/f), roundInt(float64(h)/f)
		any, fits := false, false
		for _, j := range jobs {
			if lw < j.Cascade.Width || lh < j.Cascade.Height {
				continue
			}
			fits = true
			if j.active(f, w, h) {
				any = true
			}
		}
		if !fits {
			return out
		}
		if any {
			out = append(out, f)
		}
	}
}

// active says whether the job's window scaled by f is within its size
// bounds (MaxSize defaults to the image size, like OpenCV).
func (j Job) active(f float64, w, h int) bool {
	ww, wh := roundInt(float64(j.Cascade.Width)*f), roundInt(float64(j.Cascade.Height)*f)
	minW, minH := j.MinSize.X, j.MinSize.Y
	if minW <= 0 || minH <= 0 {
		minW, minH = j.Cascade.Width, j.Cascade.Height
	}
	maxW, maxH := j.MaxSize.X, j.MaxSize.Y
	if maxW <= 0 || maxH <= 0 {
		maxW, maxH = w, h
	}
	return ww >= minW && wh >= minH && ww <= maxW && wh <= maxH
}

// scanLevel resizes g by 1/f and slides every active job's window over it. The layer and its
// tables are made in the memory of tb.
func scanLevel(g *image.Gray, jobs []Job, f float64, opt Options, tb *tables) [][]image.Rectangle {
	dense := opt.DenseStep
	w, h := g.Rect.Dx(), g.Rect.Dy()
	lw, lh := roundInt(float64(w)/f), roundInt(float64(h)/f)
	needTilted := false
	for _, j := range jobs {
		if j.active(f, w, h) && hasTilted(j.Cascade) {
			needTilted = true
		}
	}
	layer := resizeInto(tb.gray, g, lw, lh)
	tb.gray = layer.Pix
	it := tb.integral(layer, needTilted)
	hits := make([][]image.Rectangle, len(jobs))
	for ji, j := range jobs {
		if !j.active(f, w, h) || lw < j.Cascade.Width || lh < j.Cascade.Height {
			continue
		}
		step := 1
		if f <= 2 && !dense && !j.DenseStep {
			step = 2
		}
		e := newEvaluator(j.Cascade, it)
		ww, wh := roundInt(float64(j.Cascade.Width)*f), roundInt(float64(j.Cascade.Height)*f)
		// Like OpenCV, the last position tried puts the window's right
		// (bottom) edge on the layer's last pixel.
		for y := 0; y <= lh-j.Cascade.Height; y += step {
			for x := 0; x <= lw-j.Cascade.Width; x += step {
				r := e.runAt(it, x, y)
				if r > 0 {
					ox, oy := roundInt(float64(x)*f), roundInt(float64(y)*f)
					hits[ji] = append(hits[ji], image.Rect(ox, oy, ox+ww, oy+wh))
				} else if r == 0 {
					x += step
				}
			}
		}
	}
	return hits
}
