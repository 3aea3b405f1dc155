package main

import (
	"image"

	"github.com/anonjob/anonjob/internal/testimages/labels"
)

// Detection is one entry of the engine's metadata; BBox is [x1,y1,x2,y2]
// with x2, y2 exclusive.
type Detection struct {
	BBox      [4]int `json:"bbox"`
	TypeLabel string `json:"type_label"`
}

// Metadata is the part of the engine's metadata document the scoring reads.
type Metadata struct {
	Detections []Detection `json:"detections"`
}

// scoredClasses are the classes reported per class, in report order.
var scoredClasses = []string{classFace, classPerson, classVehicle, classPlate}

// ClassTally is what one class's own detections did: the labelled objects
// of the class that its detections cover (Own: a plate counts only when a
// licence-plate box covers it, not a vehicle's), and the pixels its boxes
// cover (Pixels.N) of which inside a labelled box of the class (Pixels.Hit).
type ClassTally struct {
	Own, Pixels Count
}

// ClassTallies are the ClassTally of each class by label name.
type ClassTallies map[string]ClassTally

// Add accumulates other tallies.
func (c ClassTallies) Add(o ClassTallies) {
	for k, v := range o {
		t := c[k]
		t.Own.add(v.Own)
		t.Pixels.add(v.Pixels)
		c[k] = t
	}
}

// ScoreClasses compares the engine's detections with the labelled objects
// class by class. The binary mask says whether an object is hidden; this
// says which detector hid it, and how much of a class's masked area is
// that class. It reads the metadata rather than the instance mask because
// the instance mask keeps only the last box drawn where boxes overlap, and
// a plate lies inside its vehicle.
func ScoreClasses(size image.Point, dets []Detection, objects []labels.Object) ClassTallies {
	bounds := image.Rectangle{Max: size}
	out := ClassTallies{}
	for _, class := range scoredClasses {
		var boxes []image.Rectangle
		for _, d := range dets {
			if d.TypeLabel == class {
				boxes = append(boxes, image.Rect(d.BBox[0], d.BBox[1], d.BBox[2], d.BBox[3]).Intersect(bounds))
			}
		}
		var truth []image.Rectangle
		for _, o := range objects {
			if o.Class == class {
				truth = append(truth, o.Rect())
			}
		}
		if len(boxes) == 0 && len(truth) == 0 {
			continue
		}
		found := paint(bounds, boxes)
		labelled := paint(bounds, truth)
		var t ClassTally
		for _, l := range truth {
			r := l.Intersect(bounds)
			covered := 0
			for y := r.Min.Y; y < r.Max.Y; y++ {
				for x := r.Min.X; x < r.Max.X; x++ {
					if found[y*size.X+x] {
						covered++
					}
				}
			}
			t.Own.count(covers(covered, l))
		}
		for i, f := range found {
			if f {
				t.Pixels.count(labelled[i])
			}
		}
		out[class] = t
	}
	return out
}

// paint marks the pixels of bounds that lie in any of rs.
func paint(bounds image.Rectangle, rs []image.Rectangle) []bool {
	m := make([]bool, bounds.Dx()*bounds.Dy())
	for _, r := range rs {
		r = r.Intersect(bounds)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m[y*bounds.Dx():]
			for x := r.Min.X; x < r.Max.X; x++ {
				row[x] = true
			}
		}
	}
	return m
}
