package engine

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"
)

// TestClassesOverHTTP uploads a street photo with the real detectors, persons alone, vehicles
// alone and all four classes together (faces and plates alone are the other tests' default), and reads the results back over HTTP: the metadata holds exactly the classes
// asked for (persons and vehicles are in the photo), every box is white in the binary mask,
// and the instance mask carries each class's flag.
func TestClassesOverHTTP(t *testing.T) {
	t.Parallel()
	img, err := os.ReadFile("../anonymize/testdata/street.jpg")
	if err != nil {
		t.Fatal(err)
	}
	// The real detectors under the race detector on a busy machine can be slow; the deadline
	// is not under test here.
	te := startEngine(t, func(c *Config) { c.Limits.Timeout = 30 * time.Minute })
	flags := map[string]uint32{"person": 128, "license_plate": 64, "face": 32, "vehicle": 16}
	for _, tc := range []struct {
		query string
		want  []string // classes that must be found
		allow []string // every class that may appear
	}{
		{"person=True&face=False&license-plate=False", []string{"person"}, []string{"person"}},
		{"vehicle=True&face=False&license-plate=False", []string{"vehicle"}, []string{"vehicle"}},
		{"person=True&vehicle=True", []string{"person", "vehicle", "face"}, []string{"person", "vehicle", "face", "license_plate"}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			q, err := url.ParseQuery("method=blacken&" + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			id := te.upload(q, img, http.StatusOK)["file_id"].(string)
			waitStatus(t, te, id, statusDone)
			_, meta := te.do(http.MethodGet, "/v1/file/"+id+"/metadata", te.tok, nil)
			var md struct {
				Detections []struct {
					ID        int    `json:"id"`
					BBox      [4]int `json:"bbox"`
					TypeLabel string `json:"type_label"`
				} `json:"detections"`
			}
			if err := json.Unmarshal(meta, &md); err != nil {
				t.Fatalf("metadata %s: %v", meta, err)
			}
			_, binPNG := te.do(http.MethodGet, "/v1/file/"+id+"/binary-mask", te.tok, nil)
			_, instPNG := te.do(http.MethodGet, "/v1/file/"+id+"/instance-mask", te.tok, nil)
			bin, err := png.Decode(bytes.NewReader(binPNG))
			if err != nil {
				t.Fatal(err)
			}
			inst, err := png.Decode(bytes.NewReader(instPNG))
			if err != nil {
				t.Fatal(err)
			}
			found := map[string]bool{}
			flagsSeen := map[uint32]bool{}
			for _, d := range md.Detections {
				found[d.TypeLabel] = true
				r := image.Rect(d.BBox[0], d.BBox[1], d.BBox[2], d.BBox[3])
				c := r.Min.Add(r.Max).Div(2)
				if g, _, _, _ := bin.At(c.X, c.Y).RGBA(); g>>8 != 255 {
					t.Errorf("%s %d: binary mask black at its centre", d.TypeLabel, d.ID)
				}
				for y := r.Min.Y; y < r.Max.Y; y++ {
					for x := r.Min.X; x < r.Max.X; x++ {
						if _, _, b, _ := inst.At(x, y).RGBA(); b>>8 == flags[d.TypeLabel] {
							flagsSeen[flags[d.TypeLabel]] = true
						}
					}
				}
			}
			for _, c := range tc.want {
				if !found[c] {
					t.Errorf("no %s found: %s", c, meta)
				}
				if !flagsSeen[flags[c]] {
					t.Errorf("flag %d of %s not in the instance mask", flags[c], c)
				}
			}
			for c := range found {
				if !slices.Contains(tc.allow, c) {
					t.Errorf("%s found but not asked for: %s", c, meta)
				}
			}
		})
	}
}
