package centernet

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/onnxrt"
)

// sixth is 1/6 as TensorFlow.js stores it in CenterNet's graph (float16).
const sixth = 0.16662598

// hardGraph is a TensorFlow.js graph of 1x1 convolutions with MobileNetV3's hard activations in
// every place the converter treats differently:
//
//	c1  = conv(input)                    3 -> 8 channels
//	h1  = c1 * sixth * relu6(c1 + 3)     hard swish: HardSwish, scale carried
//	res = conv(h1) + h1                  the project convolution is rescaled to h1's scale
//	se  = sixth * relu6(conv(relu(conv(mean(res)))) + 3) * res   hard sigmoid, scales multiply
//	heatmap = sigmoid(conv(se))          both scales folded into the weights; 80 classes, 8 kept
//	h4  = c1 * sixth * relu6(c1 + 3) with relu6 used twice: written out, not fused
//	wh  = conv(h4 + relu6(c1 + 3) + relu(h1))   relu needs h1 at scale 1
type hardGraph struct {
	nodes   []any
	weights []any
	values  map[string][]float32 // weight name -> values, in manifest order below
	order   []string
}

func (g *hardGraph) node(name, op string, inputs ...string) map[string]any {
	n := map[string]any{"name": name, "op": op, "input": inputs, "attr": map[string]any{}}
	g.nodes = append(g.nodes, n)
	return n
}

func (g *hardGraph) weight(name string, shape []int, v []float32) {
	g.node(name, "Const")
	g.weights = append(g.weights, map[string]any{"name": name, "shape": shape, "dtype": "float32"})
	g.values[name] = v
	g.order = append(g.order, name)
}

func (g *hardGraph) conv(rng *rand.Rand, name, in string, cin, cout int, relu bool) {
	w := make([]float32, cin*cout)
	for i := range w {
		w[i] = float32(rng.NormFloat64() / math.Sqrt(float64(cin)))
	}
	b := make([]float32, cout)
	for i := range b {
		b[i] = float32(rng.NormFloat64() * 0.5)
	}
	g.weight(name+"/w", []int{1, 1, cin, cout}, w)
	g.weight(name+"/b", []int{cout}, b)
	n := g.node(name, "_FusedConv2D", in, name+"/w", name+"/b")
	ops := []string{"Qmlhc0FkZA=="} // BiasAdd
	if relu {
		ops = append(ops, "UmVsdQ==") // Relu
	}
	n["attr"] = map[string]any{
		"data_format": map[string]any{"s": "TkhXQw=="}, // NHWC
		"padding":     map[string]any{"s": "U0FNRQ=="}, // SAME
		"strides":     map[string]any{"list": map[string]any{"i": []string{"1", "1", "1", "1"}}},
		"fused_ops":   map[string]any{"list": map[string]any{"s": ops}},
		"num_args":    map[string]any{"i": "1"},
	}
}

func newHardGraph(seed uint64) *hardGraph {
	rng := rand.New(rand.NewPCG(seed, 1))
	g := &hardGraph{values: map[string][]float32{}}
	g.node("tower_0/images", "Placeholder")
	g.weight("three", []int{}, []float32{3})
	g.weight("sixth", []int{}, []float32{sixth})
	g.weight("axes", []int{2}, []float32{math.Float32frombits(1), math.Float32frombits(2)})
	g.weights[len(g.weights)-1].(map[string]any)["dtype"] = "int32"
	swish := func(name, x string) {
		g.node(name+"/mul", "Mul", "sixth", x)
		g.node(name+"/add", "Add", x, "three")
		g.node(name+"/Relu6", "Relu6", name+"/add")
		g.node(name, "Mul", name+"/mul", name+"/Relu6")
	}
	g.conv(rng, "c1", "tower_0/images", 3, 8, false)
	swish("h1", "c1")
	g.conv(rng, "c2", "h1", 8, 8, false)
	g.node("res", "Add", "c2", "h1")
	mean := g.node("mean", "Mean", "res", "axes")
	mean["attr"] = map[string]any{"keep_dims": map[string]any{"b": true}}
	g.conv(rng, "s1", "mean", 8, 4, true)
	g.conv(rng, "s2", "s1", 4, 8, false)
	g.node("s2/add", "Add", "s2", "three")
	g.node("s2/Relu6", "Relu6", "s2/add")
	g.node("hs", "Mul", "sixth", "s2/Relu6")
	g.node("se", "Mul", "hs", "res")
	g.conv(rng, "c3", "se", 8, cocoClasses, false)
	g.node("heat", "Sigmoid", "c3")
	g.node("tower_0/keypoints", "Identity", "heat")
	swish("h4", "c1")
	g.node("h4r", "Add", "h4", "h4/Relu6")
	g.node("r1", "Relu", "h1")
	g.node("sum", "Add", "h4r", "r1")
	g.conv(rng, "c5", "sum", 8, 4, false)
	g.node("tower_0/wh", "Identity", "c5")
	return g
}

