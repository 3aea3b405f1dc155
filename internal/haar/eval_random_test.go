package haar

import (
	"image"
	"math"
	"math/rand/v2"
	"testing"
)

// TestStumpsMatchPlainEvaluationOnRandomCascades checks the stump path where real cascades
// never go: leaves that are small dyadic numbers (so that a stage's sum can equal its
// threshold exactly), even integers (a negative scale), zeros, empty stages, thresholds
// at, just above and just below a sum the stage can reach, and tiny positive thresholds.
// Every window is tried, including those against the layer's last row and column and
// those outside it, on tables reused from one size to the next.
func TestStumpsMatchPlainEvaluationOnRandomCascades(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	var tb tables
	stumps, passed, tied := 0, 0, 0
	for range 600 {
		c := randomCascade(rng)
		g := mixedGray(rng, c.Width+rng.IntN(30), c.Height+rng.IntN(30))
		it := tb.integral(g, hasTilted(c) || rng.IntN(2) == 0)
		e := newEvaluator(c, it)
		if !e.stumps {
			continue // leaves too far apart to sum exactly: the general path, tested elsewhere
		}
		stumps++
		for y := -1; y+c.Height <= it.h+1; y++ {
			for x := -1; x+c.Width <= it.w+1; x++ {
				want := plainRunAt(c, it, x, y)
				if got := e.runAt(it, x, y); got != want {
					t.Fatalf("cascade %d (%d stages), window at %d,%d of %dx%d: runAt = %d, the plain evaluation %d",
						stumps, len(c.Stages), x, y, it.w, it.h, got, want)
				}
				if want == 1 {
					passed++
				}
				if want != -1 && tiesAt(c, it, x, y) {
					tied++
				}
			}
		}
	}
	if stumps < 400 || passed < 1000 || tied < 100 {
		t.Fatalf("%d cascades on the stump path, %d windows passing them, %d stages decided by a tie: the test shows little",
			stumps, passed, tied)
	}
}

// randomCascade is a stump cascade of random upright and tilted features. Its leaves come
// from one of three kinds per cascade: sixteenths, even integers or zeros and ones.
func randomCascade(rng *rand.Rand) *Cascade {
	w, h := 6+rng.IntN(12), 6+rng.IntN(12)
	c := &Cascade{Width: w, Height: h}
	weights := []float64{-1, 1, 2, 3, -2, -3, 9}
	for range 1 + rng.IntN(12) {
		f := Feature{Tilted: rng.IntN(3) == 0}
		for range 2 + rng.IntN(2) {
			f.Rects = append(f.Rects, randomRect(rng, f.Tilted, w, h, weights[rng.IntN(len(weights))]))
		}
		c.HasTilted = c.HasTilted || f.Tilted
		c.Features = append(c.Features, f)
	}
	kind := rng.IntN(3)
	leaf := func() float64 {
		switch kind {
		case 0:
			return float64(rng.IntN(33)-16) / 16
		case 1:
			return float64(2 * (rng.IntN(5) - 2))
		}
		return float64(rng.IntN(2))
	}
	for range 1 + rng.IntN(6) {
		var s Stage
		reach := 0.0 // a sum the stage can reach
		for range rng.IntN(7) {
			wk := Weak{Nodes: []Node{{Feature: rng.IntN(len(c.Features)), Threshold: rng.NormFloat64() * 0.2, Right: -1}},
				Leaves: []float64{leaf(), leaf()}}
			reach += wk.Leaves[rng.IntN(2)]
			s.Weak = append(s.Weak, wk)
		}
		switch rng.IntN(5) {
		case 0:
			s.Threshold = reach
		case 1:
			s.Threshold = math.Nextafter(reach, math.Inf(1))
		case 2:
			s.Threshold = math.Nextafter(reach, math.Inf(-1))
		case 3:
			s.Threshold = math.SmallestNonzeroFloat64
		default:
			s.Threshold = (rng.Float64() - 0.5) * float64(len(s.Weak))
		}
		c.Stages = append(c.Stages, s)
	}
	return c
}

// randomRect is a rectangle inside a w x h window; a tilted one as OpenCV's are, its
// corners inside the window.
func randomRect(rng *rand.Rand, tilted bool, w, h int, weight float64) WeightedRect {
	if !tilted {
		x, y := rng.IntN(w), rng.IntN(h)
		return WeightedRect{X: x, Y: y, W: 1 + rng.IntN(w-x), H: 1 + rng.IntN(h-y), Weight: weight}
	}
	for {
		r := WeightedRect{X: rng.IntN(w), Y: rng.IntN(h), W: 1 + rng.IntN(w/2), H: 1 + rng.IntN(h/2), Weight: weight}
		if r.X-r.H >= 0 && r.X+r.W <= w && r.Y+r.W+r.H <= h {
			return r
		}
	}
}

// mixedGray is noise, stripes or a flat grey with specks: windows of every variance.
func mixedGray(rng *rand.Rand, w, h int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	kind := rng.IntN(3)
	for i := range g.Pix {
		x, y := i%w, i/w
		switch kind {
		case 0:
			g.Pix[i] = uint8(rng.IntN(256))
		case 1:
			g.Pix[i] = uint8(250*((x/3+y/5)%2) + rng.IntN(6))
		default:
			g.Pix[i] = 128
			if rng.IntN(6) == 0 {
				g.Pix[i] = uint8(rng.IntN(256))
			}
		}
	}
	return g
}

// tiesAt reports whether a stage that the window reaches has a sum exactly at its threshold.
func tiesAt(c *Cascade, it *integral, x, y int) bool {
	sums := plainStageSums(c, it, x, y)
	for i, sum := range sums {
		if sum == c.Stages[i].Threshold {
			return true
		}
	}
	return false
}

func TestLeafScale(t *testing.T) {
	t.Parallel()
	stage := func(thr float64, leaves ...float64) []Stage {
		s := Stage{Threshold: thr}
		for i := 0; i+1 < len(leaves); i += 2 {
			s.Weak = append(s.Weak, Weak{Nodes: []Node{{Right: -1}}, Leaves: []float64{leaves[i], leaves[i+1]}})
		}
		return []Stage{s}
	}
	for _, tc := range []struct {
		name   string
		stages []Stage
		scale  int
		ok     bool
	}{
		{"sixteenths", stage(0.5, 0.0625, -0.5, 1.25, 0), 4, true},
		{"even integers", stage(1, 2, -4, 6, 0), -1, true},
		{"all zero", stage(-1, 0, 0), 0, true},
		{"float32 of a decimal", stage(0, 0.1, -0.3), 27, true},
		{"too far apart to sum exactly", stage(0, 1, math.Ldexp(1, -60)), 0, false},
		{"NaN leaf", stage(0, math.NaN(), 1), 0, false},
		{"infinite leaf", stage(0, math.Inf(1), 1), 0, false},
		{"NaN threshold", stage(math.NaN(), 1, 2), 0, false},
	} {
		scale, ok := leafScale(tc.stages)
		if ok != tc.ok || ok && scale != tc.scale {
			t.Errorf("%s: leafScale = %d, %v; want %d, %v", tc.name, scale, ok, tc.scale, tc.ok)
		}
	}
}
