//go:build cgo

package engine

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/blazeface"
	"github.com/anonjob/anonjob/internal/centernet"
	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/onnxrt"
)

// TestDetectorDataErrors starts engines on missing or altered detector
// data: each refuses to start, naming the file and the install script.
func TestDetectorDataErrors(t *testing.T) {
	t.Parallel()
	faceModel, _ := blazeface.Model(0)
	corrupt := t.TempDir()
	for _, f := range []string{faceModel, "haarcascade_russian_plate_number.xml"} {
		data := []byte("garbage")
		if f != faceModel {
			var err error
			if data, err = os.ReadFile(filepath.Join(detect.DefaultDir, f)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(corrupt, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	noPlates, noObjects := t.TempDir(), t.TempDir()
	for _, c := range []struct {
		dir   string
		files []string
	}{{noPlates, []string{faceModel, centernet.ModelFile}}, {noObjects, []string{faceModel}}} {
		for _, f := range c.files {
			model, err := os.ReadFile(filepath.Join(detect.DefaultDir, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(c.dir, f), model, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	lib := filepath.Join(detect.DefaultDir, onnxrt.LibraryFile)
	for _, tc := range []struct {
		name     string
		dir, lib string
		want     string
	}{
		{"missing library", detect.DefaultDir, filepath.Join(t.TempDir(), onnxrt.LibraryFile), "ONNX Runtime library"},
		{"missing model", t.TempDir(), lib, filepath.Join("", faceModel)},
		{"corrupt model", corrupt, lib, filepath.Join(corrupt, faceModel) + " has sha256"},
		{"missing plate cascade", noPlates, lib, "haarcascade_russian_plate_number.xml is missing"},
		{"missing object model", noObjects, lib, filepath.Join(noObjects, centernet.ModelFile)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := New(context.Background(), Config{DataDir: t.TempDir(), Username: "u", Password: "p",
				PublicURL: "http://engine.invalid", DetectorDir: tc.dir, ONNXRuntimeLib: tc.lib,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err == nil {
				_ = e.Close()
				t.Fatal("engine started")
			}
			for _, w := range []string{tc.want, detect.InstallCommand} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
		})
	}
}

// TestThresholdOutOfRange: a threshold outside (0, 1) stops the engine with the limit.
func TestThresholdOutOfRange(t *testing.T) {
	t.Parallel()
	for _, class := range []string{"face", "person", "vehicle"} {
		for _, th := range []float64{-0.1, 1, 1.5} {
			cfg := Config{DataDir: t.TempDir(), Username: "u", Password: "p",
				PublicURL: "http://engine.invalid", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			*map[string]*float64{"face": &cfg.FaceThreshold, "person": &cfg.PersonThreshold, "vehicle": &cfg.VehicleThreshold}[class] = th
			e, err := New(context.Background(), cfg)
			if err == nil {
				_ = e.Close()
				t.Fatalf("%s threshold %v accepted", class, th)
			}
			if !strings.Contains(err.Error(), class+" threshold") || !strings.Contains(err.Error(), "outside (0, 1)") {
				t.Errorf("%s threshold %v: %v", class, th, err)
			}
		}
	}
}
