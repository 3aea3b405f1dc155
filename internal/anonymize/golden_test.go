package anonymize_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/anonjob/anonjob/internal/anonymize"
	"github.com/anonjob/anonjob/internal/detectors"

	"github.com/anonjob/anonjob/internal/onnxrt"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// openDetectors opens the installed detectors for the whole test binary.
func openDetectors(tb testing.TB) anonymize.Detectors {
	tb.Helper()
	if !onnxrt.Available() {
		tb.Skip("the detectors need cgo")
	}
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
	// The network's floating point may round differently on another CPU: boxes may move by
	// a pixel or two. The masks are compared exactly only when the boxes came out the same.
	exact := true
	for _, name := range []string{"face.metadata.json", "face.binary-mask.png", "face.instance-mask.png"} {
		got := map[string][]byte{
			"face.metadata.json":     append(res.Metadata, '\n'),
			"face.binary-mask.png":   res.BinaryMask,
			"face.instance-mask.png": res.InstanceMask,
		}[name]
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
			if exact && !samePixels(t, got, want) {
				t.Errorf("%s differs from the golden file", name)
			}
			continue
		}
		exact = bytes.Equal(got, want)
		if !nearMetadata(t, got, want, 3) {
			t.Errorf("%s:\n got %s\nwant %s (boxes within 3 px)", name, got, want)
		}
	}
}

// nearMetadata compares two metadata files: the same detections in the same order, boxes
// within tol pixels, scores within 0.02.
func nearMetadata(t *testing.T, a, b []byte, tol int) bool {
	t.Helper()
	type detection struct {
		ID           int     `json:"id"`
		BBox         [4]int  `json:"bbox"`
		TypeLabel    string  `json:"type_label"`
		Score        float64 `json:"score"`
		IsAnonymized bool    `json:"is_anonymized"`
	}
	type metadata struct {
		Detections []detection `json:"detections"`
		Size       [2]int      `json:"size"`
	}
	var ma, mb metadata
	if err := json.Unmarshal(a, &ma); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &mb); err != nil {
		t.Fatal(err)
	}
	if ma.Size != mb.Size || len(ma.Detections) != len(mb.Detections) {
		return false
	}
	for i, da := range ma.Detections {
		db := mb.Detections[i]
		if da.ID != db.ID || da.TypeLabel != db.TypeLabel || da.IsAnonymized != db.IsAnonymized || math.Abs(da.Score-db.Score) > 0.02 {
			return false
		}
		for k := range 4 {
			if d := da.BBox[k] - db.BBox[k]; d > tol || d < -tol {
				return false
			}
		}
	}
	return true
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
