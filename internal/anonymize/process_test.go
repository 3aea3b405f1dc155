package anonymize

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"slices"
	"sync"
	"testing"

	"github.com/anonjob/anonjob/internal/detect"
)

// fixedDetector returns the same detections for every image.
type fixedDetector []detect.Detection

func (f fixedDetector) Detect(context.Context, *image.RGBA) ([]detect.Detection, error) {
	return append([]detect.Detection(nil), f...), nil
}

func (f fixedDetector) DetectInVehicles(context.Context, *image.RGBA, []image.Rectangle) ([]detect.Detection, error) {
	return nil, nil
}

// fixed answers every class with the detections of that class in ds.
func fixed(ds ...detect.Detection) Detectors {
	var faces, plates, objects fixedDetector
	for _, d := range ds {
		switch d.Class {
		case detect.Face:
			faces = append(faces, d)
		case detect.LicensePlate:
			plates = append(plates, d)
		default:
			objects = append(objects, d)
		}
	}
	return Detectors{Faces: faces, Plates: plates, Objects: objects}
}

func pngOf(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestProcessMasks(t *testing.T) {
	t.Parallel()
	dets := fixed(
		detect.Detection{Class: detect.LicensePlate, Rect: image.Rect(30, 40, 50, 46), Score: 0.9},
		detect.Detection{Class: detect.Face, Rect: image.Rect(5, 5, 20, 25), Score: 0.5},
	)
	src := pngOf(t, noise(64, 48))
	for _, m := range []Method{Blur, Pixelate, Blacken, Detect} {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			res, err := Process(context.Background(), dets, src, Request{Method: m, Faces: true, Plates: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Format != PNG || res.Size != image.Pt(64, 48) {
				t.Fatalf("format %s size %v", res.Format, res.Size)
			}
			bin := decodePNG(t, res.BinaryMask).(*image.Gray)
			inst := decodePNG(t, res.InstanceMask)
			anonymized := m != Detect
			// Detections are ordered top to bottom: the face gets id 1.
			checks := []struct {
				p       image.Point
				binary  uint8
				g, b, a uint32
			}{
				{image.Pt(10, 10), 255, 1, 32, 255}, // face
				{image.Pt(35, 42), 255, 2, 64, 255}, // licence plate
				{image.Pt(60, 2), 0, 0, 0, 255},     // background
			}
			for _, c := range checks {
				want := c.binary
				if !anonymized {
					want = 0
				}
				if got := bin.GrayAt(c.p.X, c.p.Y).Y; got != want {
					t.Errorf("binary mask at %v = %d, want %d", c.p, got, want)
				}
				r, g, b, a := inst.At(c.p.X, c.p.Y).RGBA()
				if r != 0 || g>>8 != c.g || b>>8 != c.b || a>>8 != c.a {
					t.Errorf("instance mask at %v = %d,%d,%d,%d", c.p, r>>8, g>>8, b>>8, a>>8)
				}
			}
			out := decodePNG(t, res.Anonymized)
			orig := decodePNG(t, src)
			same := out.At(10, 10) == orig.At(10, 10) && out.At(11, 12) == orig.At(11, 12)
			if anonymized == same {
				t.Errorf("face region changed=%v, want %v", !same, anonymized)
			}
		})
	}
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestProcessErrors(t *testing.T) {
	t.Parallel()
	src := pngOf(t, noise(8, 8))
	if _, err := Process(context.Background(), fixed(), src, Request{Method: "smudge"}); err == nil {
		t.Error("unknown method accepted")
	}
	if _, err := Process(context.Background(), fixed(), src, Request{Method: Blur, Quality: 101}); err == nil {
		t.Error("quality 101 accepted")
	}
	if _, err := Process(context.Background(), Detectors{}, src, Request{Method: Blur, Faces: true}); err == nil {
		t.Error("faces asked for without a face detector")
	}
}

func (f fixedDetector) DetectObjects(ctx context.Context, img *image.RGBA, _ bool) ([]detect.Detection, error) {
	return f.Detect(ctx, img)
}

// recorder is an object and plate detector that notes how the pipeline calls it.
type recorder struct {
	objects                 []detect.Detection
	mu                      sync.Mutex
	objectCalls, plateCalls int
	small                   []bool
	vehicles                []image.Rectangle
}

func (r *recorder) DetectObjects(_ context.Context, _ *image.RGBA, small bool) ([]detect.Detection, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.objectCalls++
	r.small = append(r.small, small)
	return append([]detect.Detection(nil), r.objects...), nil
}

func (r *recorder) Detect(context.Context, *image.RGBA) ([]detect.Detection, error) { return nil, nil }

func (r *recorder) DetectInVehicles(_ context.Context, _ *image.RGBA, vs []image.Rectangle) ([]detect.Detection, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.plateCalls++
	r.vehicles = append(r.vehicles, vs...)
	return []detect.Detection{{Class: detect.LicensePlate, Rect: image.Rect(40, 30, 50, 34), Score: 0.5}}, nil
}

// TestObjectPassShared: one object pass per image serves persons, vehicles and the plate
// search; vehicles are searched for plates even when only plates are asked for, and only the
// classes asked for are reported.
func TestObjectPassShared(t *testing.T) {
	t.Parallel()
	person := detect.Detection{Class: detect.Person, Rect: image.Rect(2, 2, 20, 40), Score: 0.6}
	car := detect.Detection{Class: detect.Vehicle, Rect: image.Rect(30, 20, 60, 40), Score: 0.7}
	src := pngOf(t, noise(64, 48))
	for _, tc := range []struct {
		name  string
		req   Request
		want  []detect.Class
		calls int
		small bool
	}{
		{"plates only", Request{Method: Blur, Plates: true}, []detect.Class{detect.LicensePlate}, 1, false},
		{"persons only", Request{Method: Blur, Persons: true}, []detect.Class{detect.Person}, 0, true},
		{"all", Request{Method: Blur, Persons: true, Vehicles: true, Plates: true},
			[]detect.Class{detect.Person, detect.Vehicle, detect.LicensePlate}, 1, true},
		{"faces only", Request{Method: Blur, Faces: true}, nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{objects: []detect.Detection{person, car}}
			res, err := Process(context.Background(), Detectors{Faces: fixedDetector{}, Objects: rec, Plates: rec}, src, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var got []detect.Class
			for _, d := range res.Detections {
				got = append(got, d.Class)
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("classes %v, want %v", got, want)
			}
			wantObjects := 0
			if tc.req.Persons || tc.req.Vehicles || tc.req.Plates {
				wantObjects = 1
			}
			if rec.objectCalls != wantObjects || rec.plateCalls != tc.calls {
				t.Errorf("object passes %d, plate searches in vehicles %d; want %d and %d", rec.objectCalls, rec.plateCalls, wantObjects, tc.calls)
			}
			if wantObjects == 1 && rec.small[0] != tc.small {
				t.Errorf("small objects asked for: %v, want %v", rec.small[0], tc.small)
			}
			if tc.calls > 0 && !slices.Equal(rec.vehicles, []image.Rectangle{car.Rect}) {
				t.Errorf("plates searched in %v, want the car %v", rec.vehicles, car.Rect)
			}
		})
	}
}
