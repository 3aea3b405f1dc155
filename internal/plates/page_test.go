package plates

import (
	"context"
	"errors"
	"image"
	"image/draw"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/testimages/objects"
)

// page is w x h of plates 60x12 edge to edge: a page of lines of characters, which passes
// the window checks everywhere.
func page(t *testing.T, w, h int) *image.RGBA {
	t.Helper()
	p, err := objects.RenderPlate("AB 1234", 60, 12)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y += 12 {
		for x := 0; x < w; x += 60 {
			draw.Draw(img, image.Rect(x, y, x+60, y+12), p, image.Point{}, draw.Src)
		}
	}
	return img
}

// TestPageOfCharacters: a page of characters finishes with a bounded number of plates, and a
// deadline stops the search in the middle of a level.
func TestPageOfCharacters(t *testing.T) {
	t.Parallel()
	img := page(t, 640, 360)
	start := time.Now()
	ds, err := New(Config{}).Detect(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d plates in %v", len(ds), time.Since(start))
	if len(ds) > 8*maxPlates {
		t.Errorf("%d plates, want at most %d (maxPlates on each level)", len(ds), 8*maxPlates)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := New(Config{}).Detect(ctx, img); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("with a deadline of 1 ms: %v, want context.DeadlineExceeded", err)
	}
}
