// Package objects builds the composite images of the person, vehicle and
// licence-plate test set from the package files kept in src/ and the
// recipe in recipe.json, and writes the set's labels.json. The same recipe
// and sources give byte-identical files (TestReproducible checks the
// committed ones).
package objects

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	_ "image/png" // stamps and photos
	"io/fs"

	xdraw "golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // gcompris backgrounds

	"github.com/anonjob/anonjob/internal/testimages/labels"
)

// Recipe is recipe.json: the photos used as they are and the composites.
type Recipe struct {
	Photos     []Photo     `json:"photos"`
	Composites []Composite `json:"composites"`
}

// Photo is a committed image labelled by hand.
type Photo struct {
	File    string          `json:"file"`
	Source  string          `json:"source"`
	Objects []labels.Object `json:"objects"`
}

// Composite is an image made from a base photo, cut-out stamps and
// synthetic plates. Objects are labelled by hand on the base, in the
// output's pixels; stamps and plates label themselves.
type Composite struct {
	File    string          `json:"file"`
	Source  string          `json:"source"`
	Base    string          `json:"base"`              // path below src/
	Size    [2]int          `json:"size,omitempty"`    // resize the base to this first (0: keep)
	Stamps  []Stamp         `json:"stamps,omitempty"`  // pasted in order, before the plates
	Plates  []Plate         `json:"plates,omitempty"`  // pasted last
	Objects []labels.Object `json:"objects,omitempty"` // hand labels of the base
	Quality int             `json:"quality"`           // JPEG quality of the output
}

// Stamp is a cut-out (PNG with alpha) pasted at At, scaled to Width px
// wide. Its label is the box of its pixels with alpha >= 128.
type Stamp struct {
	Src    string `json:"src"`
	Class  string `json:"class"`
	Width  int    `json:"width"`
	At     [2]int `json:"at"`
	Mirror bool   `json:"mirror,omitempty"`
}

// Plate is a synthetic plate drawn with Text into Box [x1,y1,x2,y2].
type Plate struct {
	Text string `json:"text"`
	Box  [4]int `json:"box"`
}

// Label classes of the set.
const (
	ClassPerson  = "person"
	ClassVehicle = "vehicle"
	ClassPlate   = "license_plate"
)

// Build makes every composite from dir (the set's folder: src/ and the
// photos) and returns the files to write, labels.json included.
func Build(dir fs.FS, r Recipe) (map[string][]byte, error) {
	out := map[string][]byte{}
	var set labels.File
	for _, p := range r.Photos {
		f, err := dir.Open(p.File)
		if err != nil {
			return nil, err
		}
		cfg, _, err := image.DecodeConfig(f)
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.File, err)
		}
		set.Images = append(set.Images, labels.Image{File: p.File, Width: cfg.Width, Height: cfg.Height, Source: p.Source, Objects: nonNil(p.Objects)})
	}
	for _, c := range r.Composites {
		img, objs, err := compose(dir, c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.File, err)
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: c.Quality}); err != nil {
			return nil, fmt.Errorf("%s: %w", c.File, err)
		}
		out[c.File] = buf.Bytes()
		set.Images = append(set.Images, labels.Image{File: c.File, Width: img.Rect.Dx(), Height: img.Rect.Dy(), Source: c.Source, Objects: objs})
	}
	j, err := json.MarshalIndent(set, "", " ")
	if err != nil {
		return nil, err
	}
	out["labels.json"] = append(j, '\n')
	return out, nil
}

func nonNil(o []labels.Object) []labels.Object {
	if o == nil {
		return []labels.Object{}
	}
	return o
}

func decode(dir fs.FS, name string) (image.Image, error) {
	f, err := dir.Open(name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return img, nil
}

func compose(dir fs.FS, c Composite) (*image.RGBA, []labels.Object, error) {
	base, err := decode(dir, "src/"+c.Base)
	if err != nil {
		return nil, nil, err
	}
	size := base.Bounds().Size()
	if c.Size[0] > 0 {
		size = image.Pt(c.Size[0], c.Size[1])
	}
	img := image.NewRGBA(image.Rectangle{Max: size})
	if size == base.Bounds().Size() {
		draw.Draw(img, img.Rect, base, base.Bounds().Min, draw.Src)
	} else {
		xdraw.CatmullRom.Scale(img, img.Rect, base, base.Bounds(), draw.Src, nil)
	}
	objs := append([]labels.Object{}, c.Objects...)
	for _, s := range c.Stamps {
		box, err := paste(dir, img, s)
		if err != nil {
			return nil, nil, err
		}
		objs = append(objs, labels.Object{Class: s.Class, BBox: box})
	}
	for _, p := range c.Plates {
		r := image.Rect(p.Box[0], p.Box[1], p.Box[2], p.Box[3])
		if !r.In(img.Rect) || r.Dx() < 8 || r.Dy() < 4 {
			return nil, nil, fmt.Errorf("plate %q at %v does not fit", p.Text, r)
		}
		plate, err := RenderPlate(p.Text, r.Dx(), r.Dy())
		if err != nil {
			return nil, nil, err
		}
		draw.Draw(img, r, plate, image.Point{}, draw.Src)
		objs = append(objs, labels.Object{Class: ClassPlate, BBox: p.Box})
	}
	return img, objs, nil
}

// paste scales a stamp to its width, pastes it over img and returns the
// box of its opaque pixels (alpha >= 128) in img.
func paste(dir fs.FS, img *image.RGBA, s Stamp) ([4]int, error) {
	src, err := decode(dir, "src/"+s.Src)
	if err != nil {
		return [4]int{}, err
	}
	sb := src.Bounds()
	h := (s.Width*sb.Dy() + sb.Dx()/2) / sb.Dx()
	st := image.NewNRGBA(image.Rect(0, 0, s.Width, h))
	xdraw.CatmullRom.Scale(st, st.Rect, src, sb, draw.Src, nil)
	if s.Mirror {
		for y := 0; y < h; y++ {
			for x := 0; x < s.Width/2; x++ {
				a, b := st.NRGBAAt(x, y), st.NRGBAAt(s.Width-1-x, y)
				st.SetNRGBA(x, y, b)
				st.SetNRGBA(s.Width-1-x, y, a)
			}
		}
	}
	at := image.Pt(s.At[0], s.At[1])
	dst := st.Rect.Add(at)
	if !dst.In(img.Rect) {
		return [4]int{}, fmt.Errorf("stamp %s at %v leaves the image", s.Src, dst)
	}
	draw.Draw(img, dst, st, image.Point{}, draw.Over)
	opaque := image.Rectangle{}
	for y := 0; y < h; y++ {
		for x := 0; x < s.Width; x++ {
			if st.NRGBAAt(x, y).A >= 128 {
				opaque = opaque.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	if opaque.Empty() {
		return [4]int{}, fmt.Errorf("stamp %s has no opaque pixel", s.Src)
	}
	o := opaque.Add(at)
	return [4]int{o.Min.X, o.Min.Y, o.Max.X, o.Max.Y}, nil
}

// Colours of the synthetic EU-style plates.
var (
	plateWhite = color.RGBA{0xf4, 0xf4, 0xf0, 0xff}
	plateBlue  = color.RGBA{0x00, 0x33, 0x99, 0xff}
	plateInk   = color.RGBA{0x10, 0x10, 0x10, 0xff}
	plateStar  = color.RGBA{0xff, 0xcc, 0x00, 0xff}
)
