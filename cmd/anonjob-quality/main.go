// Command anonjob-quality measures how well an engine anonymizes labelled
// folders of photos (a labels.json next to the images): recall on faces
// not marked small, on small faces, on persons, vehicles and licence plates
// (by plate width too), pixel precision, and per class what that class's
// own detections found. An object counts as anonymized when at least 80% of
// its box is white in the engine's binary mask.
//
// It runs the built-in engine over loopback HTTP, or talks to the engine at
// --engine-url, and asks for faces and plates always and for persons and
// vehicles in a folder that labels them. A class the engine refuses is
// reported as refused. With --min-* flags it exits non-zero when a figure
// is below target, for CI.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/anonjob/anonjob/internal/anonymize"
	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/testimages/labels"
)

type options struct {
	dirs                                 []string
	detectorDir, onnxruntimeLib          string
	faceThreshold                        float64
	method                               string
	verbose                              bool
	engineURL, engineUser                string
	enginePassword                       string
	minFace, minSmall, minPlate, minPrec float64
	minPerson, minVehicle                float64
}

// dirList is the repeatable --dir flag.
type dirList []string

func (d *dirList) String() string { return strings.Join(*d, ",") }

func (d *dirList) Set(v string) error {
	*d = append(*d, v)
	return nil
}

const defaultDir = "../shared/testdata"

func main() {
	var o options
	var dirs dirList
	flag.Var(&dirs, "dir", "folder with labels.json and the images it names; repeat for several (default "+defaultDir+")")
	flag.StringVar(&o.detectorDir, "detector-dir", "", "detector data folder (default "+detect.DefaultDir+")")
	flag.StringVar(&o.onnxruntimeLib, "onnxruntime-lib", "", "ONNX Runtime library (default libonnxruntime.so.1 in the detector folder)")
	flag.Float64Var(&o.faceThreshold, "face-threshold", 0, "face score cut-off (default the engine's)")
	flag.StringVar(&o.method, "method", "blur", "anonymization method")
	flag.BoolVar(&o.verbose, "v", false, "print every image and every missed object")
	flag.StringVar(&o.engineURL, "engine-url", "", "Celantur v1 engine to measure (default: start the built-in engine on loopback)")
	flag.StringVar(&o.engineUser, "engine-user", "", "sign-in user of --engine-url")
	flag.Float64Var(&o.minFace, "min-face-recall", 0, "fail when face recall (non-small) is below")
	flag.Float64Var(&o.minSmall, "min-small-face-recall", 0, "fail when small-face recall is below")
	flag.Float64Var(&o.minPerson, "min-person-recall", 0, "fail when person recall is below")
	flag.Float64Var(&o.minVehicle, "min-vehicle-recall", 0, "fail when vehicle recall is below")
	flag.Float64Var(&o.minPlate, "min-plate-recall", 0, "fail when plate recall is below")
	flag.Float64Var(&o.minPrec, "min-precision", 0, "fail when precision is below")
	flag.Parse()
	o.dirs = dirs
	if len(o.dirs) == 0 {
		o.dirs = []string{defaultDir}
	}
	// The password of an external engine comes from the environment, not
	// from a flag that ps would show.
	o.enginePassword = os.Getenv("ANONJOB_QUALITY_ENGINE_PASSWORD")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "anonjob-quality:", err)
		os.Exit(1)
	}
}

// folder is one labelled folder and the classes asked for on its images.
type folder struct {
	dir    string
	labels *labels.File
	want   map[string]bool
}

func loadFolder(dir string) (folder, error) {
	f, err := os.Open(filepath.Join(dir, "labels.json"))
	if err != nil {
		return folder{}, fmt.Errorf("open labels: %w", err)
	}
	set, err := labels.Read(f)
	_ = f.Close()
	if err != nil {
		return folder{}, fmt.Errorf("%s: %w", dir, err)
	}
	// Faces and plates always, as a default job asks; persons and vehicles
	// only where they are labelled: asked for on the face set they would
	// mask its unlabelled people and move its face figures.
	want := map[string]bool{classFace: true, classPlate: true}
	for _, im := range set.Images {
		for _, o := range im.Objects {
			if o.Class == classPerson || o.Class == classVehicle {
				want[o.Class] = true
			}
		}
	}
	return folder{dir: dir, labels: set, want: want}, nil
}

// report is everything measured in one run.
type report struct {
	images  int
	elapsed time.Duration
	total   Tally
	classes ClassTallies
	refused map[string]string // class -> the engine's reason
}

func run(ctx context.Context, o options, out io.Writer) error {
	if m, ok := anonymize.ParseMethod(o.method); !ok || m == anonymize.Detect {
		return fmt.Errorf("method %q does not anonymize", o.method)
	}
	var folders []folder
	for _, dir := range o.dirs {
		f, err := loadFolder(dir)
		if err != nil {
			return err
		}
		folders = append(folders, f)
	}
	s, err := openSession(ctx, o)
	if err != nil {
		return err
	}
	defer func() { _ = s.close() }()
	rep := report{classes: ClassTallies{}, refused: s.refused}
	for _, f := range folders {
		for _, im := range f.labels.Images {
			if err := measure(ctx, s, f, im, &rep, o.verbose, out); err != nil {
				return err
			}
		}
	}
	rep.print(out)
	return check(rep, o)
}

