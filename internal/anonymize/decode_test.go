package anonymize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/limits"
	"github.com/anonjob/anonjob/internal/testimages"
)

// quadrantJPEG encodes a 32x16 image whose left half is red and right
// half blue, with an EXIF orientation tag when o > 0.
func quadrantJPEG(t *testing.T, o int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 32; x++ {
			c := color.RGBA{255, 0, 0, 255}
			if x >= 16 {
				c = color.RGBA{0, 0, 255, 255}
			}
			if y < 8 && x < 16 { // top-left green, to tell flips apart
				c = color.RGBA{0, 255, 0, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	if o == 0 {
		return buf.Bytes()
	}
	// APP1 "Exif\0\0" + big-endian TIFF with one IFD0 entry: 0x0112 SHORT.
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x01")
	entry := make([]byte, 12)
	binary.BigEndian.PutUint16(entry[0:], 0x0112)
	binary.BigEndian.PutUint16(entry[2:], 3)
	binary.BigEndian.PutUint32(entry[4:], 1)
	binary.BigEndian.PutUint16(entry[8:], uint16(o))
	tiff = append(append(tiff, entry...), 0, 0, 0, 0)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(app1[2:], uint16(len(seg)+2))
	out := append([]byte{0xFF, 0xD8}, app1...)
	out = append(out, seg...)
	return append(out, buf.Bytes()[2:]...)
}

func dominant(c color.RGBA) string {
	switch {
	case c.G > 150 && c.R < 100:
		return "green"
	case c.R > 150:
		return "red"
	case c.B > 150:
		return "blue"
	}
	return "?"
}

func TestDecodeOrientation(t *testing.T) {
	t.Parallel()
	// For each orientation: the upright size and the colours at the
	// upright image's top-left and bottom-right corners.
	cases := []struct {
		o      int
		w, h   int
		tl, br string
	}{
		{0, 32, 16, "green", "blue"},
		{1, 32, 16, "green", "blue"},
		{2, 32, 16, "blue", "red"},
		{3, 32, 16, "blue", "green"},
		{4, 32, 16, "red", "blue"},
		{5, 16, 32, "green", "blue"},
		{6, 16, 32, "red", "blue"},
		{7, 16, 32, "blue", "green"},
		{8, 16, 32, "blue", "red"},
	}
	for _, c := range cases {
		img, f, err := Decode(quadrantJPEG(t, c.o), limits.Image{})
		if err != nil || f != JPEG {
			t.Fatalf("orientation %d: %v %v", c.o, f, err)
		}
		if img.Rect.Dx() != c.w || img.Rect.Dy() != c.h {
			t.Errorf("orientation %d: size %v, want %dx%d", c.o, img.Rect.Size(), c.w, c.h)
		}
		tl := dominant(img.RGBAAt(2, 2))
		br := dominant(img.RGBAAt(img.Rect.Dx()-3, img.Rect.Dy()-3))
		if tl != c.tl || br != c.br {
			t.Errorf("orientation %d: corners %s/%s, want %s/%s", c.o, tl, br, c.tl, c.br)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	for name, data := range map[string][]byte{
		"empty":     nil,
		"text":      []byte("hello"),
		"gif":       []byte("GIF89a......"),
		"bad png":   []byte("\x89PNG\r\n\x1a\nxxxxxxxxxxxx"),
		"truncated": quadrantJPEG(t, 0)[:200],
	} {
		if _, _, err := Decode(data, limits.Image{}); !errors.Is(err, ErrNotImage) {
			t.Errorf("%s: error %v does not wrap ErrNotImage", name, err)
		}
	}
}

// TestDecodeLimits refuses, from the header alone, an image over the pixel limit or one that
// would need more than the memory budget.
func TestDecodeLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		w, h   int
		limits limits.Image
		want   string
	}{
		{"over the default 40 MP", 8000, 6000, limits.Image{}, "the limit is 40000000 pixels"},
		{"over a lower limit", 2000, 2000, limits.Image{MaxPixels: 1_000_000}, "the limit is 1000000 pixels"},
		{"over the memory budget", 4000, 4000, limits.Image{MaxMemory: 64 << 20}, "the per-image budget is 64 MiB"},
	} {
		_, _, err := Decode(testimages.PNGHeader(tc.w, tc.h), tc.limits)
		if !errors.Is(err, ErrNotImage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrNotImage saying %q", tc.name, err, tc.want)
		}
	}
	// At the limit, the header passes and only the missing pixels fail.
	_, _, err := Decode(testimages.PNGHeader(1000, 1000), limits.Image{MaxPixels: 1_000_000})
	if err == nil || strings.Contains(err.Error(), "limit") || strings.Contains(err.Error(), "budget") {
		t.Errorf("image at the limit: %v", err)
	}
}

func TestExifOrientationRobust(t *testing.T) {
	t.Parallel()
	good := quadrantJPEG(t, 6)
	if o := exifOrientation(good); o != 6 {
		t.Fatalf("orientation %d, want 6", o)
	}
	// Cutting the EXIF block anywhere must never panic, only fall back.
	for n := 0; n < 60; n++ {
		_ = exifOrientation(good[:n])
	}
}
