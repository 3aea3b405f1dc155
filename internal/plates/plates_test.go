package plates

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/testimages"
	"github.com/anonjob/anonjob/internal/testimages/objects"
)

// covered reports whether a detection covers 80 % of want, the labelled set's rule.
func covered(ds []detect.Detection, want image.Rectangle) bool {
	for _, d := range ds {
		in := d.Rect.Intersect(want)
		if 5*in.Dx()*in.Dy() >= 4*want.Dx()*want.Dy() {
			return true
		}
	}
	return false
}

// pastePlates puts plates of the given widths (European shape) on a row of img at y and
// returns their boxes.
func pastePlates(t *testing.T, img *image.RGBA, y int, widths []int) []image.Rectangle {
	t.Helper()
	var boxes []image.Rectangle
	x := 40
	for i, w := range widths {
		boxes = append(boxes, pastePlate(t, img, fmt.Sprintf("AB %d%d%d", i, i+3, 7-i), image.Pt(x, y), w))
		x += w + 60
	}
	return boxes
}

func pastePlate(t *testing.T, img *image.RGBA, text string, at image.Point, w int) image.Rectangle {
	t.Helper()
	h := max(8, w*11/52)
	p, err := objects.RenderPlate(text, w, h)
	if err != nil {
		t.Fatal(err)
	}
	r := image.Rectangle{at, at.Add(image.Pt(w, h))}
	draw.Draw(img, r, p, image.Point{}, draw.Src)
	return r
}

// TestFindsPlatesOfEverySize pastes plates of 30 to 130 px, with four texts, at four places
// of the sand in the collage (a texture, not a plain ground), one at a time, and counts the
// plates found. The figures are what the search reaches; a change that loses plates fails.
func TestFindsPlatesOfEverySize(t *testing.T) {
	if raceEnabled {
		// 96 searches of one goroutine each, ten times slower under the race detector,
		// which has nothing to find here; CI's run without -race runs it.
		t.Skip("slow under the race detector; run without -race")
	}
	t.Parallel()
	base := testimages.Collage(t)
	sand := image.Rect(0, 850, 1100, 1040)
	d := New(Config{})
	total := 0
	for _, w := range []int{30, 38, 48, 64, 90, 130} {
		found := 0
		for i, y := range []int{880, 900, 960, 1000} {
			for j, text := range []string{"AB 037", "KO RS 8820", "M XY 12", "DD EL 550"} {
				img := image.NewRGBA(base.Rect)
				copy(img.Pix, base.Pix)
				plate := pastePlate(t, img, text, image.Pt(40+200*i+7*j, y), w)
				ds, err := d.Detect(context.Background(), img.SubImage(sand).(*image.RGBA))
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range ds {
					if d.Class != detect.LicensePlate || d.Score <= 0 || !d.Rect.In(sand) {
						t.Errorf("detection %+v: want a licence plate with a positive score inside %v", d, sand)
					}
				}
				if covered(ds, plate) {
					found++
				}
			}
		}
		t.Logf("plates %d px wide: %d of 16 found", w, found)
		if found < 9 {
			t.Errorf("plates %d px wide: %d of 16 found, want at least 9", w, found)
		}
		total += found
	}
	if total < 72 {
		t.Errorf("%d of 96 plates found, want at least 72", total)
	}
}

func TestMinHeight(t *testing.T) {
	t.Parallel()
	full := testimages.Collage(t)
	plate := pastePlates(t, full, 900, []int{38, 48, 64, 90})[3]
	img := full.SubImage(image.Rect(0, 850, 700, 1000)).(*image.RGBA)
	if ds, _ := New(Config{MinHeight: 8}).Detect(context.Background(), img); !covered(ds, plate) {
		t.Fatalf("a plate %d px tall is not found with MinHeight 8", plate.Dy())
	}
	if ds, _ := New(Config{MinHeight: 24}).Detect(context.Background(), img); covered(ds, plate) {
		t.Fatalf("a plate %d px tall is found with MinHeight 24", plate.Dy())
	}
}

// TestNoPlatesIn shows the checks that keep textures and patterns out: each image has
// contrast and edges everywhere, and none of it is a row of characters on a plain ground.
func TestNoPlatesIn(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		pix  func(x, y int) uint8
	}{
		{"plain", func(int, int) uint8 { return 200 }},
		{"noise", func(int, int) uint8 { return uint8(rng.IntN(256)) }},
		// A fence: bars run through every row, so the margins are as dense as the band.
		{"bars", func(x, _ int) uint8 { return uint8(40 + 180*((x/3)%2)) }},
		// A chequerboard of character-sized squares: rows of dark runs, but no plain margin.
		{"checks", func(x, y int) uint8 { return uint8(30 + 200*((x/4+y/4)%2)) }},
		// Soft gradients have no edges at all.
		{"gradient", func(x, y int) uint8 { return uint8((x + y) % 256) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := image.NewRGBA(image.Rect(0, 0, 320, 240))
			for y := range 240 {
				for x := range 320 {
					v := tc.pix(x, y)
					img.SetRGBA(x, y, color.RGBA{v, v, v, 255})
				}
			}
			ds, err := New(Config{}).Detect(context.Background(), img)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 0 {
				t.Errorf("found %d plates: %v", len(ds), rects(ds))
			}
		})
	}
}

func TestDetectStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := New(Config{}).Detect(ctx, image.NewRGBA(image.Rect(0, 0, 640, 480)))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestSmallImages(t *testing.T) {
	t.Parallel()
	for _, r := range []image.Rectangle{{}, image.Rect(0, 0, 1, 1), image.Rect(0, 0, 40, 30), image.Rect(10, 10, 60, 30)} {
		ds, err := New(Config{}).Detect(context.Background(), image.NewRGBA(r))
		if err != nil || len(ds) != 0 {
			t.Errorf("%v: %v, %v; want nothing", r, ds, err)
		}
	}
}

func TestCharacterRuns(t *testing.T) {
	t.Parallel()
	// Rows of a band 10 px tall: 'x' dark, '.' light.
	for _, tc := range []struct {
		row  string
		want int
	}{
		{"..xx..x..xxx..x...xx..", 5},
		{"..xx..x..xxx" + dots(14) + "x..xx..x..", 6},      // one wide gap, between two groups
		{"..xx" + dots(26) + "x..x..x..", 0},               // a gap wider than two spaces
		{"..xx" + dots(14) + "x" + dots(14) + "x..x..", 0}, // two wide gaps
		{"..xxxxxxxxxxxx..x..x..", 0},                      // a dark run wider than a character
		{"xx..x..x", 3},                                    // runs at both ends count
		{"........", 0},
	} {
		row := make([]uint8, len(tc.row))
		for i, c := range tc.row {
			row[i] = 220
			if c == 'x' {
				row[i] = 20
			}
		}
		if got := characterRuns(row, 120, 10); got != tc.want {
			t.Errorf("characterRuns(%q) = %d, want %d", tc.row, got, tc.want)
		}
	}
}

func TestBimodality(t *testing.T) {
	t.Parallel()
	two := [256]int{20: 50, 230: 50}
	spread := [256]int{}
	for v := range 256 {
		spread[v] = 1
	}
	if b := bimodality(&two, 100); b < 0.99 {
		t.Errorf("two levels: %v, want about 1", b)
	}
	if b := bimodality(&spread, 256); b > 0.8 {
		t.Errorf("every grey once: %v, want at most 0.8", b)
	}
	if b := bimodality(&[256]int{100: 10}, 10); b != 0 {
		t.Errorf("one grey: %v, want 0", b)
	}
}

func TestResample(t *testing.T) {
	t.Parallel()
	p := &plane{w: 4, h: 2, pix: []uint8{0, 100, 200, 40, 10, 110, 210, 60}}
	for _, tc := range []struct {
		w, h int
		want []uint8
	}{
		{4, 2, p.pix},
		{2, 1, []uint8{55, 128}},
		{1, 1, []uint8{91}},
		{8, 2, nil}, // enlarged: checked for its ends below
	} {
		got := resample(p, tc.w, tc.h)
		if got.w != tc.w || got.h != tc.h || len(got.pix) != tc.w*tc.h {
			t.Fatalf("resample to %dx%d: got %dx%d with %d pixels", tc.w, tc.h, got.w, got.h, len(got.pix))
		}
		if tc.want != nil && !slices.Equal(got.pix, tc.want) {
			t.Errorf("resample to %dx%d = %v, want %v", tc.w, tc.h, got.pix, tc.want)
		}
		if tc.want == nil && (got.pix[0] != 0 || got.pix[7] != 40) {
			t.Errorf("enlarged row %v: want its ends 0 and 40", got.pix[:8])
		}
	}
}

func dots(n int) string { return strings.Repeat(".", n) }

func rects(ds []detect.Detection) []image.Rectangle {
	out := make([]image.Rectangle, len(ds))
	for i, d := range ds {
		out[i] = d.Rect
	}
	return out
}