func measure(ctx context.Context, s *session, f folder, im labels.Image, rep *report, verbose bool, out io.Writer) error {
	data, err := os.ReadFile(filepath.Join(f.dir, im.File))
	if err != nil {
		return fmt.Errorf("read image: %w", err)
	}
	res, err := s.process(ctx, data, f.want)
	if err != nil {
		return fmt.Errorf("%s: %w", im.File, err)
	}
	rep.images++
	rep.elapsed += res.took
	t, missed := Score(res.mask, im.Objects)
	rep.total.Add(t)
	rep.classes.Add(ScoreClasses(res.mask.Rect.Size(), res.meta.Detections, im.Objects))
	if verbose {
		_, _ = fmt.Fprintf(out, "%-50s %4dx%-4d %3d detections %6dms  missed %d of %d\n",
			im.File, res.mask.Rect.Dx(), res.mask.Rect.Dy(), len(res.meta.Detections), res.took.Milliseconds(), len(missed), len(im.Objects))
		for _, m := range missed {
			if m.Class == classFace {
				_, _ = fmt.Fprintf(out, "    missed %s %v small=%v\n", m.Class, m.BBox, m.Small)
			} else {
				_, _ = fmt.Fprintf(out, "    missed %s %v\n", m.Class, m.BBox)
			}
		}
	}
	return nil
}

func (r report) print(out io.Writer) {
	p := func(format string, a ...any) { _, _ = fmt.Fprintf(out, format, a...) }
	t := r.total
	p("images            %d (%.2fs, %.0f ms/image)\n", r.images, r.elapsed.Seconds(),
		float64(r.elapsed.Milliseconds())/float64(max(1, r.images)))
	p("face recall       %s (%d/%d, faces >= 20 px)\n", pct(t.FaceRecall()), t.FacesHit, t.Faces)
	p("small-face recall %s (%d/%d, faces < 20 px)\n", pct(t.SmallFaceRecall()), t.SmallFacesHit, t.SmallFaces)
	p("person recall     %s\n", r.recall(classPerson, t.Persons))
	p("vehicle recall    %s\n", r.recall(classVehicle, t.Vehicles))
	p("plate recall      %s (%d/%d)\n", pct(t.PlateRecall()), t.PlatesHit, t.Plates)
	for i, c := range t.PlateSizes {
		p("  plates %-9s %s (%d/%d)\n", plateBucketNames[i], pct(c.Ratio()), c.Hit, c.N)
	}
	p("  on vehicles     %s (%d/%d)\n", pct(t.PlatesOnVehicles.Ratio()), t.PlatesOnVehicles.Hit, t.PlatesOnVehicles.N)
	p("  elsewhere       %s (%d/%d)\n", pct(t.PlatesElsewhere.Ratio()), t.PlatesElsewhere.Hit, t.PlatesElsewhere.N)
	p("precision         %s (masked area outside all labels: %d of %d px)\n", pct(t.Precision()), t.MaskedOutside, t.MaskedPixels)
	header := false
	for _, c := range scoredClasses {
		ct := r.classes[c]
		if ct.Own.N == 0 || r.refused[c] != "" {
			continue // no labels of the class, or no boxes of it: nothing to tell
		}
		if !header {
			p("own boxes         each class's own detections: labels they cover, share of their pixels in labels of the class\n")
			header = true
		}
		p("  %-15s recall %s (%d/%d), precision %s (%d of %d px)\n",
			c, pct(ct.Own.Ratio()), ct.Own.Hit, ct.Own.N, pct(ct.Pixels.Ratio()), ct.Pixels.Hit, ct.Pixels.N)
	}
	for _, c := range scoredClasses {
		if why := r.refused[c]; why != "" {
			p("refused           %s: %s\n", c, why)
		}
	}
}

// recall writes a class's recall, or that the engine refused it.
func (r report) recall(class string, c Count) string {
	if r.refused[class] != "" {
		return fmt.Sprintf("refused by the engine (%d labelled)", c.N)
	}
	return fmt.Sprintf("%s (%d/%d)", pct(c.Ratio()), c.Hit, c.N)
}

func pct(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", v)
}

// check compares the figures with the targets. A target on a category the
// folders have no labels for fails too, and so does one on a class the
// engine refused: neither can be shown to be met.
func check(r report, o options) error {
	t := r.total
	var errs []error
	for _, c := range []struct {
		name, class string
		got, want   float64
	}{
		{"face recall", classFace, t.FaceRecall(), o.minFace},
		{"small-face recall", classFace, t.SmallFaceRecall(), o.minSmall},
		{"person recall", classPerson, t.PersonRecall(), o.minPerson},
		{"vehicle recall", classVehicle, t.VehicleRecall(), o.minVehicle},
		{"plate recall", classPlate, t.PlateRecall(), o.minPlate},
		{"precision", "", t.Precision(), o.minPrec},
	} {
		if c.want <= 0 {
			continue
		}
		switch why := r.refused[c.class]; {
		case c.class != "" && why != "":
			errs = append(errs, fmt.Errorf("%s: the engine refused %s (%s), target %.3f", c.name, c.class, why, c.want))
		case c.got < 0:
			errs = append(errs, fmt.Errorf("%s: nothing labelled to measure, target %.3f", c.name, c.want))
		case c.got < c.want:
			errs = append(errs, fmt.Errorf("%s %.3f is below the target %.3f", c.name, c.got, c.want))
		}
	}
	return errors.Join(errs...)
}
