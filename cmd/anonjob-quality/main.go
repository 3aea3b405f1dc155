// Command anonjob-quality measures how well the built-in engine anonymizes
// a labelled folder of photos (a labels.json next to the images): face
// recall on faces not marked small, recall on small faces, licence-plate
// recall and precision. An object counts as anonymized when at least 80%
// of its box is white in the engine's binary mask. With --min-* flags it
// exits non-zero when a figure is below target, for CI.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/anonjob/anonjob/internal/anonymize"
	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/detectors"
)

type options struct {
	dir                                  string
	detectorDir, onnxruntimeLib          string
	faceThreshold                        float64
	method                               string
	verbose                              bool
	minFace, minSmall, minPlate, minPrec float64
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", "../shared/testdata", "folder with labels.json and the images it names")
	flag.StringVar(&o.detectorDir, "detector-dir", "", "detector data folder (default "+detect.DefaultDir+")")
	flag.StringVar(&o.onnxruntimeLib, "onnxruntime-lib", "", "ONNX Runtime library (default libonnxruntime.so.1 in the detector folder)")
	flag.Float64Var(&o.faceThreshold, "face-threshold", 0, "face score cut-off (default the engine's)")
	flag.StringVar(&o.method, "method", "blur", "anonymization method")
	flag.BoolVar(&o.verbose, "v", false, "print every image and every missed object")
	flag.Float64Var(&o.minFace, "min-face-recall", 0, "fail when face recall (non-small) is below")
	flag.Float64Var(&o.minSmall, "min-small-face-recall", 0, "fail when small-face recall is below")
	flag.Float64Var(&o.minPlate, "min-plate-recall", 0, "fail when plate recall is below")
	flag.Float64Var(&o.minPrec, "min-precision", 0, "fail when precision is below")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "anonjob-quality:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	f, err := os.Open(filepath.Join(o.dir, "labels.json"))
	if err != nil {
		return fmt.Errorf("open labels: %w", err)
	}
	labels, err := readLabels(f)
	_ = f.Close()
	if err != nil {
		return err
	}
	set, err := detectors.Open(detectors.Config{Dir: o.detectorDir, ONNXRuntimeLib: o.onnxruntimeLib, FaceThreshold: o.faceThreshold})
	if err != nil {
		return err
	}
	defer func() { _ = set.Close() }()
	method, ok := anonymize.ParseMethod(o.method)
	if !ok || method == anonymize.Detect {
		return fmt.Errorf("method %q does not anonymize", o.method)
	}
	var total Tally
	var elapsed time.Duration
	for _, im := range labels.Images {
		data, err := os.ReadFile(filepath.Join(o.dir, im.File))
		if err != nil {
			return fmt.Errorf("read image: %w", err)
		}
		start := time.Now()
		res, err := anonymize.Process(ctx, set.Detectors, data, anonymize.Request{Method: method, Faces: true, Plates: true})
		if err != nil {
			return fmt.Errorf("%s: %w", im.File, err)
		}
		took := time.Since(start)
		elapsed += took
		mask, err := png.Decode(bytes.NewReader(res.BinaryMask))
		if err != nil {
			return fmt.Errorf("%s: decode mask: %w", im.File, err)
		}
		g, ok := mask.(*image.Gray)
		if !ok {
			return fmt.Errorf("%s: binary mask is %T, want gray", im.File, mask)
		}
		t, missed := Score(g, im.Objects)
		total.Add(t)
		if o.verbose {
			_, _ = fmt.Fprintf(out, "%-50s %4dx%-4d %3d detections %6dms  missed %d of %d\n",
				im.File, res.Size.X, res.Size.Y, len(res.Detections), took.Milliseconds(), len(missed), len(im.Objects))
			for _, m := range missed {
				_, _ = fmt.Fprintf(out, "    missed %s %v small=%v\n", m.Class, m.BBox, m.Small)
			}
		}
	}
	_, _ = fmt.Fprintf(out, "images            %d (%.2fs, %.0f ms/image)\n", len(labels.Images), elapsed.Seconds(),
		float64(elapsed.Milliseconds())/float64(max(1, len(labels.Images))))
	_, _ = fmt.Fprintf(out, "face recall       %s (%d/%d, faces >= 20 px)\n", pct(total.FaceRecall()), total.FacesHit, total.Faces)
	_, _ = fmt.Fprintf(out, "small-face recall %s (%d/%d, faces < 20 px)\n", pct(total.SmallFaceRecall()), total.SmallFacesHit, total.SmallFaces)
	_, _ = fmt.Fprintf(out, "plate recall      %s (%d/%d)\n", pct(total.PlateRecall()), total.PlatesHit, total.Plates)
	_, _ = fmt.Fprintf(out, "precision         %s (masked area outside all labels: %d of %d px)\n", pct(total.Precision()), total.MaskedOutside, total.MaskedPixels)
	return check(total, o)
}

func pct(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", v)
}

// check compares the figures with the targets. A target on a category the
// folder has no labels for fails too: it cannot be shown to be met.
func check(t Tally, o options) error {
	var errs []error
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"face recall", t.FaceRecall(), o.minFace},
		{"small-face recall", t.SmallFaceRecall(), o.minSmall},
		{"plate recall", t.PlateRecall(), o.minPlate},
		{"precision", t.Precision(), o.minPrec},
	} {
		if c.want <= 0 {
			continue
		}
		if c.got < 0 {
			errs = append(errs, fmt.Errorf("%s: nothing labelled to measure, target %.3f", c.name, c.want))
		} else if c.got < c.want {
			errs = append(errs, fmt.Errorf("%s %.3f is below the target %.3f", c.name, c.got, c.want))
		}
	}
	return errors.Join(errs...)
}
