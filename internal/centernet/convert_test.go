package centernet

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const converter = "../../scripts/convert-centernet.py"

// tinyGraph is a TensorFlow.js graph in the shape of CenterNet's: a 1x1 convolution from the
// input to both heads, with extra as the operation of the heatmap head.
func tinyGraph(extra string) map[string]any {
	node := func(name, op string, inputs ...string) map[string]any {
		return map[string]any{"name": name, "op": op, "input": inputs, "attr": map[string]any{}}
	}
	conv := node("conv", "Conv2D", "tower_0/images", "w")
	conv["attr"] = map[string]any{
		"data_format": map[string]any{"s": "TkhXQw=="}, // NHWC
		"padding":     map[string]any{"s": "U0FNRQ=="}, // SAME
		"strides":     map[string]any{"list": map[string]any{"i": []string{"1", "1", "1", "1"}}},
	}
	return map[string]any{
		"format": "graph-model",
		"modelTopology": map[string]any{"node": []any{
			node("tower_0/images", "Placeholder"), node("w", "Const"), conv,
			node("head", extra, "conv"), node("tower_0/keypoints", "Identity", "head"),
			node("tower_0/wh", "Identity", "conv"),
		}},
		"weightsManifest": []any{map[string]any{"paths": []string{"m.bin"}, "weights": []any{
			map[string]any{"name": "w", "shape": []int{1, 1, 3, 4}, "dtype": "float32"},
		}}},
	}
}

func runConverter(t *testing.T, graph map[string]any, weightBytes int) (string, error) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs Debian's python3 with python3-onnx and python3-numpy")
	}
	if exec.Command("/usr/bin/python3", "-c", "import onnx, numpy").Run() != nil {
		t.Skip("needs python3-onnx and python3-numpy (scripts/install-detector-data.sh installs them)")
	}
	dir := t.TempDir()
	raw, err := json.Marshal(graph)
	if err != nil {
		t.Fatal(err)
	}
	js, bin, out := filepath.Join(dir, "m.json"), filepath.Join(dir, "m.bin"), filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(js, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, make([]byte, weightBytes), 0o644); err != nil {
		t.Fatal(err)
	}
	msg, err := exec.Command("/usr/bin/python3", converter, js, bin, out).CombinedOutput()
	if err == nil {
		if _, serr := os.Stat(out); serr != nil {
			t.Fatalf("converter succeeded without writing %s", out)
		}
	}
	return string(msg), err
}

// TestConverter: a graph of supported operations converts, the same bytes every time; an
// unknown operation, short or long weights fail naming the problem and write nothing.
func TestConverter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		op      string
		weights int
		want    string // "" for success
	}{
		{"supported", "Sigmoid", 48, ""},
		{"unsupported operation", "Tanh", 48, "unsupported operation Tanh (node head)"},
		{"truncated weights", "Sigmoid", 47, "weights file truncated: w needs bytes 0..48, the file has 47"},
		{"weights beyond the manifest", "Sigmoid", 52, "weights file has 4 bytes beyond its manifest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msg, err := runConverter(t, tinyGraph(tc.op), tc.weights)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("%v: %s", err, msg)
				}
				return
			}
			if err == nil || !strings.Contains(msg, "convert-centernet: "+tc.want) {
				t.Fatalf("got %v %q, want an error %q", err, msg, tc.want)
			}
		})
	}
}