// TestNoPlatesInTheCollage: the face set's collage (portraits, crowds, sky, sand) has no plate,
// and the search finds none there. The checks on a window's pixels (its strokes, two grey
// levels, character runs, both margins) each keep boxes out of it.
func TestNoPlatesInTheCollage(t *testing.T) {
	t.Parallel()
	ds, err := New(Config{}).Detect(context.Background(), testimages.Collage(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 0 {
		t.Errorf("found %d plates in the collage: %v", len(ds), rects(ds))
	}
}

// TestLeastCount holds the window tests' least counts to the densities they stand for: n
// edge pixels of area pass share exactly when n is at least leastCount(area, share), for
// every window area plateWindows tests.
func TestLeastCount(t *testing.T) {
	t.Parallel()
	largest := int(slices.Max(textShapes)*float64(slices.Max(textHeights))) * slices.Max(textHeights)
	for _, share := range []float64{minBand, minThird, 0.25, 0.5, 1} {
		for area := 1; area <= largest; area++ {
			least := leastCount(area, share)
			for n := int32(0); n <= int32(area); n++ {
				if pass := float64(n)/float64(area) >= share; pass != (n >= least) {
					t.Fatalf("area %d, share %v: %d pixels pass %v, least count %d", area, share, n, pass, least)
				}
			}
		}
	}
}

// TestWindowsByCount holds plateWindows, which compares edge counts with least counts, to the
// same windows as the densities it stands for (plateWindowsByDensity), on random edge maps
// of every density and on the collage.
func TestWindowsByCount(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	var levels []*plane
	for i := range 40 {
		w, h := 40+r.IntN(200), 12+r.IntN(60)
		p := &plane{w: w, h: h, pix: make([]uint8, w*h)}
		// Stripes of characters on plain ground, with noise of a density that grows with i.
		for y := range h {
			for x := range w {
				v := uint8(200)
				if (y/4)%3 == 1 && (x/2)%3 != 0 {
					v = 30
				}
				if r.IntN(40) < i {
					v = uint8(r.IntN(256))
				}
				p.pix[y*w+x] = v
			}
		}
		levels = append(levels, p)
	}
	collage := testimages.Collage(t)
	levels = append(levels, grey(collage, image.Rect(0, 0, 640, 360).Add(image.Pt(0, 640))))
	windows := 0
	for i, l := range levels {
		edges := integral(l.w, l.h, edgeMap(l))
		got, err := plateWindows(context.Background(), l, edges)
		if err != nil {
			t.Fatal(err)
		}
		want := plateWindowsByDensity(l, edges)
		if !slices.Equal(got, want) {
			t.Fatalf("level %d (%dx%d): %d windows by count, %d by density", i, l.w, l.h, len(got), len(want))
		}
		windows += len(got)
	}
	if windows < 100 {
		t.Fatalf("only %d windows passed on all levels: the test shows nothing", windows)
	}
}

// TestWindowsByCountOnColumnEdges compares the two on edge maps made of whole columns of
// edges over bands of every text height: there a step right adds or drops a full column,
// so the counts land exactly on the bounds the search skips by, and on their neighbours.
func TestWindowsByCountOnColumnEdges(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 10))
	windows := 0
	for i := range 60 {
		th := textHeights[i%len(textHeights)]
		m := max(1, int(marginShare*float64(th)+0.5))
		w, h := 60+r.IntN(160), th+2*m+r.IntN(4)
		edges := make([]uint8, w*h)
		share := 0.2 + 0.6*r.Float64() // of the columns that carry edges
		top := m + r.IntN(h-th-2*m+1)
		for x := range w {
			if r.Float64() >= share {
				continue
			}
			// A column of the band; now and then reaching into the margins.
			y0, y1 := top, top+th
			if r.IntN(8) == 0 {
				y0 = max(0, y0-1-r.IntN(m))
			}
			for y := y0; y < y1; y++ {
				edges[y*w+x] = 1
			}
		}
		l := &plane{w: w, h: h, pix: make([]uint8, w*h)}
		table := integral(w, h, edges)
		got, err := plateWindows(context.Background(), l, table)
		if err != nil {
			t.Fatal(err)
		}
		if want := plateWindowsByDensity(l, table); !slices.Equal(got, want) {
			t.Fatalf("map %d (%dx%d, text %d px): %d windows by count, %d by density", i, w, h, th, len(got), len(want))
		}
		windows += len(got)
	}
	if windows < 1000 {
		t.Fatalf("only %d windows passed: the test shows nothing", windows)
	}
}

// plateWindowsByDensity is plateWindows as first written, with every test a density, and
// without its bound on the windows kept.
func plateWindowsByDensity(l *plane, edges table) []candidate {
	density := func(x0, y0, x1, y1 int) float64 {
		return float64(edges.rect(x0, y0, x1, y1)) / float64((x1-x0)*(y1-y0))
	}
	var found []candidate
	for _, th := range textHeights {
		m := max(1, int(marginShare*float64(th)+0.5))
		for y := m; y+th+m <= l.h; y++ {
			for x := 0; x < l.w; x++ {
				narrow := int(textShapes[0] * float64(th))
				if x+narrow > l.w || density(x, y, x+narrow, y+th) < minBand {
					continue
				}
				for _, shape := range textShapes {
					tw := int(shape * float64(th))
					if x+tw > l.w {
						break
					}
					band := density(x, y, x+tw, y+th)
					if band < minBand {
						continue
					}
					margin := max(density(x, y-m, x+tw, y), density(x, y+th, x+tw, y+th+m))
					if margin > maxMargin*band {
						continue
					}
					t := tw / 3
					if density(x, y, x+t, y+th) < minThird || density(x+t, y, x+2*t, y+th) < minThird ||
						density(x+2*t, y, x+tw, y+th) < minThird {
						continue
					}
					found = append(found, candidate{
						rect:  image.Rect(x-tw/8, y-m, x+tw+tw/20+1, y+th+m).Intersect(image.Rect(0, 0, l.w, l.h)),
						band:  image.Rect(x, y, x+tw, y+th),
						score: band - margin,
					})
				}
			}
		}
	}
	return found
}
