package anonymize_test

import (
	"bytes"
	"context"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/anonjob/anonjob/internal/anonymize"
	"github.com/anonjob/anonjob/internal/detectors"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// openDetectors opens the installed detectors for the whole test binary.
func openDetectors(tb testing.TB) anonymize.Detectors {
	tb.Helper()
	set, err := detectors.Open(detectors.Config{})
	if err != nil {
		tb.Fatal(err) // names scripts/install-detector-data.sh when files are missing
	}
	tb.Cleanup(func() { _ = set.Close() })
	return set.Detectors
}

// TestGolden runs the real detectors on a committed photo and compares the
// metadata and both masks with reviewed golden files.
func TestGolden(t *testing.T) {
	t.Parallel()
	ds := openDetectors(t)
	src, err := os.ReadFile("testdata/face.jpg")
	if err != nil {
		t.Fatal(err)
	}
	res, err := anonymize.Process(context.Background(), ds, src,
		anonymize.Request{Method: anonymize.Blur, Faces: true, Plates: true, Quality: 90})
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != anonymize.JPEG {
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
			if !samePixels(t, got, want) {
				t.Errorf("%s differs from the golden file", name)
			}
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}

func samePixels(t *testing.T, pa, pb []byte) bool {
	t.Helper()
	a, err := png.Decode(bytes.NewReader(pa))
	if err != nil {
		t.Fatal(err)
	}
	b, err := png.Decode(bytes.NewReader(pb))
	if err != nil {
		t.Fatal(err)
	}
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			if a.At(x, y) != b.At(x, y) && !sameRGBA(a.At(x, y), b.At(x, y)) {
				return false
			}
		}
	}
	return true
}

func sameRGBA(p, q interface{ RGBA() (r, g, b, a uint32) }) bool {
	r1, g1, b1, a1 := p.RGBA()
	r2, g2, b2, a2 := q.RGBA()
	return r1 == r2 && g1 == g2 && b1 == b2 && a1 == a2
}
