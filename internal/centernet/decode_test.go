package centernet

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/onnxrt"
)

// TestDecode: only 3x3 peaks of the wanted classes above the floor become boxes, placed
// around their cell by the four distances.
func TestDecode(t *testing.T) {
	t.Parallel()
	hd := Heads{W4: 4, H4: 3, Heatmap: make([]float32, 4*3*Classes), WH: make([]float32, 4*3*4)}
	set := func(x, y, c int, v float32) { hd.Heatmap[(y*4+x)*Classes+c] = v }
	set(1, 1, COCOPerson, 0.9)
	set(2, 1, COCOPerson, 0.8) // next to a stronger one: no peak
	set(3, 2, COCOCar, 0.6)
	set(0, 0, COCOCar, 0.1) // below the floor
	set(0, 2, 6, 0.99)      // a class not asked for (train)
	copy(hd.WH[(1*4+1)*4:], []float32{2, 3, 4, 5})
	// 15 (bird) is not in the converted heatmap: asking for it finds nothing, and reads
	// nothing of the other classes' cells.
	got := Decode(hd, 0.2, []int{COCOPerson, COCOCar, 15, -1})
	want := []Box{{Class: COCOPerson, X1: 2, Y1: 1, X2: 8, Y2: 9, Score: 0.9}, {Class: COCOCar, X1: 12, Y1: 8, X2: 12, Y2: 8, Score: 0.6}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		g := got[i]
		g.Score = float64(float32(g.Score))
		w := want[i]
		w.Score = float64(float32(w.Score))
		if g != w {
			t.Errorf("box %d: got %+v, want %+v", i, g, w)
		}
	}
}

// TestObjectClassesInHeatmap: every class that makes a person or a vehicle is one of the
// heatmap's (the converter keeps the first Classes of COCO's 80).
func TestObjectClassesInHeatmap(t *testing.T) {
	t.Parallel()
	for _, c := range append([]int{COCOPerson}, VehicleClasses...) {
		if c < 0 || c >= Classes {
			t.Errorf("COCO class %d is not in the %d classes of the converted heatmap", c, Classes)
		}
	}
}

func TestInputSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ w, h, iw, ih int }{
		{1, 1, 32, 32}, {512, 512, 512, 512}, {640, 480, 640, 480}, {1920, 1080, 1024, 576}, {1000, 4000, 256, 1024},
	} {
		if iw, ih := InputSize(tc.w, tc.h); iw != tc.iw || ih != tc.ih {
			t.Errorf("%dx%d: %dx%d, want %dx%d", tc.w, tc.h, iw, ih, tc.iw, tc.ih)
		}
	}
}

// TestDetectPortrait: the person of the committed portrait is found, boxed around the face.
func TestDetectPortrait(t *testing.T) {
	if !onnxrt.Available() {
		t.Skip("ONNX Runtime needs cgo")
	}
	img := decodeRef(t)
	m, err := Open(filepath.Join(detect.DefaultDir, onnxrt.LibraryFile), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	boxes, err := m.Detect(context.Background(), img, 0.3, []int{COCOPerson, COCOCar})
	if err != nil {
		t.Fatal(err)
	}
	if len(boxes) == 0 || boxes[0].Class != COCOPerson || boxes[0].Score < 0.5 {
		t.Fatalf("boxes %+v, want a person first", boxes)
	}
	b := img.Bounds()
	p := boxes[0]
	if p.X2-p.X1 < float64(b.Dx())/4 || p.Y2-p.Y1 < float64(b.Dy())/4 {
		t.Errorf("person box %+v is small for a portrait of %v", p, b)
	}
}
