package main

import (
	"image"
	"image/color"
	"image/draw"
	"strings"
	"testing"
)

// maskWith returns a 100x100 mask with the given rectangles white.
func maskWith(rs ...image.Rectangle) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, 100, 100))
	for _, r := range rs {
		draw.Draw(m, r, image.NewUniform(color.Gray{Y: 255}), image.Point{}, draw.Src)
	}
	return m
}

func TestScore(t *testing.T) {
	t.Parallel()
	face := Object{Class: classFace, BBox: [4]int{10, 10, 30, 30}}               // 400 px
	small := Object{Class: classFace, BBox: [4]int{50, 50, 60, 60}, Small: true} // 100 px
	plate := Object{Class: classPlate, BBox: [4]int{70, 80, 90, 85}}             // 100 px
	cases := []struct {
		name    string
		mask    *image.Gray
		objects []Object
		want    Tally
		missed  int
	}{
		{
			name:    "exactly 80% of the face covered counts",
			mask:    maskWith(image.Rect(10, 10, 30, 26)), // 16 of 20 rows
			objects: []Object{face},
			want:    Tally{Faces: 1, FacesHit: 1, MaskedPixels: 320},
		},
		{
			name:    "just under 80% does not",
			mask:    maskWith(image.Rect(10, 10, 30, 25)),
			objects: []Object{face},
			want:    Tally{Faces: 1, MaskedPixels: 300},
			missed:  1,
		},
		{
			name:    "over-masking counts outside area",
			mask:    maskWith(image.Rect(0, 0, 40, 40)),
			objects: []Object{face, small, plate},
			want:    Tally{Faces: 1, FacesHit: 1, SmallFaces: 1, Plates: 1, MaskedPixels: 1600, MaskedOutside: 1200},
			missed:  2,
		},
		{
			name:    "each class has its own tally",
			mask:    maskWith(image.Rect(50, 50, 60, 60), image.Rect(70, 80, 90, 85)),
			objects: []Object{face, small, plate},
			want:    Tally{Faces: 1, SmallFaces: 1, SmallFacesHit: 1, Plates: 1, PlatesHit: 1, MaskedPixels: 200},
			missed:  1,
		},
		{
			name:    "a box partly outside the image needs 80% of its full area",
			mask:    maskWith(image.Rect(0, 0, 100, 100)),
			objects: []Object{{Class: classFace, BBox: [4]int{90, 90, 110, 110}}},
			want:    Tally{Faces: 1, MaskedPixels: 10000, MaskedOutside: 10000 - 100},
			missed:  1,
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

func TestRatios(t *testing.T) {
	t.Parallel()
	tl := Tally{Faces: 4, FacesHit: 3, MaskedPixels: 200, MaskedOutside: 50}
	if tl.FaceRecall() != 0.75 || tl.Precision() != 0.75 || tl.PlateRecall() != -1 || tl.SmallFaceRecall() != -1 {
		t.Fatalf("ratios %v %v %v %v", tl.FaceRecall(), tl.Precision(), tl.PlateRecall(), tl.SmallFaceRecall())
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tl := Tally{Faces: 20, FacesHit: 19, SmallFaces: 10, SmallFacesHit: 5, MaskedPixels: 10, MaskedOutside: 5}
	cases := []struct {
		o    options
		want string // empty: passes
	}{
		{options{minFace: 0.95}, ""},
		{options{minFace: 0.96}, "face recall 0.950 is below"},
		{options{minSmall: 0.6}, "small-face recall"},
		{options{minPlate: 0.5}, "nothing labelled"},
		{options{minPrec: 0.5, minFace: 0.9}, ""},
	}
	for _, c := range cases {
		err := check(tl, c.o)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}

func TestReadLabels(t *testing.T) {
	t.Parallel()
	l, err := readLabels(strings.NewReader(`{"images":[{"file":"a.png","width":4,"height":3,"objects":[{"class":"face","bbox":[1,2,3,4],"small":true}]}]}`))
	if err != nil || len(l.Images) != 1 || l.Images[0].Objects[0].BBox != [4]int{1, 2, 3, 4} || !l.Images[0].Objects[0].Small {
		t.Fatalf("%+v %v", l, err)
	}
	if _, err := readLabels(strings.NewReader("{")); err == nil {
		t.Error("broken JSON accepted")
	}
}
