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
// input to the box head (4 channels) and one to the heatmap's 80 classes, with extra as the
// heatmap's operation (CenterNet's is Sigmoid). The weights are the box head's 48 bytes, then
// the heatmap's 960.
func tinyGraph(extra string) map[string]any {
	node := func(name, op string, inputs ...string) map[string]any {
		return map[string]any{"name": name, "op": op, "input": inputs, "attr": map[string]any{}}
	}
	conv := func(name, w string) map[string]any {
		n := node(name, "Conv2D", "tower_0/images", w)
		n["attr"] = map[string]any{
			"data_format": map[string]any{"s": "TkhXQw=="}, // NHWC
			"padding":     map[string]any{"s": "U0FNRQ=="}, // SAME
			"strides":     map[string]any{"list": map[string]any{"i": []string{"1", "1", "1", "1"}}},
		}
		return n
	}
	return map[string]any{
		"format": "graph-model",
		"modelTopology": map[string]any{"node": []any{
			node("tower_0/images", "Placeholder"), node("w", "Const"), node("wk", "Const"),
			conv("conv", "w"), conv("convk", "wk"),
			node("head", extra, "convk"), node("tower_0/keypoints", "Identity", "head"),
			node("tower_0/wh", "Identity", "conv"),
		}},
		"weightsManifest": []any{map[string]any{"paths": []string{"m.bin"}, "weights": []any{
			map[string]any{"name": "w", "shape": []int{1, 1, 3, 4}, "dtype": "float32"},
			map[string]any{"name": "wk", "shape": []int{1, 1, 3, cocoClasses}, "dtype": "float32"},
		}}},
	}
}

// cocoClasses is the number of classes of the original graph's heatmap.
const cocoClasses = 80

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
		{"supported", "Sigmoid", 1008, ""},
		{"unsupported operation", "Tanh", 1008, "unsupported operation Tanh (node head)"},
		{"heatmap not a sigmoid", "Relu", 1008, "the heatmap is not the sigmoid of a convolution used for nothing else"},
		{"truncated weights", "Sigmoid", 1007, "weights file truncated: wk needs bytes 48..1008, the file has 1007"},
		{"weights beyond the manifest", "Sigmoid", 1012, "weights file has 4 bytes beyond its manifest"},
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
