package anonymize

import (
	"bytes"
	"context"
	"image"
	"image/png"
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
