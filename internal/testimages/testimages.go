// Package testimages loads the labelled development photos for tests and
// benchmarks: the folder ANONJOB_TESTDATA names, or the shared testdata
// folder beside the repository.
package testimages

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/draw"
	"image/jpeg"
	_ "image/png" // LoadRGBA reads PNGs too (the collage is one)
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir is the folder of the labelled photos.
func Dir() string {
	if dir := os.Getenv("ANONJOB_TESTDATA"); dir != "" {
		return dir
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "testdata")
}

// Collage is the 1920x1080 development collage.
func Collage(tb testing.TB) *image.RGBA {
	tb.Helper()
	path := filepath.Join(Dir(), "dev_composite_1920x1080.png")
	if _, err := os.Stat(path); err != nil {
		tb.Fatalf("benchmark image: %v (set ANONJOB_TESTDATA to the labelled set)", err)
	}
	return LoadRGBA(tb, path)
}

// LoadRGBA decodes the JPEG or PNG at path into an RGBA image whose bounds start at 0, 0.
func LoadRGBA(tb testing.TB, path string) *image.RGBA {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	src, _, err := image.Decode(f)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	img := image.NewRGBA(image.Rect(0, 0, src.Bounds().Dx(), src.Bounds().Dy()))
	draw.Draw(img, img.Rect, src, src.Bounds().Min, draw.Src)
	return img
}

// ReadJSON decodes the JSON file at path into v.
func ReadJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// CollageJPEG is the collage re-encoded as a JPEG at quality 90, the
// typical upload.
func CollageJPEG(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, Collage(tb), &jpeg.Options{Quality: 90}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchDetect runs detect on img as the sub-benchmark name, failing at the first error: the
// loop the detectors' benchmarks share, so their figures measure the same thing.
func BenchDetect[T any](b *testing.B, name string, detect func(context.Context, *image.RGBA) (T, error), img *image.RGBA) {
	b.Helper()
	b.Run(name, func(b *testing.B) {
		for b.Loop() {
			if _, err := detect(context.Background(), img); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// PNGHeader is the start of a PNG of w x h pixels: signature and IHDR, CRC included. Decoding
// its header works; decoding its pixels does not. Tests of size limits use it to claim a huge
// canvas in a few bytes.
func PNGHeader(w, h int) []byte {
	ihdr := make([]byte, 17)
	copy(ihdr, "IHDR")
	binary.BigEndian.PutUint32(ihdr[4:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[8:], uint32(h))
	ihdr[12], ihdr[13] = 8, 2 // 8-bit RGB
	out := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0d")
	out = append(out, ihdr...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(ihdr))
}
