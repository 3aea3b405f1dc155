package centernet

import (
	"context"
	"image"
	"math"
	"slices"
)

// COCO classes the engine anonymizes (0-based heatmap channels).
const (
	COCOPerson     = 0
	COCOBicycle    = 1
	COCOCar        = 2
	COCOMotorcycle = 3
	COCOBus        = 5
	COCOTruck      = 7
)

// Box is one decoded object in the pixels of the network's input.
type Box struct {
	Class          int // COCO channel
	X1, Y1, X2, Y2 float64
	Score          float64
}

// Decode turns the heads into boxes of the wanted classes (of the first Classes) scoring at least min, as the
// original graph's own decoding does: a cell counts when it is the maximum of its 3x3
// neighbourhood in its class, its box is the cell centre (4x, 4y) minus the first two
// distances and plus the last two.
func Decode(hd Heads, min float64, classes []int) []Box {
	var out []Box
	for y := range hd.H4 {
		for x := range hd.W4 {
			for _, c := range classes {
				if c < 0 || c >= Classes {
					continue // not in the converted heatmap
				}
				v := hd.Heatmap[(y*hd.W4+x)*Classes+c]
				if float64(v) < min || !peak(hd, x, y, c, v) {
					continue
				}
				d := hd.WH[(y*hd.W4+x)*4:][:4]
				cx, cy := float64(Stride*x), float64(Stride*y)
				out = append(out, Box{Class: c, Score: float64(v),
					X1: cx - float64(d[0]), Y1: cy - float64(d[1]), X2: cx + float64(d[2]), Y2: cy + float64(d[3])})
			}
		}
	}
	slices.SortFunc(out, func(a, b Box) int { return cmpDesc(a.Score, b.Score) })
	return out
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// peak reports whether v, at (x, y) in class c, is the maximum of its 3x3 neighbourhood.
func peak(hd Heads, x, y, c int, v float32) bool {
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			nx, ny := x+dx, y+dy
			if nx < 0 || ny < 0 || nx >= hd.W4 || ny >= hd.H4 {
				continue
			}
			if hd.Heatmap[(ny*hd.W4+nx)*Classes+c] > v {
				return false
			}
		}
	}
	return true
}

// MaxSide bounds the longer side of the network's input: beyond it, the cost grows with the
// area while persons and vehicles small enough to need it are rare.
const MaxSide = 1024

// InputSize is the network input for an image of w x h: the image's own size, or scaled down
// so its longer side is MaxSide, each side rounded up to a multiple of 32.
func InputSize(w, h int) (int, int) {
	s := math.Min(1, float64(MaxSide)/float64(max(w, h)))
	up := func(v float64) int { return max(32, int(math.Ceil(v/32))*32) }
	return up(float64(w) * s), up(float64(h) * s)
}

// Detect runs the network on img at InputSize and returns the boxes of the wanted classes in
// image pixels, clipped to the image.
func (m *Model) Detect(ctx context.Context, img image.Image, min float64, classes []int) ([]Box, error) {
	b := img.Bounds()
	w, h := InputSize(b.Dx(), b.Dy())
	hd, err := m.Run(ctx, Input(img, w, h), w, h)
	if err != nil {
		return nil, err
	}
	sx, sy := float64(b.Dx())/float64(w), float64(b.Dy())/float64(h)
	boxes := Decode(hd, min, classes)
	for i := range boxes {
		bx := &boxes[i]
		bx.X1 = math.Max(0, bx.X1*sx)
		bx.Y1 = math.Max(0, bx.Y1*sy)
		bx.X2 = math.Min(float64(b.Dx()), bx.X2*sx)
		bx.Y2 = math.Min(float64(b.Dy()), bx.Y2*sy)
	}
	return boxes, nil
}
