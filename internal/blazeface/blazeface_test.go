package blazeface

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/onnxrt"
	"github.com/anonjob/anonjob/internal/testimages"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json")

// installedLib is the library the install script puts next to the model.
var installedLib = filepath.Join(detect.DefaultDir, onnxrt.LibraryFile)

func newDetector(t testing.TB, cfg Config) *Detector {
	t.Helper()
	if !onnxrt.Available() {
		t.Skip("ONNX Runtime needs cgo")
	}
	d, err := New(installedLib, cfg)
	if err != nil {
		t.Fatal(err) // names the missing file and scripts/install-detector-data.sh
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// goldenBox is a detection as golden.json keeps it.
type goldenBox struct {
	Box   [4]int  `json:"box"`
	Score float64 `json:"score"`
}

func boxes(ds []detect.Detection) []goldenBox {
	out := make([]goldenBox, len(ds))
	for i, d := range ds {
		out[i] = goldenBox{Box: [4]int{d.Rect.Min.X, d.Rect.Min.Y, d.Rect.Max.X, d.Rect.Max.Y}, Score: d.Score}
	}
	return out
}

// TestGolden pins the detections on two committed photos: every face
// found, boxes within a few pixels, nothing else. The same boxes must come
// from ONNX Runtime with one thread or with several, and with the pyramid's
// levels run one at a time or side by side.
func TestGolden(t *testing.T) {
	t.Parallel()
	images := []string{"face.jpg", "two-faces.jpg"}
	got := map[string][]goldenBox{}    // the 16-channel layout's, written by -update
	layout := map[string][]goldenBox{} // the 8-channel layout's, checked against the golden file
	for _, block := range []int{16, 8} {
		first := map[string][]goldenBox{}
		for _, cfg := range []Config{{Threads: 1}, {Threads: 2}, {Threads: 1, Workers: 2}} {
			cfg.Block = block
			d := newDetector(t, cfg)
			for _, name := range images {
				ds, err := d.Detect(context.Background(), testimages.LoadRGBA(t, filepath.Join("testdata", name)))
				if err != nil {
					t.Fatal(err)
				}
				if prev, ok := first[name]; ok && !near(prev, boxes(ds), 0) {
					t.Errorf("%s, %d-channel layout: %d threads, %d workers gave %v, 1 thread %v",
						name, block, cfg.Threads, cfg.Workers, boxes(ds), prev)
				}
				first[name] = boxes(ds)
			}
		}
		if block == 16 {
			got = first
		} else {
			layout = first
		}
	}
	path := filepath.Join("testdata", "golden.json")
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string][]goldenBox
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, name := range images {
		if !near(got[name], want[name], 3) {
			t.Errorf("%s:\n got %v\nwant %v (within 3 px)", name, got[name], want[name])
		}
		if !near(layout[name], want[name], 3) {
			t.Errorf("%s, 8-channel layout:\n got %v\nwant %v (within 3 px)", name, layout[name], want[name])
		}
	}
	// The golden boxes cover the hand-labelled faces (80 % of each box).
	for _, label := range []image.Rectangle{image.Rect(156, 80, 189, 116), image.Rect(108, 98, 137, 122)} {
		covered := false
		for _, g := range want["two-faces.jpg"] {
			in := label.Intersect(image.Rect(g.Box[0], g.Box[1], g.Box[2], g.Box[3]))
			covered = covered || 5*in.Dx()*in.Dy() >= 4*label.Dx()*label.Dy()
		}
		if !covered {
			t.Errorf("labelled face %v is not covered by the golden boxes", label)
		}
	}
}

// TestModelsAgree runs the two layouts of the network (see Model) over the 1080p collage of
// the face set: whichever this CPU loads, the same faces come out.
func TestModelsAgree(t *testing.T) {
	t.Parallel()
	img := testimages.Collage(t)
	var found [2][]goldenBox
	for i, block := range []int{16, 8} {
		ds, err := newDetector(t, Config{Threads: 1, Block: block}).Detect(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		found[i] = boxes(ds)
	}
	if len(found[0]) < 20 {
		t.Fatalf("%d faces on the collage, want its faces", len(found[0]))
	}
	if len(found[0]) != len(found[1]) {
		t.Fatalf("16-channel layout found %d faces, 8-channel %d", len(found[0]), len(found[1]))
	}
	for i := range found[0] {
		a, b := found[0][i], found[1][i]
		if !near([]goldenBox{a}, []goldenBox{b}, 1) || math.Abs(a.Score-b.Score) > 1e-4 {
			t.Errorf("face %d: 16-channel layout %v, 8-channel %v", i, a, b)
		}
	}
}

func near(a, b []goldenBox, tol int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		for k := range 4 {
			if d := a[i].Box[k] - b[i].Box[k]; d > tol || d < -tol {
				return false
			}
		}
		if d := a[i].Score - b[i].Score; tol == 0 && (d > 1e-6 || d < -1e-6) {
			return false
		}
	}
	return true
}

// TestConcurrent runs different images through one shared session at
// once (run it under -race) and expects exactly what each gives alone.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	d := newDetector(t, Config{Threads: 1, Workers: 2})
	imgs := []*image.RGBA{
		testimages.LoadRGBA(t, "testdata/face.jpg"),
		testimages.LoadRGBA(t, "testdata/two-faces.jpg"),
		noise(97, 61, 1),
		noise(300, 170, 2),
	}
	want := make([][]detect.Detection, len(imgs))
	for i, img := range imgs {
		ds, err := d.Detect(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = ds
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(imgs))
	for range 4 {
		for i, img := range imgs {
			wg.Go(func() {
				ds, err := d.Detect(context.Background(), img)
				if err == nil && !reflect.DeepEqual(ds, want[i]) {
					err = fmt.Errorf("image %d: got %v concurrently, %v alone", i, ds, want[i])
				}
				if err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func noise(w, h int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, seed))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.UintN(256))
	}
	return img
}

// TestSizes runs images from one pixel up to beyond the level limit,
// including odd sizes and extreme aspect ratios, and a face cut by the
// image's edges, whose grown box must be clipped to the image.
func TestSizes(t *testing.T) {
	t.Parallel()
	d := newDetector(t, Config{MaxLevelPixels: 1 << 16, Threads: 1, Workers: 2})
	face := testimages.LoadRGBA(t, "testdata/face.jpg")
	for _, off := range []image.Point{{0, -50}, {-100, 0}, {60, 80}} {
		img := image.NewRGBA(image.Rect(0, 0, 211, 187))
		draw.Draw(img, img.Rect, face, off, draw.Src)
		ds, err := d.Detect(context.Background(), img)
		if err != nil || len(ds) == 0 {
			t.Fatalf("face cut at %v: %v, %d detections", off, err, len(ds))
		}
		for _, det := range ds {
			if !det.Rect.In(img.Rect) || det.Rect.Empty() {
				t.Errorf("face cut at %v: box %v outside the image", off, det.Rect)
			}
		}
	}
	for _, sz := range []image.Point{{1, 1}, {2, 3}, {31, 33}, {64, 48}, {1000, 7}, {7, 1000}, {513, 257}, {600, 400},
		{1, 70000}, {70000, 1}, {3, 40000}} {
		ds, err := d.Detect(context.Background(), noise(sz.X, sz.Y, uint64(sz.X)))
		if err != nil {
			t.Fatalf("%v: %v", sz, err)
		}
		for _, det := range ds {
			if !det.Rect.In(image.Rect(0, 0, sz.X, sz.Y)) || det.Rect.Empty() {
				t.Errorf("%v: box %v outside the image", sz, det.Rect)
			}
		}
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	d := newDetector(t, Config{Threads: 1, Workers: 2})
	img := noise(2048, 2048, 3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Detect(ctx, img); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: %v", err)
	}
	// Cancelled while both runs of the image are under way: the deadline, not the
	// cancellation the other run's stop causes.
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := d.Detect(ctx, img); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled during the runs: %v, want the deadline", err)
	}
	// Cancelled while a run is under way (a 2048x2048 level takes far longer than the
	// deadline): ONNX Runtime itself is told to stop, not merely the next level skipped.
	l := fromRGBA(img)
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := d.runLevel(ctx, l, candidateFloor); !errors.Is(err, context.DeadlineExceeded) || !onnxrt.Stopped(err) {
		t.Errorf("cancelled during a run: %v, want the deadline and ONNX Runtime's stop", err)
	}
}

// TestDataErrors checks that a missing or altered model or library fails
// with a message naming the file and the install script.
func TestDataErrors(t *testing.T) {
	if !onnxrt.Available() {
		t.Skip("ONNX Runtime needs cgo")
	}
	t.Parallel()
	model, _ := Model(0)
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, model), []byte("not an onnx model"), 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(t.TempDir(), onnxrt.LibraryFile)
	if err := os.WriteFile(truncated, []byte("\x7fELF"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		lib  string
		cfg  Config
		want []string
	}{
		{"missing model", installedLib, Config{Dir: t.TempDir()}, []string{"face model", model, "is missing"}},
		{"corrupt model", installedLib, Config{Dir: bad}, []string{"face model", filepath.Join(bad, model), "sha256"}},
		{"missing library", "/nonexistent/" + onnxrt.LibraryFile, Config{}, []string{"ONNX Runtime library", "/nonexistent/", "is missing"}},
		{"altered library", truncated, Config{}, []string{"ONNX Runtime library", truncated, "sha256"}},
		{"threshold", installedLib, Config{Threshold: 1.5}, []string{"threshold 1.5"}},
		{"block", installedLib, Config{Block: 4}, []string{"block 4", "8 or 16"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := New(tc.lib, tc.cfg)
			if err == nil {
				_ = d.Close()
				t.Fatal("no error")
			}
			if tc.name != "threshold" && tc.name != "block" {
				tc.want = append(tc.want, detect.InstallCommand)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
		})
	}
}
