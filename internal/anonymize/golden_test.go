package anonymize_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"image"
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

// TestGolden runs the real detectors on committed photos and compares the metadata and both
// masks with reviewed golden files: face.jpg with faces and plates, street.jpg (persons,
// vehicles) with all four classes.
func TestGolden(t *testing.T) {
	t.Parallel()
	ds := openDetectors(t)
	for _, tc := range []struct {
		name string
		req  anonymize.Request
	}{
		{"face", anonymize.Request{Method: anonymize.Blur, Faces: true, Plates: true, Quality: 90}},
		{"street", anonymize.Request{Method: anonymize.Blur, Faces: true, Plates: true, Persons: true, Vehicles: true, Quality: 90}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			golden(t, ds, tc.name, tc.req)
		})
	}
}

func golden(t *testing.T, ds anonymize.Detectors, name string, req anonymize.Request) {
	src, err := os.ReadFile(filepath.Join("testdata", name+".jpg"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := anonymize.Process(context.Background(), ds, src, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != anonymize.JPEG {
		t.Errorf("format %s, want jpeg", res.Format)
	}
	// The network's floating point may round differently on another CPU: boxes may move by
	// a pixel or two. The masks are compared exactly only when the boxes came out the same.
	exact := true
	for _, file := range []string{".metadata.json", ".binary-mask.png", ".instance-mask.png"} {
		got := map[string][]byte{
			".metadata.json":     append(res.Metadata, '\n'),
			".binary-mask.png":   res.BinaryMask,
			".instance-mask.png": res.InstanceMask,
		}[file]
		path := filepath.Join("testdata", "golden", name+file)
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
		if filepath.Ext(file) == ".png" {
			// PNG bytes depend on the encoder; the pixels are what matters.
			if exact && !samePixels(t, got, want) {
				t.Errorf("%s differs from the golden file", name+file)
			}
			continue
		}
		exact = bytes.Equal(got, want)
		if !nearMetadata(t, got, want, 3) {
			t.Errorf("%s:\n got %s\nwant %s (boxes within 3 px)", name+file, got, want)
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

// TestClassFlags: on the street photo, every class asked for is found, and each detection is
// white in the binary mask over its whole box and carries its id and class flag in the
// instance mask wherever no smaller box lies over it.
func TestClassFlags(t *testing.T) {
	t.Parallel()
	ds := openDetectors(t)
	src, err := os.ReadFile("testdata/street.jpg")
	if err != nil {
		t.Fatal(err)
	}
	res, err := anonymize.Process(context.Background(), ds, src, anonymize.Request{Method: anonymize.Pixelate,
		Faces: true, Plates: true, Persons: true, Vehicles: true})
	if err != nil {
		t.Fatal(err)
	}
	var md anonymize.Metadata
	if err := json.Unmarshal(res.Metadata, &md); err != nil {
		t.Fatal(err)
	}
	bin, err := png.Decode(bytes.NewReader(res.BinaryMask))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := png.Decode(bytes.NewReader(res.InstanceMask))
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]uint32{"person": 128, "license_plate": 64, "face": 32, "vehicle": 16}
	seen := map[string]int{}
	rect := func(d anonymize.MetaDetection) image.Rectangle {
		return image.Rect(d.BBox[0], d.BBox[1], d.BBox[2], d.BBox[3])
	}
	for _, d := range md.Detections {
		seen[d.TypeLabel]++
		r := rect(d)
		checked := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if g, _, _, _ := bin.At(x, y).RGBA(); g>>8 != 255 {
					t.Fatalf("%s %d: binary mask at (%d,%d) not white", d.TypeLabel, d.ID, x, y)
				}
				covered := false
				for _, o := range md.Detections {
					ro := rect(o)
					if o.ID != d.ID && ro.Dx()*ro.Dy() < r.Dx()*r.Dy() && image.Pt(x, y).In(ro) {
						covered = true
						break
					}
				}
				if covered {
					continue
				}
				_, g, b, _ := inst.At(x, y).RGBA()
				if g>>8 != uint32(d.ID) || b>>8 != flags[d.TypeLabel] {
					t.Fatalf("%s %d: instance mask at (%d,%d) is G=%d B=%d", d.TypeLabel, d.ID, x, y, g>>8, b>>8)
				}
				checked++
			}
		}
		if checked == 0 {
			t.Errorf("%s %d: hidden under smaller boxes everywhere", d.TypeLabel, d.ID)
		}
	}
	for _, c := range []string{"person", "vehicle", "face"} {
		if seen[c] == 0 {
			t.Errorf("no %s found (%v)", c, seen)
		}
	}
}
