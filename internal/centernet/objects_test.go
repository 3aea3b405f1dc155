package centernet

import (
	"image"
	"testing"

	"github.com/anonjob/anonjob/internal/detect"
)

func TestTiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		b     image.Rectangle
		scale float64
		n     int
	}{
		{image.Rect(0, 0, 1000, 800), 1, 1},
		{image.Rect(0, 0, 4000, 3000), 0.512, 4},
		{image.Rect(0, 0, 7744, 5164), 2048.0 / 7744, 2},
		{image.Rect(10, 20, 3010, 1020), 1, 3},
	} {
		tiles := Tiles(tc.b, tc.scale)
		if len(tiles) != tc.n {
			t.Errorf("%v at %v: %d tiles, want %d", tc.b, tc.scale, len(tiles), tc.n)
		}
		side := int(TileSide / tc.scale)
		for _, r := range tiles {
			if r.Dx() > side || r.Dy() > side || !r.In(tc.b) {
				t.Errorf("%v at %v: tile %v beyond %d px or the image", tc.b, tc.scale, r, side)
			}
		}
		// Every point is covered, and every point near a tile's inner edge lies well inside
		// another tile.
		for y := tc.b.Min.Y; y < tc.b.Max.Y; y += 7 {
			for x := tc.b.Min.X; x < tc.b.Max.X; x += 7 {
				p, deep := image.Pt(x, y), false
				for _, r := range tiles {
					in := r.Inset(int(TileOverlap / tc.scale / 2))
					for _, e := range []image.Rectangle{r} {
						if p.In(e) && (p.In(in) || edgeOfImage(p, r, tc.b, int(TileOverlap/tc.scale/2))) {
							deep = true
						}
					}
				}
				if !deep {
					t.Fatalf("%v at %v: %v within half an overlap of every tile's edge: %v", tc.b, tc.scale, p, tiles)
				}
			}
		}
	}
}

// edgeOfImage: p is near r's edge only where r's edge is the image's.
func edgeOfImage(p image.Point, r, b image.Rectangle, m int) bool {
	return (p.X >= r.Min.X+m || r.Min.X == b.Min.X) && (p.X < r.Max.X-m || r.Max.X == b.Max.X) &&
		(p.Y >= r.Min.Y+m || r.Min.Y == b.Min.Y) && (p.Y < r.Max.Y-m || r.Max.Y == b.Max.Y)
}

func TestMerge(t *testing.T) {
	t.Parallel()
	car := detect.Detection{Class: detect.Vehicle, Rect: image.Rect(0, 0, 100, 60), Score: 0.6}
	truck := detect.Detection{Class: detect.Vehicle, Rect: image.Rect(5, 2, 104, 62), Score: 0.4}
	part := detect.Detection{Class: detect.Vehicle, Rect: image.Rect(50, 0, 100, 60), Score: 0.7}
	driver := detect.Detection{Class: detect.Person, Rect: image.Rect(10, 5, 40, 60), Score: 0.5}
	beside := detect.Detection{Class: detect.Vehicle, Rect: image.Rect(90, 0, 190, 60), Score: 0.3}
	got := Merge([]detect.Detection{truck, car, part, driver, beside})
	// The part of the car cut by a tile scores highest: the whole car (IoU 0.5) widens it
	// to the car; the truck seen in the same place lies inside. The person inside is another
	// class; the car beside overlaps too little.
	merged := part
	merged.Rect = car.Rect
	want := []detect.Detection{merged, driver, beside}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
