package anonymize

import (
	"bytes"
	"context"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/anonjob/anonjob/internal/detect"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixedDetector returns the same detections for every image.
type fixedDetector []detect.Detection

func (f fixedDetector) Detect(context.Context, image.Image, bool, bool) ([]detect.Detection, error) {
	return append([]detect.Detection(nil), f...), nil
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
	dets := fixedDetector{
		{Class: detect.LicensePlate, Rect: image.Rect(30, 40, 50, 46), Score: 0.9},
		{Class: detect.Face, Rect: image.Rect(5, 5, 20, 25), Score: 0.5},
	}
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
	if _, err := Process(context.Background(), fixedDetector{}, src, Request{Method: "smudge"}); err == nil {
		t.Error("unknown method accepted")
	}
	if _, err := Process(context.Background(), fixedDetector{}, src, Request{Method: Blur, Quality: 101}); err == nil {
		t.Error("quality 101 accepted")
	}
}

// TestGolden runs the real detector on a committed photo and compares the
// metadata and both masks with reviewed golden files.
func TestGolden(t *testing.T) {
	t.Parallel()
	d, err := detect.New(detect.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("testdata/face.jpg")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Process(context.Background(), d, src, Request{Method: Blur, Faces: true, Plates: true, Quality: 90})
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != JPEG {
		t.Errorf("format %s, want jpeg", res.Format)
	}
	for name, got := range map[string][]byte{
		"face.metadata.json":     append(res.Metadata, '\n'),
		"face.binary-mask.png":   res.BinaryMask,
		"face.instance-mask.png": res.InstanceMask,
	} {
		path := filepath.Join("testdata", "golden", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Ext(name) == ".png" {
			// PNG bytes depend on the encoder; the pixels are what matters.
			if !samePixels(decodePNG(t, got), decodePNG(t, want)) {
				t.Errorf("%s differs from the golden file", name)
			}
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}

func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				return false
			}
		}
	}
	return true
}
