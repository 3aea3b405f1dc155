package objects

import (
	"bytes"
	"image"
	"image/color"
	"os"
	"testing"

	"github.com/anonjob/anonjob/internal/testimages"
	"github.com/anonjob/anonjob/internal/testimages/labels"
)

func readRecipe(t *testing.T) Recipe {
	t.Helper()
	var r Recipe
	testimages.ReadJSON(t, "recipe.json", &r)
	return r
}

// The committed composites and labels are exactly what the recipe makes:
// after a change to the recipe or the code, run
// go run ./internal/testimages/objects/generate.
func TestReproducible(t *testing.T) {
	if raceEnabled {
		// Sequential image work, nothing for the detector to find, and ten
		// times slower under it; CI's run without -race checks it.
		t.Skip("slow under the race detector; run without -race")
	}
	t.Parallel()
	files, err := Build(os.DirFS("."), readRecipe(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what recipe.json makes (%d bytes committed, %d made)", name, len(got), len(want))
		}
	}
}

func TestLabelsInsideImages(t *testing.T) {
	t.Parallel()
	f, err := os.Open("labels.json")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	l, err := labels.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, im := range l.Images {
		if seen[im.File] {
			t.Errorf("%s listed twice", im.File)
		}
		seen[im.File] = true
		bounds := image.Rect(0, 0, im.Width, im.Height)
		for _, o := range im.Objects {
			r := image.Rect(o.BBox[0], o.BBox[1], o.BBox[2], o.BBox[3])
			if r.Empty() || !r.In(bounds) || r != (image.Rectangle{Min: image.Pt(o.BBox[0], o.BBox[1]), Max: image.Pt(o.BBox[2], o.BBox[3])}) {
				t.Errorf("%s: %s box %v is empty, inverted or outside %v", im.File, o.Class, o.BBox, bounds)
			}
			switch o.Class {
			case ClassPerson, ClassVehicle, ClassPlate:
			default:
				t.Errorf("%s: unknown class %q", im.File, o.Class)
			}
		}
	}
}

func TestRenderPlate(t *testing.T) {
	t.Parallel()
	for _, sz := range []image.Point{{20, 8}, {40, 10}, {120, 30}} {
		p, err := RenderPlate("B AX 204", sz.X, sz.Y)
		if err != nil {
			t.Fatal(err)
		}
		again, err := RenderPlate("B AX 204", sz.X, sz.Y)
		if err != nil {
			t.Fatal(err)
		}
		if p.Rect.Size() != sz {
			t.Fatalf("%v: got %v", sz, p.Rect.Size())
		}
		if !bytes.Equal(p.Pix, again.Pix) {
			t.Errorf("%v: two renderings differ", sz)
		}
		// the strip at the left is blue, the middle mostly white with dark text
		strip := p.RGBAAt(max(1, sz.X*5/100), sz.Y*3/4)
		if strip.B < 2*strip.R {
			t.Errorf("%v: strip pixel %v is not blue", sz, strip)
		}
		lo, hi := 255, 0
		for y := sz.Y / 4; y < sz.Y*3/4; y++ {
			for x := sz.X / 5; x < sz.X*9/10; x++ {
				lo, hi = min(lo, lum(p.RGBAAt(x, y))), max(hi, lum(p.RGBAAt(x, y)))
			}
		}
		// at 20x8 the characters are a grey blur, as on a real plate that small
		if hi < 180 || hi-lo < 60 {
			t.Errorf("%v: text area luminance %d..%d, want white with darker text", sz, lo, hi)
		}
	}
}

func lum(c color.RGBA) int { return (299*int(c.R) + 587*int(c.G) + 114*int(c.B)) / 1000 }
