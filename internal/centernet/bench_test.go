package centernet

import (
	"context"
	"image"
	"path/filepath"
	"testing"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/onnxrt"
)

// benchModel opens the installed model for a benchmark and closes it after.
func benchModel(b *testing.B) *Model {
	b.Helper()
	if !onnxrt.Available() {
		b.Skip("ONNX Runtime needs cgo")
	}
	m, err := Open(filepath.Join(detect.DefaultDir, onnxrt.LibraryFile), "", 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	return m
}

// BenchmarkDetect1080p: one 1920x1080 image, run at 1024x576, persons and vehicles.
func BenchmarkDetect1080p(b *testing.B) {
	m := benchModel(b)
	img := image.NewRGBA(image.Rect(0, 0, 1920, 1080))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	classes := []int{COCOPerson, COCOBicycle, COCOCar, COCOMotorcycle, COCOBus, COCOTruck}
	b.ResetTimer()
	for range b.N {
		if _, err := m.Detect(context.Background(), img, 0.3, classes); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRun512: the network alone at its export size.
func BenchmarkRun512(b *testing.B) {
	m := benchModel(b)
	in := make([]float32, 512*512*3)
	b.ResetTimer()
	for range b.N {
		if _, err := m.Run(context.Background(), in, 512, 512); err != nil {
			b.Fatal(err)
		}
	}
}
