package centernet

import (
	"image"
	"testing"

	"github.com/anonjob/anonjob/internal/detect"
)

func TestMerge(t *testing.T) {
	t.Parallel()
	car := detect.Detection{Class: detect.Vehicle, Rect: image.Rect(0, 0, 100, 60), Score: 0.6}
	truck := detect.Detection{Class: detect.Vehicle, Rect: image.Rect(5, 2, 104, 62), Score: 0.4}
	part := detect.Detection{Class: detect.Vehicle, Rect: image.Rect(50, 0, 100, 60), Score: 0.7}
	driver := detect.Detection{Class: detect.Person, Rect: image.Rect(10, 5, 40, 60), Score: 0.5}
	beside := detect.Detection{Class: detect.Vehicle, Rect: image.Rect(90, 0, 190, 60), Score: 0.3}
	got := Merge([]detect.Detection{truck, car, part, driver, beside})
	// The part of the car one run saw scores highest: the whole car (IoU 0.5) widens it
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