func (g *hardGraph) files(t *testing.T, dir string) (js, bin string) {
	t.Helper()
	var data []byte
	for _, name := range g.order {
		for _, v := range g.values[name] {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
	}
	raw, err := json.Marshal(map[string]any{
		"format":          "graph-model",
		"modelTopology":   map[string]any{"node": g.nodes},
		"weightsManifest": []any{map[string]any{"paths": []string{"m.bin"}, "weights": g.weights}},
	})
	if err != nil {
		t.Fatal(err)
	}
	js, bin = filepath.Join(dir, "m.json"), filepath.Join(dir, "m.bin")
	if err := os.WriteFile(js, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return js, bin
}

// pixel is one position's channels, computed as TensorFlow.js computes the graph (in float64).
type pixel []float64

func (g *hardGraph) conv1x1(name string, x pixel) pixel {
	w, b := g.values[name+"/w"], g.values[name+"/b"]
	out := make(pixel, len(b))
	for o := range out {
		s := float64(b[o])
		for i, v := range x {
			s += v * float64(w[i*len(b)+o])
		}
		out[o] = s
	}
	return out
}

func relu6(v float64) float64 { return math.Min(math.Max(v, 0), 6) }

func (g *hardGraph) reference(img []float32, n int) (heat, wh []float64) {
	swish := func(x pixel) pixel {
		y := make(pixel, len(x))
		for i, v := range x {
			y[i] = float64(float32(sixth)) * v * relu6(v+3)
		}
		return y
	}
	c1s, ress := make([]pixel, n), make([]pixel, n)
	mean := make(pixel, 8)
	for p := range n {
		c1 := g.conv1x1("c1", pixel{float64(img[3*p]), float64(img[3*p+1]), float64(img[3*p+2])})
		h1 := swish(c1)
		res := g.conv1x1("c2", h1)
		for i := range res {
			res[i] += h1[i]
			mean[i] += res[i] / float64(n)
		}
		c1s[p], ress[p] = c1, res
	}
	s1 := g.conv1x1("s1", mean)
	for i := range s1 {
		s1[i] = math.Max(s1[i], 0)
	}
	s2 := g.conv1x1("s2", s1)
	for p := range n {
		se := make(pixel, 8)
		for i := range se {
			se[i] = float64(float32(sixth)) * relu6(s2[i]+3) * ress[p][i]
		}
		for _, v := range g.conv1x1("c3", se)[:Classes] { // the classes the converter keeps
			heat = append(heat, 1/(1+math.Exp(-v)))
		}
		c1, h1 := c1s[p], swish(c1s[p])
		sum := make(pixel, 8)
		for i, v := range swish(c1) {
			sum[i] = v + relu6(c1[i]+3) + math.Max(h1[i], 0)
		}
		for _, v := range g.conv1x1("c5", sum) {
			wh = append(wh, v)
		}
	}
	return heat, wh
}

// TestConverterHardActivations: MobileNetV3's hard swish and hard sigmoid become ONNX's fused
// operators with their scale folded into the next weights, a pattern whose parts are used
// elsewhere stays written out, and the converted graph computes what the TensorFlow.js graph
// does, value for value.
func TestConverterHardActivations(t *testing.T) {
	t.Parallel()
	if exec.Command("/usr/bin/python3", "-c", "import onnx, numpy").Run() != nil {
		t.Skip("needs Debian's python3 with python3-onnx and python3-numpy (scripts/install-detector-data.sh installs them)")
	}
	dir := t.TempDir()
	g := newHardGraph(7)
	js, bin := g.files(t, dir)
	out := filepath.Join(dir, "m.onnx")
	if msg, err := exec.Command("/usr/bin/python3", converter, js, bin, out).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, msg)
	}
	ops, err := exec.Command("/usr/bin/python3", "-c", `import collections, onnx, sys
m = onnx.load(sys.argv[1])
c = collections.Counter(n.op_type for n in m.graph.node)
print(" ".join(f"{k}={c[k]}" for k in ("HardSwish", "HardSigmoid", "Clip", "Mul")))`, out).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, ops)
	}
	// Mul: h4's two written out, the excitation, and h1 multiplied out for its relu.
	if got, want := strings.TrimSpace(string(ops)), "HardSwish=1 HardSigmoid=1 Clip=1 Mul=4"; got != want {
		t.Errorf("operations %s, want %s", got, want)
	}

	if !onnxrt.Available() {
		t.Skip("ONNX Runtime needs cgo")
	}
	if err := onnxrt.Init(filepath.Join(detect.DefaultDir, onnxrt.LibraryFile)); err != nil {
		t.Fatal(err)
	}
	model, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(model)
	s, err := onnxrt.NewSession(out, hex.EncodeToString(sum[:]), "test model",
		[]string{"input"}, []string{"heatmap", "wh"}, onnxrt.SessionOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	const side = 8
	rng := rand.New(rand.NewPCG(3, 4))
	img := make([]float32, side*side*3)
	for i := range img {
		img[i] = float32(rng.Float64()*10 - 5) // x + 3 on both sides of 0 and 6
	}
	res, err := s.Run(context.Background(), []int64{1, side, side, 3}, img)
	if err != nil {
		t.Fatal(err)
	}
	heat, wh := g.reference(img, side*side)
	for _, c := range []struct {
		name string
		got  []float32
		want []float64
	}{{"heatmap", res[0].Data, heat}, {"wh", res[1].Data, wh}} {
		if len(c.got) != len(c.want) {
			t.Fatalf("%s has %d values, want %d", c.name, len(c.got), len(c.want))
		}
		for i, w := range c.want {
			if d := math.Abs(float64(c.got[i]) - w); d > 1e-5*math.Max(1, math.Abs(w)) {
				t.Fatalf("%s[%d] = %.7f, TensorFlow.js's graph gives %.7f", c.name, i, c.got[i], w)
			}
		}
	}
}
