package haar

import (
	"math"
	"testing"

	"github.com/anonjob/anonjob/internal/testimages"
)

// TestStumpsMatchPlainEvaluation compares the evaluator's stump path (integer leaves, stages
// cut short once decided, stumps reordered, both tables read from one pointer) with the
// cascade evaluated as written: every stump in file order, float leaves summed in float64.
// The two must agree on every window of every layer, stage by stage, for cascades with
// upright and with tilted features. The layers are made in one reused set of tables, from
// the largest to the smallest and back, as Run's workers reuse them.
func TestStumpsMatchPlainEvaluation(t *testing.T) {
	t.Parallel()
	g := Gray(testimages.Collage(t))
	for _, name := range []string{RussianPlate, "haarcascade_frontalface_default.xml", "haarcascade_frontalcatface_extended.xml"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := referenceCascade(t, name)
			var tb tables
			// Counts of windows by the stage that rejected them, to show the test reaches
			// deep stages and full passes, not only flat windows.
			reached := map[int]int{}
			for _, f := range []float64{6, 10, 8} {
				w, h := roundInt(float64(g.Rect.Dx())/f), roundInt(float64(g.Rect.Dy())/f)
				layer := resizeInto(tb.gray, g, w, h)
				tb.gray = layer.Pix
				it := tb.integral(layer, c.HasTilted)
				e := newEvaluator(c, it)
				if !e.stumps {
					t.Fatal("the cascade does not take the stump path")
				}
				for y := 0; y+c.Height <= it.h; y++ {
					for x := 0; x+c.Width <= it.w; x++ {
						want := plainRunAt(c, it, x, y)
						if got := e.runAt(it, x, y); got != want {
							t.Fatalf("layer 1/%g, window at %d,%d: runAt = %d, the plain evaluation %d", f, x, y, got, want)
						}
						reached[want]++
					}
				}
			}
			deep := 0
			for stage, n := range reached {
				if stage <= -3 || stage == 1 {
					deep += n
				}
			}
			if deep < 100 {
				t.Fatalf("only %d windows got past the third stage (%v): the test shows little", deep, reached)
			}
		})
	}
}

// plainRunAt is runAt for a cascade of stumps, written from the cascade's definition.
func plainRunAt(c *Cascade, it *integral, x, y int) int {
	sums := plainStageSums(c, it, x, y)
	if sums == nil {
		return -1
	}
	if last := len(sums) - 1; sums[last] < c.Stages[last].Threshold {
		return -last
	}
	return 1
}

// plainStageSums are the leaf sums of the stages the window at x, y reaches, in order, up to
// and including the one that rejects it: every stump in file order, float32 leaves summed in
// float64. nil: the window is outside the layer or too flat for any stage.
func plainStageSums(c *Cascade, it *integral, x, y int) []float64 {
	if x < 0 || y < 0 || x+c.Width > it.w || y+c.Height > it.h {
		return nil
	}
	p := y*it.stride + x
	upright := func(r WeightedRect) int32 {
		o := rectOffsets(r.X, r.Y, r.W, r.H, it.stride)
		return it.sum[p+o[0]] - it.sum[p+o[1]] - it.sum[p+o[2]] + it.sum[p+o[3]]
	}
	tilted := func(r WeightedRect) int32 {
		o := tiltedOffsets(r, it.stride)
		return it.tilted[p+o[0]] - it.tilted[p+o[1]] - it.tilted[p+o[2]] + it.tilted[p+o[3]]
	}
	o := rectOffsets(1, 1, c.Width-2, c.Height-2, it.stride)
	valsum := it.sum[p+o[0]] - it.sum[p+o[1]] - it.sum[p+o[2]] + it.sum[p+o[3]]
	valsq := it.sqsum[p+o[0]] - it.sqsum[p+o[1]] - it.sqsum[p+o[2]] + it.sqsum[p+o[3]]
	area := float64((c.Width - 2) * (c.Height - 2))
	nf := area*float64(valsq) - float64(valsum)*float64(valsum)
	if nf <= 100*area*area || area*float64(float32(1/math.Sqrt(nf))) >= 0.1 {
		return nil
	}
	norm := float32(math.Sqrt(nf))
	var sums []float64
	for _, s := range c.Stages {
		var sum float64
		for _, w := range s.Weak {
			nd := w.Nodes[0]
			f := c.Features[nd.Feature]
			var v int32
			for _, r := range f.Rects {
				if f.Tilted {
					v += int32(r.Weight) * tilted(r)
				} else {
					v += int32(r.Weight) * upright(r)
				}
			}
			leaf := w.Leaves[-nd.Right]
			if float32(v)-float32(nd.Threshold)*norm < 0 {
				leaf = w.Leaves[-nd.Left]
			}
			sum += float64(float32(leaf))
		}
		sums = append(sums, sum)
		if sum < s.Threshold {
			break
		}
	}
	return sums
}
