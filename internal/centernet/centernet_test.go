package centernet

import (
	"context"
	"encoding/binary"
	"flag"
	"image"
	_ "image/jpeg"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/onnxrt"
	"github.com/anonjob/anonjob/internal/testimages"
)

// writeInput writes the reference input as raw little-endian float32 for
// scripts/centernet-reference.mjs (see testdata/README.md).
var writeInput = flag.String("write-input", "", "write the reference input to this file and stop")

const (
	refImage = "../blazeface/testdata/face.jpg"
	refSide  = 512
)

// reference is what TensorFlow.js gave for the reference input.
type reference struct {
	Image   string  `json:"image"`
	Side    int     `json:"side"`
	Heatmap []cell  `json:"heatmap"` // the strongest cells, strongest first
	WH      []cell  `json:"wh"`      // the four distances at the strongest cell
	SumHeat float64 `json:"sum_heatmap"`
	SumWH   float64 `json:"sum_wh"`
}

type cell struct {
	Index int     `json:"index"`
	Value float64 `json:"value"`
}

func decodeRef(t *testing.T) image.Image {
	t.Helper()
	return testimages.LoadRGBA(t, refImage)
}

func refInput(t *testing.T) []float32 {
	t.Helper()
	return Input(decodeRef(t), refSide, refSide)
}

// TestMatchesTensorFlowJS: the converted model gives what the original gives in TensorFlow.js
// on the same input, within 1e-4 (float16 weights computed in float32 on both sides).
func TestMatchesTensorFlowJS(t *testing.T) {
	in := refInput(t)
	if *writeInput != "" {
		buf := make([]byte, 4*len(in))
		for i, v := range in {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
		if err := os.WriteFile(*writeInput, buf, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Skip("wrote the input only")
	}
	if !onnxrt.Available() {
		t.Skip("ONNX Runtime needs cgo")
	}
	var ref reference
	testimages.ReadJSON(t, "testdata/reference.json", &ref)
	m, err := Open(filepath.Join(detect.DefaultDir, onnxrt.LibraryFile), "", 0)
	if err != nil {
		t.Fatal(err) // names the file and the install script
	}
	t.Cleanup(func() { _ = m.Close() })
	hd, err := m.Run(context.Background(), in, refSide, refSide)
	if err != nil {
		t.Fatal(err)
	}
	const tol = 1e-4
	for _, c := range ref.Heatmap {
		if got := float64(hd.Heatmap[c.Index]); math.Abs(got-c.Value) > tol {
			t.Errorf("heatmap[%d] = %.6f, TensorFlow.js %.6f", c.Index, got, c.Value)
		}
	}
	for _, c := range ref.WH {
		if got := float64(hd.WH[c.Index]); math.Abs(got-c.Value) > tol*math.Max(1, math.Abs(c.Value)) {
			t.Errorf("wh[%d] = %.5f, TensorFlow.js %.5f", c.Index, got, c.Value)
		}
	}
	sum := func(v []float32) (s float64) {
		for _, x := range v {
			s += float64(x)
		}
		return s
	}
	if s := sum(hd.Heatmap); math.Abs(s-ref.SumHeat) > 1e-5*math.Abs(ref.SumHeat)+1e-3 {
		t.Errorf("heatmap sum %.4f, TensorFlow.js %.4f", s, ref.SumHeat)
	}
	if s := sum(hd.WH); math.Abs(s-ref.SumWH) > 1e-5*math.Abs(ref.SumWH)+1e-2 {
		t.Errorf("wh sum %.4f, TensorFlow.js %.4f", s, ref.SumWH)
	}
	if best := ref.Heatmap[0]; best.Index%Classes != 0 || best.Value < 0.3 {
		t.Errorf("the portrait's strongest cell is class %d at %.3f, want a person", best.Index%Classes, best.Value)
	}
}

// TestRunRefusesBadSizes: a side that is not a multiple of 32 is an error, not a crash.
func TestRunRefusesBadSizes(t *testing.T) {
	t.Parallel()
	var m Model
	for _, sz := range [][2]int{{0, 32}, {33, 32}, {32, 48}} {
		if _, err := m.Run(context.Background(), make([]float32, sz[0]*sz[1]*3), sz[0], sz[1]); err == nil {
			t.Errorf("%dx%d accepted", sz[0], sz[1])
		}
	}
}

// TestOpenRefusesAlteredModel: a model whose bytes differ from the pinned sum is refused,
// naming the file and the install script.
func TestOpenRefusesAlteredModel(t *testing.T) {
	if !onnxrt.Available() {
		t.Skip("ONNX Runtime needs cgo")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ModelFile), []byte("not the model"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(filepath.Join(detect.DefaultDir, onnxrt.LibraryFile), dir, 1)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, ModelFile)) ||
		!strings.Contains(err.Error(), detect.InstallCommand) {
		t.Fatalf("altered model: %v", err)
	}
	if _, err := Open(filepath.Join(detect.DefaultDir, onnxrt.LibraryFile), t.TempDir(), 1); err == nil ||
		!strings.Contains(err.Error(), detect.InstallCommand) {
		t.Fatalf("missing model: %v", err)
	}
}
