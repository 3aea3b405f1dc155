package main

import (
	"image"
	"image/color"
	"image/draw"
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/testimages/labels"
)

// maskWith returns a 100x100 mask with the given rectangles white.
func maskWith(rs ...image.Rectangle) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, 100, 100))
	for _, r := range rs {
		draw.Draw(m, r, image.NewUniform(color.Gray{Y: 255}), image.Point{}, draw.Src)
	}
	return m
}

func sizes(small, medium, large Count) [plateBuckets]Count {
	return [plateBuckets]Count{small, medium, large}
}

func TestScore(t *testing.T) {
	t.Parallel()
	face := labels.Object{Class: classFace, BBox: [4]int{10, 10, 30, 30}}               // 400 px
	small := labels.Object{Class: classFace, BBox: [4]int{50, 50, 60, 60}, Small: true} // 100 px
	plate := labels.Object{Class: classPlate, BBox: [4]int{70, 80, 90, 85}}             // 100 px, 20 wide
	person := labels.Object{Class: classPerson, BBox: [4]int{0, 40, 20, 100}}           // 1200 px
	vehicle := labels.Object{Class: classVehicle, BBox: [4]int{40, 60, 100, 100}}       // 2400 px
	midPlate := labels.Object{Class: classPlate, BBox: [4]int{30, 0, 60, 5}}            // 30 wide
	bigPlate := labels.Object{Class: classPlate, BBox: [4]int{0, 0, 60, 5}}             // 60 wide
	cases := []struct {
		name    string
		mask    *image.Gray
		objects []labels.Object
		want    Tally
		missed  int
	}{
		{
			name:    "exactly 80% of the face covered counts",
			mask:    maskWith(image.Rect(10, 10, 30, 26)), // 16 of 20 rows
			objects: []labels.Object{face},
			want:    Tally{Faces: 1, FacesHit: 1, MaskedPixels: 320},
		},
		{
			name:    "just under 80% does not",
			mask:    maskWith(image.Rect(10, 10, 30, 25)),
			objects: []labels.Object{face},
			want:    Tally{Faces: 1, MaskedPixels: 300},
			missed:  1,
		},
		{
			name:    "over-masking counts outside area",
			mask:    maskWith(image.Rect(0, 0, 40, 40)),
			objects: []labels.Object{face, small, plate},
			want: Tally{Faces: 1, FacesHit: 1, SmallFaces: 1, Plates: 1, MaskedPixels: 1600, MaskedOutside: 1200,
				PlateSizes: sizes(Count{N: 1}, Count{}, Count{}), PlatesElsewhere: Count{N: 1}},
			missed: 2,
		},
		{
			name:    "each class has its own tally",
			mask:    maskWith(image.Rect(50, 50, 60, 60), image.Rect(70, 80, 90, 85)),
			objects: []labels.Object{face, small, plate},
			want: Tally{Faces: 1, SmallFaces: 1, SmallFacesHit: 1, Plates: 1, PlatesHit: 1, MaskedPixels: 200,
				PlateSizes: sizes(Count{N: 1, Hit: 1}, Count{}, Count{}), PlatesElsewhere: Count{N: 1, Hit: 1}},
			missed: 1,
		},
		{
			name:    "a box partly outside the image needs 80% of its full area",
			mask:    maskWith(image.Rect(0, 0, 100, 100)),
			objects: []labels.Object{{Class: classFace, BBox: [4]int{90, 90, 110, 110}}},
			want:    Tally{Faces: 1, MaskedPixels: 10000, MaskedOutside: 10000 - 100},
			missed:  1,
		},
		{
			name:    "persons and vehicles",
			mask:    maskWith(image.Rect(0, 52, 20, 100), image.Rect(40, 60, 100, 91)), // person 48 of 60 rows, vehicle 31 of 40
			objects: []labels.Object{person, vehicle},
			want: Tally{Persons: Count{N: 1, Hit: 1}, Vehicles: Count{N: 1}, MaskedPixels: 960 + 1860,
				MaskedOutside: 0},
			missed: 1,
		},
		{
			name:    "a plate inside a masked vehicle is hidden",
			mask:    maskWith(image.Rect(40, 60, 100, 100)),
			objects: []labels.Object{vehicle, plate},
			want: Tally{Vehicles: Count{N: 1, Hit: 1}, Plates: 1, PlatesHit: 1, MaskedPixels: 2400,
				PlateSizes: sizes(Count{N: 1, Hit: 1}, Count{}, Count{}), PlatesOnVehicles: Count{N: 1, Hit: 1}},
		},
		{
			name:    "a plate half out of its vehicle is elsewhere",
			mask:    maskWith(),
			objects: []labels.Object{vehicle, {Class: classPlate, BBox: [4]int{30, 60, 50, 65}}},
			want: Tally{Vehicles: Count{N: 1}, Plates: 1, PlateSizes: sizes(Count{N: 1}, Count{}, Count{}),
				PlatesElsewhere: Count{N: 1}},
			missed: 2,
		},
		{
			name:    "plates fall into buckets by width",
			mask:    maskWith(image.Rect(0, 0, 60, 5)),
			objects: []labels.Object{plate, midPlate, bigPlate},
			want: Tally{Plates: 3, PlatesHit: 2, MaskedPixels: 300,
				PlateSizes:      sizes(Count{N: 1}, Count{N: 1, Hit: 1}, Count{N: 1, Hit: 1}),
				PlatesElsewhere: Count{N: 3, Hit: 2}},
			missed: 1,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, missed := Score(c.mask, c.objects)
			if got != c.want || len(missed) != c.missed {
				t.Fatalf("got %+v missed %d, want %+v missed %d", got, len(missed), c.want, c.missed)
			}
		})
	}
}

