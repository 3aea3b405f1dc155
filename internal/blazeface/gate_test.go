package blazeface

import (
	"context"
	"image"
	"reflect"
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/testimages"
)

// TestGateFindsTheSameFaces runs the collage of the face set (27 faces, 13 of them under
// 20 px, among sky and sand) with the finest level over the gate's regions and over all of
// it: the same faces come out, and the regions are well under the whole level.
func TestGateFindsTheSameFaces(t *testing.T) {
	t.Parallel()
	img := testimages.Collage(t)
	var found [2][]goldenBox
	for i, gate := range []float64{-1, 0} {
		ds, err := newDetector(t, Config{GateFloor: gate, Workers: 2}).Detect(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		found[i] = boxes(ds)
	}
	if len(found[0]) < 20 {
		t.Fatalf("%d faces on the collage, want its faces", len(found[0]))
	}
	if !sameBoxes(found[0], found[1], 2) {
		t.Errorf("whole finest level found\n%v\nthe gate's regions\n%v", found[0], found[1])
	}

	d := newDetector(t, Config{})
	first := fromRGBA(img)
	gates, err := d.runLevels(context.Background(), coarserLevels(first), DefaultGateFloor)
	if err != nil {
		t.Fatal(err)
	}
	var all []candidate
	for _, cs := range gates {
		all = append(all, cs...)
	}
	rs, full := regions(first, all)
	area := 0
	for _, r := range rs {
		area += r.Dx() * r.Dy()
	}
	if share := float64(area) / float64(first.pw*first.ph); full || share > 0.5 {
		t.Errorf("regions cover %.2f of the collage (full %v), want the parts with faces", share, full)
	}
}

func TestRegions(t *testing.T) {
	t.Parallel()
	l := newLevel(1, 640, 320) // 20 x 10 cells
	box := func(x1, y1, x2, y2 float64) candidate { return candidate{x1: x1, y1: y1, x2: x2, y2: y2, score: 0.1} }
	for _, tc := range []struct {
		name  string
		gates []candidate
		want  []image.Rectangle
		full  bool
	}{
		{name: "none"},
		{"one small box: its cells and one around", []candidate{box(100, 100, 110, 112)},
			[]image.Rectangle{image.Rect(64, 64, 160, 160)}, false},
		{"a large box is the coarser levels' own", []candidate{box(100, 100, 160, 160)}, nil, false},
		{"at the edge: clipped to the level", []candidate{box(0, 0, 8, 8)},
			[]image.Rectangle{image.Rect(0, 0, 64, 64)}, false},
		{"overlapping ones merge", []candidate{box(100, 100, 110, 112), box(140, 140, 150, 150)},
			[]image.Rectangle{image.Rect(64, 64, 192, 192)}, false},
		{"apart ones stay apart", []candidate{box(100, 100, 110, 112), box(500, 200, 510, 210)},
			[]image.Rectangle{image.Rect(64, 64, 160, 160), image.Rect(448, 160, 544, 256)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs, full := regions(l, tc.gates)
			if full != tc.full || !reflect.DeepEqual(rs, tc.want) {
				t.Errorf("regions = %v, full %v; want %v, full %v", rs, full, tc.want, tc.full)
			}
		})
	}

	// Boxes everywhere: one run over the whole level is cheaper than the crops.
	var many []candidate
	for x := 0.0; x < 640; x += 40 {
		for y := 0.0; y < 320; y += 40 {
			many = append(many, box(x, y, x+8, y+8))
		}
	}
	if rs, full := regions(l, many); !full || rs != nil {
		t.Errorf("boxes all over: regions %v, full %v; want the whole level", rs, full)
	}

	// A gate box is in image pixels; a level at half size takes it at half size.
	half := newLevel(0.5, 640, 320)
	if rs, _ := regions(half, []candidate{box(200, 200, 220, 224)}); !reflect.DeepEqual(rs, []image.Rectangle{image.Rect(64, 64, 160, 160)}) {
		t.Errorf("half-size level: regions %v, want [(64,64)-(160,160)]", rs)
	}
}

// TestCropKeepsItsAnchors checks that a crop's candidates land where the whole level's do:
// the same anchors, in the level's coordinates, only those inside the region.
func TestCropKeepsItsAnchors(t *testing.T) {
	t.Parallel()
	l := newLevel(1, 256, 128)
	c := l.crop(image.Rect(96, 32, 160, 96))
	// One cell of context (cropContext), clipped at the top.
	if c.ox != 64 || c.oy != 0 || c.pw != 128 || c.ph != 128 || c.keep != image.Rect(32, 32, 96, 96) {
		t.Fatalf("crop at (%d,%d) %dx%d keep %v", c.ox, c.oy, c.pw, c.ph, c.keep)
	}
	hd := heads()[0] // stride 16, 2 anchors
	gw, gh := c.pw/hd.stride, c.ph/hd.stride
	scores := make([]float32, gw*gh*hd.anchors)
	boxes := make([]float32, len(scores)*regressors)
	for i := range scores {
		scores[i] = 5
		boxes[i*regressors+2], boxes[i*regressors+3] = 10, 10
	}
	cs, err := decode(c, hd, scores, boxes, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	// 4 x 4 cells of 16 px in the 64 x 64 region, 2 anchors each.
	if len(cs) != 32 {
		t.Fatalf("%d candidates, want 32", len(cs))
	}
	for _, cand := range cs {
		cx, cy := (cand.x1+cand.x2)/2, (cand.y1+cand.y2)/2
		if cx < 96 || cx >= 160 || cy < 32 || cy >= 96 {
			t.Errorf("candidate centred at (%v,%v), outside the region (96,32)-(160,96)", cx, cy)
		}
	}
}

// sameBoxes reports whether every box of a has one of b within tol pixels, one to one, in any
// order (crops give a face's anchors a slightly different context, so scores and with them
// the order may shift a little).
func sameBoxes(a, b []goldenBox, tol int) bool {
	if len(a) != len(b) {
		return false
	}
	used := make([]bool, len(b))
	for _, x := range a {
		found := false
		for j, y := range b {
			if !used[j] && near([]goldenBox{x}, []goldenBox{y}, tol) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{GateFloor: candidateFloor + 0.01}, "gate floor"},
		{Config{Threshold: 1.5}, "face threshold"},
		{Config{GateFloor: 1}, "gate floor"},
		{Config{Block: 12}, "block 12"},
	} {
		_, err := New(installedLib, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error naming %q", tc.cfg, err, tc.want)
		}
	}
}
