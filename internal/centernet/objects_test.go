package centernet

import (
	"context"
	"image"
	"path/filepath"
	"slices"
	"testing"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/onnxrt"
	"github.com/anonjob/anonjob/internal/testimages"
	"github.com/anonjob/anonjob/internal/testimages/labels"
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

// TestFinePassFindsSmallPeople runs the 1920x1080 collage of the face set, whose labelled faces
// belong to people of every size: with the finer pass every face lies inside a person box, at
// the default threshold and at 0.25; at 0.25 the coarse run alone misses some, so the test
// fails if the finer pass stops running or loses the people squashing loses.
func TestFinePassFindsSmallPeople(t *testing.T) {
	t.Parallel()
	if !onnxrt.Available() {
		t.Skip("ONNX Runtime needs cgo")
	}
	var set labels.File
	testimages.ReadJSON(t, filepath.Join(testimages.Dir(), "labels.json"), &set)
	var faces []image.Rectangle
	for _, im := range set.Images {
		if im.File == "dev_composite_1920x1080.png" {
			for _, o := range im.Objects {
				faces = append(faces, o.Rect())
			}
		}
	}
	if len(faces) == 0 {
		t.Fatal("the collage has no labelled faces")
	}
	img := testimages.Collage(t)
	m, err := Open(filepath.Join(detect.DefaultDir, onnxrt.LibraryFile), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	inPerson := func(th float64, small bool) int {
		o, err := NewObjects(m, ObjectConfig{PersonThreshold: th})
		if err != nil {
			t.Fatal(err)
		}
		dets, err := o.DetectObjects(context.Background(), img, small)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range faces {
			c := image.Pt((f.Min.X+f.Max.X)/2, (f.Min.Y+f.Max.Y)/2)
			for _, d := range dets {
				if d.Class == detect.Person && c.In(d.Rect) {
					n++
					break
				}
			}
		}
		return n
	}
	for _, th := range []float64{DefaultPersonThreshold, 0.25} {
		if n := inPerson(th, true); n != len(faces) {
			t.Errorf("threshold %v: %d of %d faces inside a person box with the finer pass", th, n, len(faces))
		}
	}
	if n := inPerson(0.25, false); n == len(faces) {
		t.Errorf("threshold 0.25: all %d faces inside a person box without the finer pass; the test no longer shows it", n)
	}
}

// TestRunsSideBySide holds the coarse and the finer run side by side (ObjectConfig.Workers)
// to the boxes they give one after the other, on the collage, where both run.
func TestRunsSideBySide(t *testing.T) {
	t.Parallel()
	if !onnxrt.Available() {
		t.Skip("ONNX Runtime needs cgo")
	}
	img := testimages.Collage(t)
	m, err := Open(filepath.Join(detect.DefaultDir, onnxrt.LibraryFile), "", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	var found [2][]detect.Detection
	for i, workers := range []int{1, 2} {
		o, err := NewObjects(m, ObjectConfig{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		if found[i], err = o.DetectObjects(context.Background(), img, true); err != nil {
			t.Fatal(err)
		}
	}
	if len(found[0]) < 10 {
		t.Fatalf("%d objects on the collage, want its people", len(found[0]))
	}
	if !slices.Equal(found[0], found[1]) {
		t.Errorf("one after the other:\n%v\nside by side:\n%v", found[0], found[1])
	}
}
