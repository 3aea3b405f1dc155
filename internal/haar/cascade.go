// Package haar evaluates OpenCV Haar cascades in pure Go and runs the
// licence-plate cascade for the built-in engine.
//
// The evaluator follows OpenCV 4's CascadeClassifier for HAAR/BOOST cascades
// stored in the "new" XML format (opencv-cascade-classifier): integral,
// squared and tilted integral images, per-window variance normalisation,
// stump and tree weak classifiers, an image pyramid built by bilinear
// resizing, and cv::groupRectangles-style clustering of the raw hits.
package haar

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Cascade is a parsed boosted Haar cascade.
type Cascade struct {
	// Width and Height are the size of the training window in pixels.
	Width, Height int
	Stages        []Stage
	Features      []Feature
	// HasTilted is true when at least one feature uses 45-degree rectangles,
	// which requires the (more expensive) tilted integral image.
	HasTilted bool
}

// Stage is one boosted stage: the sum of its weak classifiers' outputs must
// reach Threshold for a window to go on to the next stage.
type Stage struct {
	Threshold float64
	Weak      []Weak
}

// Weak is a decision tree over Haar features. Nodes[0] is the root. A child
// index > 0 points at another node; a child index <= 0 selects
// Leaves[-index], as in OpenCV's XML.
type Weak struct {
	Nodes  []Node
	Leaves []float64
}

// Node compares one feature value (variance-normalised) with Threshold and
// goes Left when it is smaller.
type Node struct {
	Feature     int
	Threshold   float64
	Left, Right int
}

// Feature is a weighted sum of up to three rectangles in window coordinates.
type Feature struct {
	Rects  []WeightedRect
	Tilted bool
}

// WeightedRect is one rectangle of a Haar feature. For tilted features X,Y
// is the top corner of a rectangle rotated by 45 degrees, W and H its sides.
type WeightedRect struct {
	X, Y, W, H int
	Weight     float64
}

// xmlCascade mirrors the XML layout written by opencv_traincascade.
type xmlCascade struct {
	Cascade struct {
		StageType   string `xml:"stageType"`
		FeatureType string `xml:"featureType"`
		Height      int    `xml:"height"`
		Width       int    `xml:"width"`
		Stages      struct {
			Items []struct {
				Threshold float64 `xml:"stageThreshold"`
				Weak      struct {
					Items []struct {
						Nodes  string `xml:"internalNodes"`
						Leaves string `xml:"leafValues"`
					} `xml:"_"`
				} `xml:"weakClassifiers"`
			} `xml:"_"`
		} `xml:"stages"`
		Features struct {
			Items []struct {
				Rects struct {
					Items []string `xml:"_"`
				} `xml:"rects"`
				Tilted int `xml:"tilted"`
			} `xml:"_"`
		} `xml:"features"`
	} `xml:"cascade"`
}

// ParseCascade reads a cascade in OpenCV's XML format. Only BOOST stages
// over HAAR features are supported: that is what the face and plate
// cascades shipped by Debian's opencv-data use.
func ParseCascade(r io.Reader) (*Cascade, error) {
	var x xmlCascade
	if err := xml.NewDecoder(r).Decode(&x); err != nil {
		return nil, fmt.Errorf("parse cascade xml: %w", err)
	}
	c := x.Cascade
	if c.StageType != "BOOST" || c.FeatureType != "HAAR" {
		return nil, fmt.Errorf("unsupported cascade (stageType %q, featureType %q): want BOOST/HAAR in the opencv-cascade-classifier format", c.StageType, c.FeatureType)
	}
	if c.Width <= 0 || c.Height <= 0 || len(c.Stages.Items) == 0 {
		return nil, fmt.Errorf("cascade has no window size or no stages")
	}
	out := &Cascade{Width: c.Width, Height: c.Height}
	for i, f := range c.Features.Items {
		feat := Feature{Tilted: f.Tilted != 0}
		for _, rs := range f.Rects.Items {
			v, err := parseFloats(rs, 5)
			if err != nil {
				return nil, fmt.Errorf("feature %d: %w", i, err)
			}
			feat.Rects = append(feat.Rects, WeightedRect{X: int(v[0]), Y: int(v[1]), W: int(v[2]), H: int(v[3]), Weight: v[4]})
		}
		if len(feat.Rects) < 2 || len(feat.Rects) > 3 {
			return nil, fmt.Errorf("feature %d has %d rectangles, want 2 or 3", i, len(feat.Rects))
		}
		out.HasTilted = out.HasTilted || feat.Tilted
		out.Features = append(out.Features, feat)
	}
	for si, s := range c.Stages.Items {
		st := Stage{Threshold: s.Threshold}
		for wi, w := range s.Weak.Items {
			weak, err := parseWeak(w.Nodes, w.Leaves, len(out.Features))
			if err != nil {
				return nil, fmt.Errorf("stage %d weak classifier %d: %w", si, wi, err)
			}
			st.Weak = append(st.Weak, weak)
		}
		out.Stages = append(out.Stages, st)
	}
	return out, nil
}

func parseWeak(nodesText, leavesText string, nFeatures int) (Weak, error) {
	nv, err := parseFloats(nodesText, -1)
	if err != nil {
		return Weak{}, err
	}
	if len(nv) == 0 || len(nv)%4 != 0 {
		return Weak{}, fmt.Errorf("internalNodes has %d values, want a multiple of 4", len(nv))
	}
	leaves, err := parseFloats(leavesText, len(nv)/4+1)
	if err != nil {
		return Weak{}, fmt.Errorf("leafValues: %w", err)
	}
	var w Weak
	w.Leaves = leaves
	for i := 0; i < len(nv); i += 4 {
		n := Node{Left: int(nv[i]), Right: int(nv[i+1]), Feature: int(nv[i+2]), Threshold: nv[i+3]}
		if n.Feature < 0 || n.Feature >= nFeatures {
			return Weak{}, fmt.Errorf("feature index %d out of range", n.Feature)
		}
		w.Nodes = append(w.Nodes, n)
	}
	for _, n := range w.Nodes {
		for _, c := range []int{n.Left, n.Right} {
			if c > 0 && c >= len(w.Nodes) || c <= 0 && -c >= len(w.Leaves) {
				return Weak{}, fmt.Errorf("child index %d out of range", c)
			}
		}
	}
	return w, nil
}

// parseFloats parses whitespace-separated numbers; want < 0 accepts any count.
func parseFloats(s string, want int) ([]float64, error) {
	fields := strings.Fields(s)
	if want >= 0 && len(fields) != want {
		return nil, fmt.Errorf("got %d numbers in %q, want %d", len(fields), s, want)
	}
	out := make([]float64, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q: %w", f, err)
		}
		out[i] = v
	}
	return out, nil
}

// Mirrored returns the cascade flipped left to right, so a cascade trained
// on faces looking one way finds faces looking the other way without
// mirroring the image. Tilted features are not mirrored (their geometry does
// not flip onto the same rectangle grid), so a cascade with tilted features
// is rejected.
func (c *Cascade) Mirrored() (*Cascade, error) {
	if c.HasTilted {
		return nil, fmt.Errorf("cannot mirror a cascade with tilted features")
	}
	m := &Cascade{Width: c.Width, Height: c.Height, Stages: c.Stages}
	m.Features = make([]Feature, len(c.Features))
	for i, f := range c.Features {
		rs := make([]WeightedRect, len(f.Rects))
		for j, r := range f.Rects {
			r.X = c.Width - r.X - r.W
			rs[j] = r
		}
		m.Features[i] = Feature{Rects: rs}
	}
	return m, nil
}
