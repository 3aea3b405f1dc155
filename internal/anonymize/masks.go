package anonymize

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"sort"

	"github.com/anonjob/anonjob/internal/detect"
)

// Class flags of the instance mask's blue channel (Celantur v1).
const (
	flagPerson       = 128
	flagLicensePlate = 64
	flagFace         = 32
	flagVehicle      = 16
)

func classFlag(c detect.Class) uint8 {
	switch c {
	case detect.Face:
		return flagFace
	case detect.LicensePlate:
		return flagLicensePlate
	case detect.Person:
		return flagPerson
	case detect.Vehicle:
		return flagVehicle
	}
	return 0
}

// binaryMask is black with the anonymized regions white.
func binaryMask(size image.Point, dets []detect.Detection, anonymized bool) *image.Gray {
	m := image.NewGray(image.Rectangle{Max: size})
	if !anonymized {
		return m
	}
	for _, d := range dets {
		draw.Draw(m, d.Rect, image.NewUniform(color.Gray{Y: 255}), image.Point{}, draw.Src)
	}
	return m
}

// instanceMask paints each detection with G = its id (1-based, capped at
// 255 because the channel has 8 bits) and B = its class flag, on black.
// Larger boxes are drawn first, so where boxes overlap the smaller one shows:
// a face or a plate stays visible over the person or vehicle it is part of.
func instanceMask(size image.Point, dets []detect.Detection) *image.RGBA {
	m := image.NewRGBA(image.Rectangle{Max: size})
	draw.Draw(m, m.Rect, image.NewUniform(color.RGBA{A: 255}), image.Point{}, draw.Src)
	order := make([]int, len(dets))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ra, rb := dets[order[a]].Rect, dets[order[b]].Rect
		return ra.Dx()*ra.Dy() > rb.Dx()*rb.Dy()
	})
	for _, i := range order {
		d := dets[i]
		c := color.RGBA{G: uint8(min(i+1, 255)), B: classFlag(d.Class), A: 255}
		draw.Draw(m, d.Rect, image.NewUniform(c), image.Point{}, draw.Src)
	}
	return m
}

// Metadata is the v1 metadata document.
type Metadata struct {
	Detections []MetaDetection `json:"detections"`
	Size       [2]int          `json:"size"`
}

// MetaDetection is one entry of Metadata.Detections; BBox is
// [x1, y1, x2, y2] with x2, y2 exclusive.
type MetaDetection struct {
	ID           int     `json:"id"`
	BBox         [4]int  `json:"bbox"`
	TypeLabel    string  `json:"type_label"`
	Score        float64 `json:"score"`
	IsAnonymized bool    `json:"is_anonymized"`
}

func metadata(size image.Point, dets []detect.Detection, anonymized bool) ([]byte, error) {
	md := Metadata{Detections: []MetaDetection{}, Size: [2]int{size.X, size.Y}}
	for i, d := range dets {
		md.Detections = append(md.Detections, MetaDetection{
			ID:           i + 1,
			BBox:         [4]int{d.Rect.Min.X, d.Rect.Min.Y, d.Rect.Max.X, d.Rect.Max.Y},
			TypeLabel:    d.Class.String(),
			Score:        float64(int(d.Score*1000+0.5)) / 1000,
			IsAnonymized: anonymized,
		})
	}
	b, err := json.Marshal(md)
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	return b, nil
}
