// Package limits is the one set of bounds on what an image may be and cost, read by the API
// (what it accepts), the dispatcher (what it hands on) and the built-in engine (what it
// processes), so that an image the API accepted is never one the engine refuses for its size.
package limits

import (
	"fmt"
	"time"
)

// Defaults.
const (
	// DefaultMaxImageBytes bounds an uploaded image file: 25 MiB.
	DefaultMaxImageBytes = 25 << 20
	// DefaultMaxImagePixels bounds an image's decoded size, width times height: 40 MP, a
	// 7744x5164 photo. A small compressed file can declare a huge canvas; decoding it costs
	// 4 bytes a pixel before any work is done.
	DefaultMaxImagePixels = 40_000_000
	// DefaultImageTimeout is how long the built-in engine may work on one image before it
	// fails it.
	DefaultImageTimeout = 2 * time.Minute
	// DefaultMaxImageMemory is the working memory one image may need in the built-in engine
	// (ImageMemory): enough for any image within DefaultMaxImagePixels (a 40 MP image needs
	// about 1,027 MiB).
	DefaultMaxImageMemory = 1152 << 20
)

// Image bounds one image. The zero value of a field means its default.
type Image struct {
	MaxBytes  int64
	MaxPixels int64
	// Timeout is the built-in engine's processing deadline for one image.
	Timeout time.Duration
	// MaxMemory is the built-in engine's per-image memory budget, in bytes of ImageMemory.
	MaxMemory int64
}

// Default is the set anonjobd runs with when told nothing.
func Default() Image {
	return Image{MaxBytes: DefaultMaxImageBytes, MaxPixels: DefaultMaxImagePixels,
		Timeout: DefaultImageTimeout, MaxMemory: DefaultMaxImageMemory}
}

// WithDefaults fills the zero fields of l with the defaults.
func (l Image) WithDefaults() Image {
	d := Default()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = d.MaxPixels
	}
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	if l.MaxMemory <= 0 {
		l.MaxMemory = d.MaxMemory
	}
	return l
}

// CheckPixels reports, in words a client can act on, an image of w x h pixels that is over
// the pixel limit (or has no pixels).
func (l Image) CheckPixels(w, h int) error {
	max := l.WithDefaults().MaxPixels
	if w <= 0 || h <= 0 || int64(w)*int64(h) > max {
		return fmt.Errorf("is %dx%d pixels (%.1f MP); the limit is %d pixels (%.1f MP)",
			w, h, float64(w)*float64(h)/1e6, max, float64(max)/1e6)
	}
	return nil
}

// Detection sizes: the built-in engine searches faces on a copy of at most FaceLevelPixels
// and licence plates on one of at most PlateLevelPixels, whatever the image's size; the
// upscaled vehicle crops its plate search looks into hold at most PlateCropPixels together
// (at most 9 times the image's own pixels: crops are upscaled at most 3x); each run of the
// object network sees at most ObjectRunPixels, and the coarse one, which runs beside the
// finer one, at most CoarseRunPixels.
const (
	FaceLevelPixels  = 1 << 22 // 4 MP: the face network finds faces of 20 px and up there
	PlateLevelPixels = 1 << 24 // 16 MP: plates from 120 px wide at that size
	PlateCropPixels  = 1 << 22 // 4 MP: 16 cars of 250x170 px, each upscaled 3x
	ObjectRunPixels  = 1 << 21 // one run of the object network: 1920x1088 fits
	CoarseRunPixels  = 1 << 20 // the coarse object run: a longer side of at most 1024 px
)

// ImageMemory estimates the bytes the built-in engine needs to process one image of w x h
// pixels: the decoded image and its RGBA canvas (4 bytes a pixel each, at most), the two
// masks (5), the encoded outputs (about 2), the plate search's grey copy and its integral
// images (13 a pixel of its level) and the face pyramid's float levels (24 a pixel of its
// finest level, all levels together), the plate search's vehicle crops (13 a pixel of the
// upscaled crop being scanned) and the object network's inputs and outputs (33 a pixel of
// its runs, the coarse and the finer one side by side).
func ImageMemory(w, h int) int64 {
	px := int64(w) * int64(h)
	return 15*px + 13*min(px, PlateLevelPixels) + 24*min(px, FaceLevelPixels) +
		13*min(9*px, PlateCropPixels) + 33*(min(px, ObjectRunPixels)+min(px, CoarseRunPixels))
}

// CheckMemory reports an image whose estimated working memory is over the budget.
func (l Image) CheckMemory(w, h int) error {
	budget, need := l.WithDefaults().MaxMemory, ImageMemory(w, h)
	if need > budget {
		return fmt.Errorf("needs about %d MiB to process (%dx%d pixels); the per-image budget is %d MiB",
			need>>20, w, h, budget>>20)
	}
	return nil
}
