package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/engine"
	"github.com/anonjob/anonjob/internal/onnxrt"
	"github.com/anonjob/anonjob/internal/testimages/labels"
)

// fakeEngine is a Celantur v1 engine that detects faces only: it refuses
// person=True and vehicle=True as the built-in engine did before it had
// those classes, and answers every image with one face box at (1,1)-(3,3).
type fakeEngine struct {
	mu      sync.Mutex
	uploads []string // query of every upload
}

func (f *fakeEngine) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/signin", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"AccessToken":"tok","ExpiresIn":3600}`))
	})
	mux.HandleFunc("POST /v1/file", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.uploads = append(f.uploads, r.URL.RawQuery)
		f.mu.Unlock()
		for _, c := range []string{"person", "vehicle"} {
			if r.URL.Query().Get(c) == "True" {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"message":"` + c + `=True is not supported: this engine detects only face and license-plate"}`))
				return
			}
		}
		_, _ = w.Write([]byte(`{"customer_id":"c","file_id":"0b6f4c3e-8a55-4d3c-9d1e-2f0a1b2c3d4e","file_status":"queued"}`))
	})
	const file = "/v1/file/0b6f4c3e-8a55-4d3c-9d1e-2f0a1b2c3d4e"
	mux.HandleFunc("GET "+file+"/status", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"file_id":"0b6f4c3e-8a55-4d3c-9d1e-2f0a1b2c3d4e","file_status":"done"}`))
	})
	mux.HandleFunc("GET "+file+"/binary-mask", func(w http.ResponseWriter, _ *http.Request) {
		m := image.NewGray(image.Rect(0, 0, 4, 4))
		draw.Draw(m, image.Rect(1, 1, 3, 3), image.NewUniform(color.Gray{Y: 255}), image.Point{}, draw.Src)
		if err := png.Encode(w, m); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("GET "+file+"/metadata", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"detections":[{"id":1,"bbox":[1,1,3,3],"type_label":"face"}],"size":[4,4]}`))
	})
	mux.HandleFunc("DELETE "+file, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"message":"deleted"}`))
	})
	return mux
}

func tinyPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSessionRecordsRefusedClasses(t *testing.T) {
	t.Parallel()
	fake := &fakeEngine{}
	srv := httptest.NewServer(fake.handler(t))
	defer srv.Close()
	s, err := openSession(t.Context(), options{method: "blur", engineURL: srv.URL, engineUser: "u", enginePassword: "p"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{classFace: true, classPlate: true, classPerson: true, classVehicle: true}
	for range 2 {
		res, err := s.process(t.Context(), tinyPNG(t, 4, 4), want)
		if err != nil {
			t.Fatal(err)
		}
		if res.mask.Rect.Size() != image.Pt(4, 4) || res.mask.GrayAt(1, 1).Y != 255 || len(res.meta.Detections) != 1 {
			t.Fatalf("result %+v", res)
		}
	}
	for _, c := range []string{classPerson, classVehicle} {
		if !strings.Contains(s.refused[c], c+"=True is not supported") {
			t.Errorf("refused[%s] = %q", c, s.refused[c])
		}
	}
	if s.refused[classFace] != "" || s.refused[classPlate] != "" {
		t.Errorf("refused %v: face and plate were done", s.refused)
	}
	// first image: all four, without person, without both; second: asked only for what is left
	if len(fake.uploads) != 4 || !strings.Contains(fake.uploads[3], "person=False") || !strings.Contains(fake.uploads[3], "face=True") {
		t.Errorf("uploads %q", fake.uploads)
	}
}

func TestSessionOtherBadRequestIsAnError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/signin" {
			_, _ = w.Write([]byte(`{"AccessToken":"tok","ExpiresIn":3600}`))
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"message":"body is not a JPEG or PNG image"}`))
	}))
	defer srv.Close()
	s, err := openSession(t.Context(), options{method: "blur", engineURL: srv.URL, engineUser: "u", enginePassword: "p"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.process(t.Context(), []byte("not an image"), map[string]bool{classFace: true, classPerson: true})
	if err == nil || !strings.Contains(err.Error(), "not a JPEG or PNG") || len(s.refused) != 0 {
		t.Fatalf("err %v, refused %v", err, s.refused)
	}
}

// The whole tool against the built-in engine on loopback, on a folder of
// one labelled image: a person the engine either masks or refuses, as the
// engine's own list of classes says.
func TestRunBuiltinEngine(t *testing.T) {
	if !onnxrt.Available() {
		t.Skip("the built-in detectors need cgo")
	}
	if _, err := os.Stat(filepath.Join(detect.DefaultDir, "libonnxruntime.so.1")); err != nil {
		t.Skipf("detector data not installed (%s)", detect.InstallCommand)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.png"), tinyPNG(t, 64, 48), 0o644); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(labels.File{Images: []labels.Image{{File: "a.png", Width: 64, Height: 48,
		Objects: []labels.Object{{Class: classPerson, BBox: [4]int{10, 5, 30, 45}}}}}})
	if err := os.WriteFile(filepath.Join(dir, "labels.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(context.Background(), options{dirs: []string{dir}, method: "blur", minPerson: 0.5}, &out)
	if engine.Detects().Person {
		if err == nil || !strings.Contains(err.Error(), "person recall 0.000 is below") { // a blank image has no person
			t.Fatalf("run: %v\n%s", err, out.String())
		}
	} else if err == nil || !strings.Contains(err.Error(), "the engine refused person") ||
		!strings.Contains(out.String(), "person recall     refused by the engine (1 labelled)") {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "images            1 (") {
		t.Errorf("output:\n%s", out.String())
	}
}
