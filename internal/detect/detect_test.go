package detect

import (
	"image"
	"reflect"
	"testing"
)

func TestDropContained(t *testing.T) {
	t.Parallel()
	big := Detection{Class: Face, Rect: image.Rect(0, 0, 100, 100), Score: 0.5}
	inside := Detection{Class: Face, Rect: image.Rect(10, 10, 60, 60), Score: 0.9}
	beside := Detection{Class: Face, Rect: image.Rect(80, 0, 180, 100), Score: 0.4}
	got := DropContained([]Detection{inside, big, beside})
	want := []Detection{{Class: Face, Rect: big.Rect, Score: 0.9}, beside}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestGrow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		r    image.Rectangle
		f    [4]float64
		want image.Rectangle
	}{
		{image.Rect(10, 10, 20, 30), [4]float64{}, image.Rect(10, 10, 20, 30)},
		{image.Rect(10, 10, 20, 30), [4]float64{0.1, 0.2, 0.3, 0.4}, image.Rect(9, 4, 22, 38)},
		{image.Rect(0, 0, 100, 100), [4]float64{0.05, 0.05, 0.1, 0.1}, image.Rect(-5, -10, 105, 110)},
	} {
		if got := Grow(tc.r, tc.f); got != tc.want {
			t.Errorf("Grow(%v, %v) = %v, want %v", tc.r, tc.f, got, tc.want)
		}
	}
}