func TestScoreClasses(t *testing.T) {
	t.Parallel()
	size := image.Pt(100, 100)
	vehicle := labels.Object{Class: classVehicle, BBox: [4]int{40, 60, 100, 100}}
	plate := labels.Object{Class: classPlate, BBox: [4]int{70, 80, 90, 85}}
	person := labels.Object{Class: classPerson, BBox: [4]int{0, 0, 10, 10}}
	det := func(class string, x1, y1, x2, y2 int) Detection {
		return Detection{TypeLabel: class, BBox: [4]int{x1, y1, x2, y2}}
	}
	cases := []struct {
		name    string
		dets    []Detection
		objects []labels.Object
		want    ClassTallies
	}{
		{
			name:    "a vehicle box does not find the plate in it",
			dets:    []Detection{det(classVehicle, 40, 60, 100, 100)},
			objects: []labels.Object{vehicle, plate},
			want: ClassTallies{
				classVehicle: {Own: Count{N: 1, Hit: 1}, Pixels: Count{N: 2400, Hit: 2400}},
				classPlate:   {Own: Count{N: 1}},
			},
		},
		{
			name:    "a plate box finds it; its pixels outside the label lower plate precision",
			dets:    []Detection{det(classPlate, 70, 80, 90, 90)},
			objects: []labels.Object{plate},
			want:    ClassTallies{classPlate: {Own: Count{N: 1, Hit: 1}, Pixels: Count{N: 200, Hit: 100}}},
		},
		{
			name:    "overlapping boxes of one class count their pixels once, clipped to the image",
			dets:    []Detection{det(classPerson, 0, 0, 10, 10), det(classPerson, 5, 0, 15, 10), det(classPerson, 95, 95, 120, 120)},
			objects: []labels.Object{person},
			want:    ClassTallies{classPerson: {Own: Count{N: 1, Hit: 1}, Pixels: Count{N: 150 + 25, Hit: 100}}},
		},
		{
			name:    "boxes of a class with no labels count as all outside",
			dets:    []Detection{det(classFace, 0, 0, 10, 10)},
			objects: nil,
			want:    ClassTallies{classFace: {Pixels: Count{N: 100}}},
		},
		{
			name:    "unknown type labels are ignored",
			dets:    []Detection{det("cat", 0, 0, 10, 10)},
			objects: nil,
			want:    ClassTallies{},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := ScoreClasses(size, c.dets, c.objects)
			if len(got) != len(c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s: got %+v, want %+v", k, got[k], v)
				}
			}
		})
	}
}

func TestRatios(t *testing.T) {
	t.Parallel()
	tl := Tally{Faces: 4, FacesHit: 3, MaskedPixels: 200, MaskedOutside: 50, Persons: Count{N: 2, Hit: 1}}
	if tl.FaceRecall() != 0.75 || tl.Precision() != 0.75 || tl.PlateRecall() != -1 || tl.SmallFaceRecall() != -1 ||
		tl.PersonRecall() != 0.5 || tl.VehicleRecall() != -1 {
		t.Fatalf("ratios %v %v %v %v %v %v", tl.FaceRecall(), tl.Precision(), tl.PlateRecall(), tl.SmallFaceRecall(),
			tl.PersonRecall(), tl.VehicleRecall())
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tl := Tally{Faces: 20, FacesHit: 19, SmallFaces: 10, SmallFacesHit: 5, MaskedPixels: 10, MaskedOutside: 5,
		Persons: Count{N: 10, Hit: 9}}
	reason := "vehicle=True is not supported"
	rep := report{total: tl, refused: map[string]string{classVehicle: reason}}
	cases := []struct {
		o    options
		want string // empty: passes
	}{
		{options{minFace: 0.95}, ""},
		{options{minFace: 0.96}, "face recall 0.950 is below"},
		{options{minSmall: 0.6}, "small-face recall"},
		{options{minPlate: 0.5}, "nothing labelled"},
		{options{minPrec: 0.5, minFace: 0.9}, ""},
		{options{minPerson: 0.9}, ""},
		{options{minPerson: 0.95}, "person recall 0.900 is below the target 0.950"},
		{options{minVehicle: 0.5}, "vehicle recall: the engine refused vehicle (" + reason + ")"},
	}
	for _, c := range cases {
		err := check(rep, c.o)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}

func TestRefusedClass(t *testing.T) {
	t.Parallel()
	all := []string{"face", "license-plate", "person", "vehicle"}
	cases := []struct {
		msg   string
		asked []string
		want  string
	}{
		{"person=True is not supported: this engine detects only face and license-plate", all, "person"},
		{"vehicle=True is not supported: this engine detects only face and license-plate", all, "vehicle"},
		{"Class Person is not available on your plan", all, "person"},
		{"license_plate=True: no plate model", all, "license-plate"},
		{"not a JPEG/PNG: unexpected EOF", all, ""},
		{"person=True is not supported", []string{"face"}, ""},
	}
	for _, c := range cases {
		if got := refusedClass(c.msg, c.asked); got != c.want {
			t.Errorf("%q: got %q, want %q", c.msg, got, c.want)
		}
	}
}
