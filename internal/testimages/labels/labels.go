// Package labels is the schema of labels.json, the boxed objects of every image of a labelled
// set. The face set (../shared/testdata) and the person, vehicle and plate set
// (testimages/objects) share it, so the generator that writes one and anonjob-quality, which
// reads both, are held to one definition.
package labels

import (
	"encoding/json"
	"fmt"
	"image"
	"io"
)

// File is a labels.json.
type File struct {
	Images []Image `json:"images"`
}

// Image lists the objects boxed in one image of the set.
type Image struct {
	File    string   `json:"file"`
	Width   int      `json:"width"`
	Height  int      `json:"height"`
	Source  string   `json:"source"`
	Objects []Object `json:"objects"`
}

// Object is one labelled face, person, vehicle or licence plate; BBox is [x1,y1,x2,y2] with
// x2, y2 exclusive. Small marks the faces the face set counts apart; Note says why a box is
// special (cut by the edge, occluded, a real plate). Both are left out when unset: the object
// set has no small flag and few notes, and its generated labels.json carries neither empty.
type Object struct {
	Class string `json:"class"`
	BBox  [4]int `json:"bbox"`
	Small bool   `json:"small,omitempty"`
	Note  string `json:"note,omitempty"`
}

// Rect is the object's box.
func (o Object) Rect() image.Rectangle {
	return image.Rect(o.BBox[0], o.BBox[1], o.BBox[2], o.BBox[3])
}

// Read decodes a labels.json.
func Read(r io.Reader) (*File, error) {
	var l File
	if err := json.NewDecoder(r).Decode(&l); err != nil {
		return nil, fmt.Errorf("decode labels: %w", err)
	}
	return &l, nil
}
