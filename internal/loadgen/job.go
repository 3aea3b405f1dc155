package loadgen

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"google.golang.org/genproto/googleapis/api/httpbody"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

// TinyPNG encodes a valid 1x1 PNG: CreateJob decodes the image header, so the payload must be
// real. Callers encode it once and reuse it.
func TinyPNG() ([]byte, error) {
	img := image.NewGray(image.Rect(0, 0, 1, 1))
	img.SetGray(0, 0, color.Gray{Y: 128})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("encode test image: %w", err)
	}
	return b.Bytes(), nil
}

// CreateJobRequest is the request every load sends: the image, blurred for faces.
func CreateJobRequest(img []byte) *anonjobv1.CreateJobRequest {
	return &anonjobv1.CreateJobRequest{
		Image:  &httpbody.HttpBody{ContentType: "image/png", Data: img},
		Method: "blur",
		Face:   true,
	}
}
