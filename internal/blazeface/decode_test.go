package blazeface

import (
	"image"
	"math"
	"testing"
)

// TestDecode places one hit on a known anchor of each head and checks the
// box it decodes to, in the pixels of the full image.
func TestDecode(t *testing.T) {
	t.Parallel()
	logit := func(p float64) float32 { return float32(math.Log(p / (1 - p))) }
	for _, tc := range []struct {
		name   string
		scale  float64
		hd     head
		index  int        // anchor index in the head's output
		reg    [4]float32 // dx, dy, w, h
		want   candidate
		w, h   int
		nScore int
	}{
		// 64x64 level: stride-16 head is 4x4 cells of 2 anchors. Anchor 11
		// is cell 5 = (1, 1), centre (24, 24).
		{"stride 16", 1, head{16, 2}, 11, [4]float32{2, -4, 10, 20}, candidate{x1: 21, y1: 10, x2: 31, y2: 30, score: 0.9}, 64, 64, 32},
		// Stride-32 head: 2x2 cells of 6 anchors; anchor 19 is cell 3 =
		// (1, 1), centre (48, 48); the level is half the image.
		{"stride 32 at half size", 0.5, head{32, 6}, 19, [4]float32{0, 0, 8, 8}, candidate{x1: 88, y1: 88, x2: 104, y2: 104, score: 0.9}, 64, 64, 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLevel(tc.scale, tc.w, tc.h)
			scores := make([]float32, tc.nScore)
			for i := range scores {
				scores[i] = logit(0.01)
			}
			scores[tc.index] = logit(0.9)
			boxes := make([]float32, tc.nScore*regressors)
			copy(boxes[tc.index*regressors:], tc.reg[:])
			got, err := decode(l, tc.hd, scores, boxes, 0.5)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("got %d candidates, want 1: %v", len(got), got)
			}
			g := got[0]
			if math.Abs(g.x1-tc.want.x1) > 1e-9 || math.Abs(g.y1-tc.want.y1) > 1e-9 ||
				math.Abs(g.x2-tc.want.x2) > 1e-9 || math.Abs(g.y2-tc.want.y2) > 1e-9 || math.Abs(g.score-0.9) > 1e-6 {
				t.Errorf("got %+v, want %+v", g, tc.want)
			}
		})
	}
	if _, err := decode(newLevel(1, 64, 64), head{16, 2}, make([]float32, 31), make([]float32, 31*regressors), 0.5); err == nil {
		t.Error("wrong output size accepted")
	}
	// Non-finite outputs are no face: a NaN box would swallow every box near it in merging.
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	scores := []float32{nan, logit(0.9), logit(0.9), logit(0.9), logit(0.9), logit(0.9), logit(0.9), logit(0.9)}
	boxes := make([]float32, len(scores)*regressors)
	for i, r := range [][4]float32{{}, {nan, 0, 8, 8}, {0, 0, inf, 8}, {0, 0, 8, -1}, {0, 0, 0, 8}, {0, inf, 8, 8}, {0, 0, 8, 8}, {1, 1, 8, 8}} {
		copy(boxes[i*regressors:], r[:])
	}
	got, err := decode(newLevel(1, 32, 32), head{16, 2}, scores, boxes, 0.5)
	if err != nil || len(got) != 2 {
		t.Errorf("non-finite outputs: %v, %v; want only the two finite boxes", got, err)
	}
}

func TestWeightedNMS(t *testing.T) {
	t.Parallel()
	a := candidate{x1: 0, y1: 0, x2: 10, y2: 10, score: 0.9}
	b := candidate{x1: 2, y1: 0, x2: 12, y2: 10, score: 0.3} // IoU 0.67 with a
	c := candidate{x1: 50, y1: 50, x2: 60, y2: 60, score: 0.5}
	d := candidate{x1: 8, y1: 0, x2: 18, y2: 10, score: 0.4} // IoU 0.11 with a
	for _, tc := range []struct {
		name string
		in   []candidate
		want []candidate
	}{
		{"empty", nil, nil},
		{"one", []candidate{c}, []candidate{{x1: 50, y1: 50, x2: 60, y2: 60, score: 0.5, support: 0.5}}},
		{"overlapping merge, weighted", []candidate{b, a}, []candidate{{x1: 0.5, y1: 0, x2: 10.5, y2: 10, score: 0.9, support: 1.2}}},
		{"apart stay apart", []candidate{a, c}, []candidate{{x1: 0, y1: 0, x2: 10, y2: 10, score: 0.9, support: 0.9}, {x1: 50, y1: 50, x2: 60, y2: 60, score: 0.5, support: 0.5}}},
		{"little overlap stays", []candidate{d, a}, []candidate{{x1: 0, y1: 0, x2: 10, y2: 10, score: 0.9, support: 0.9}, {x1: 8, y1: 0, x2: 18, y2: 10, score: 0.4, support: 0.4}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := weightedNMS(append([]candidate(nil), tc.in...))
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				for _, d := range []float64{g.x1 - w.x1, g.y1 - w.y1, g.x2 - w.x2, g.y2 - w.y2, g.score - w.score, g.support - w.support} {
					if math.Abs(d) > 1e-9 {
						t.Errorf("%d: got %+v, want %+v", i, g, w)
						break
					}
				}
			}
		})
	}
}

