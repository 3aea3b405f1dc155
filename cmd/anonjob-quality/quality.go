package main

import (
	"image"

	"github.com/anonjob/anonjob/internal/testimages/labels"
)

// Label classes, as labels.json and the metadata's type_label write them.
const (
	classFace    = "face"
	classPlate   = "license_plate"
	classPerson  = "person"
	classVehicle = "vehicle"
)

// CoveredShare is the share of an object's box that must be masked for
// the object to count as anonymized.
const CoveredShare = 0.8

// Count is a number of labelled objects (or pixels) and how many of them
// were hit.
type Count struct{ N, Hit int }

func (c *Count) add(o Count) { c.N += o.N; c.Hit += o.Hit }

func (c *Count) count(hit bool) {
	c.N++
	if hit {
		c.Hit++
	}
}

// Ratio is Hit/N, or -1 when there is nothing to measure.
func (c Count) Ratio() float64 { return ratio(c.Hit, c.N) }

// Plate size buckets, by the labelled box's width.
const (
	plateSmall  = iota // under 30 px
	plateMedium        // 30 to 59 px
	plateLarge         // 60 px and more
	plateBuckets
)

// PlateBucketNames name the buckets in the report.
var plateBucketNames = [plateBuckets]string{"< 30 px", "30-59 px", ">= 60 px"}

func plateBucket(r image.Rectangle) int {
	switch w := r.Dx(); {
	case w < 30:
		return plateSmall
	case w < 60:
		return plateMedium
	}
	return plateLarge
}

// Tally counts hits per category and masked area.
type Tally struct {
	Faces, FacesHit           int
	SmallFaces, SmallFacesHit int
	Plates, PlatesHit         int
	MaskedPixels              int // white pixels of the binary mask
	MaskedOutside             int // of which outside every labelled box
	Persons, Vehicles         Count
	PlateSizes                [plateBuckets]Count
	// PlatesOnVehicles are the plates lying in a labelled vehicle, where
	// the vehicle's own mask may hide them; PlatesElsewhere the others.
	PlatesOnVehicles, PlatesElsewhere Count
}

// Add accumulates another tally.
func (t *Tally) Add(o Tally) {
	t.Faces += o.Faces
	t.FacesHit += o.FacesHit
	t.SmallFaces += o.SmallFaces
	t.SmallFacesHit += o.SmallFacesHit
	t.Plates += o.Plates
	t.PlatesHit += o.PlatesHit
	t.MaskedPixels += o.MaskedPixels
	t.MaskedOutside += o.MaskedOutside
	t.Persons.add(o.Persons)
	t.Vehicles.add(o.Vehicles)
	for i := range t.PlateSizes {
		t.PlateSizes[i].add(o.PlateSizes[i])
	}
	t.PlatesOnVehicles.add(o.PlatesOnVehicles)
	t.PlatesElsewhere.add(o.PlatesElsewhere)
}

// Score compares a binary mask (white = anonymized) with the labelled
// objects of its image and returns the tally and the objects missed. An
// object counts as anonymized when CoveredShare of its box is masked,
// whatever class the mask was drawn for: a plate hidden inside a blurred
// vehicle is hidden.
func Score(mask *image.Gray, objects []labels.Object) (Tally, []labels.Object) {
	var t Tally
	var missed []labels.Object
	b := mask.Rect
	labelled := make([]bool, b.Dx()*b.Dy())
	for _, o := range objects {
		r := o.Rect().Intersect(b)
		covered := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				labelled[(y-b.Min.Y)*b.Dx()+x-b.Min.X] = true
				if mask.GrayAt(x, y).Y >= 128 {
					covered++
				}
			}
		}
		// The share is of the whole labelled box: a box reaching outside the
		// image cannot be covered there.
		hit := covers(covered, o.Rect())
		switch {
		case o.Class == classPlate:
			t.Plates++
			if hit {
				t.PlatesHit++
			}
			t.PlateSizes[plateBucket(o.Rect())].count(hit)
			if onVehicle(o.Rect(), objects) {
				t.PlatesOnVehicles.count(hit)
			} else {
				t.PlatesElsewhere.count(hit)
			}
		case o.Class == classFace && o.Small:
			t.SmallFaces++
			if hit {
				t.SmallFacesHit++
			}
		case o.Class == classFace:
			t.Faces++
			if hit {
				t.FacesHit++
			}
		case o.Class == classPerson:
			t.Persons.count(hit)
		case o.Class == classVehicle:
			t.Vehicles.count(hit)
		}
		if !hit {
			missed = append(missed, o)
		}
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if mask.GrayAt(x, y).Y < 128 {
				continue
			}
			t.MaskedPixels++
			if !labelled[(y-b.Min.Y)*b.Dx()+x-b.Min.X] {
				t.MaskedOutside++
			}
		}
	}
	return t, missed
}

// onVehicle reports whether CoveredShare of plate lies in one labelled
// vehicle.
func onVehicle(plate image.Rectangle, objects []labels.Object) bool {
	for _, o := range objects {
		if o.Class == classVehicle && covers(area(plate.Intersect(o.Rect())), plate) {
			return true
		}
	}
	return false
}

func covers(covered int, r image.Rectangle) bool {
	return area(r) > 0 && float64(covered) >= CoveredShare*float64(area(r))
}

func area(r image.Rectangle) int { return r.Dx() * r.Dy() }

// ratio is hit/total, or -1 when there is nothing to measure.
func ratio(hit, total int) float64 {
	if total == 0 {
		return -1
	}
	return float64(hit) / float64(total)
}

// FaceRecall is the recall on faces not marked small.
func (t Tally) FaceRecall() float64 { return ratio(t.FacesHit, t.Faces) }

// SmallFaceRecall is the recall on faces under 20 px wide.
func (t Tally) SmallFaceRecall() float64 { return ratio(t.SmallFacesHit, t.SmallFaces) }

// PlateRecall is the recall on licence plates.
func (t Tally) PlateRecall() float64 { return ratio(t.PlatesHit, t.Plates) }

// PersonRecall is the recall on persons.
func (t Tally) PersonRecall() float64 { return t.Persons.Ratio() }

// VehicleRecall is the recall on vehicles.
func (t Tally) VehicleRecall() float64 { return t.Vehicles.Ratio() }

// Precision is the share of masked pixels that lie inside some labelled
// box; 1 - Precision is the masked area outside all labels.
func (t Tally) Precision() float64 {
	return ratio(t.MaskedPixels-t.MaskedOutside, t.MaskedPixels)
}