func TestPyramid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		w, h, maxPixels int
		want            int
	}{
		{64, 48, 1 << 22, 1},
		{1920, 1080, 1 << 22, 1},
		{3000, 3000, 1 << 22, 2},
		{8000, 6000, 1 << 22, 4},
		{1, 1 << 23, 1 << 22, 1}, // halving would leave no column
		{3, 1 << 23, 1 << 22, 2},
	} {
		if got := finest(tc.w, tc.h, tc.maxPixels); got != tc.want {
			t.Errorf("finest(%d, %d) = %v, want %v", tc.w, tc.h, got, tc.want)
		}
	}
	l := newLevel(1, 1920, 1080)
	var sides []int
	for {
		sides = append(sides, l.h)
		if !l.coarser(coarsest) {
			break
		}
		l = l.halve()
	}
	if want := []int{1080, 540, 270, 135}; len(sides) != len(want) || sides[3] != 135 {
		t.Errorf("1080p levels %v, want %v", sides, want)
	}
	if l.pw%align != 0 || l.ph%align != 0 || l.pw < l.w || l.ph < l.h {
		t.Errorf("level %dx%d padded to %dx%d", l.w, l.h, l.pw, l.ph)
	}
}

// TestLevels checks the resampling: a flat image stays flat at every
// level, the padding stays mid grey, and an area average of a sharp edge
// lands where the edge is.
func TestLevels(t *testing.T) {
	t.Parallel()
	img := image.NewRGBA(image.Rect(0, 0, 100, 60))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for _, l := range []*level{fromRGBA(img), shrinkRGBA(img, 2), shrinkRGBA(img, 4), fromRGBA(img).scaled(1 / math.Sqrt2)} {
		for y := range l.ph {
			for x := range l.pw {
				want := float32(0)
				if x < l.w && y < l.h {
					want = 1
				}
				for c := range 3 {
					if v := l.data[(y*l.pw+x)*3+c]; math.Abs(float64(v-want)) > 1e-5 {
						t.Fatalf("level at %v: (%d,%d) = %v, want %v", l.scale, x, y, v, want)
					}
				}
			}
		}
	}
	// Left half black: at scale 0.5 pixel 24 is black, 25 white.
	for y := range 60 {
		for x := range 50 {
			copy(img.Pix[img.PixOffset(x, y):], []uint8{0, 0, 0, 255})
		}
	}
	l := shrinkRGBA(img, 2)
	if l.data[24*3] != -1 || l.data[25*3] != 1 {
		t.Errorf("halved edge: %v %v", l.data[24*3], l.data[25*3])
	}
	if q := shrinkRGBA(img, 4); q.data[11*3] != -1 || math.Abs(float64(q.data[12*3])) > 1e-6 || q.data[13*3] != 1 {
		t.Errorf("quartered edge: %v %v %v", q.data[11*3], q.data[12*3], q.data[13*3]) // 12 covers 48-52: half black
	}
	s := fromRGBA(img).scaled(0.4) // pixel 19 covers source 47.5-50: black; 20 covers 50-52.5: white
	if math.Abs(float64(s.data[19*3]+1)) > 1e-5 || math.Abs(float64(s.data[20*3]-1)) > 1e-5 {
		t.Errorf("scaled edge: %v %v", s.data[19*3], s.data[20*3])
	}
	for i, ts := range areaTaps(100, 70, 0.7) {
		var sum float32
		for _, tp := range ts {
			sum += tp.weight
		}
		if math.Abs(float64(sum-1)) > 1e-5 {
			t.Fatalf("output pixel %d weights sum to %v", i, sum)
		}
	}
}
