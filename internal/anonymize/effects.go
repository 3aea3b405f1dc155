package anonymize

import (
	"image"
	"image/color"
	"image/draw"
	"runtime"
	"sync"
)

// Method is how detected regions are hidden.
type Method string

// Methods of the v1 protocol. Detect only reports what it finds.
const (
	Blur     Method = "blur"
	Pixelate Method = "pixelate"
	Blacken  Method = "blacken"
	Detect   Method = "detect"
)

// ParseMethod validates a method name.
func ParseMethod(s string) (Method, bool) {
	switch m := Method(s); m {
	case Blur, Pixelate, Blacken, Detect:
		return m, true
	}
	return "", false
}

// apply hides region r of img with method m.
func apply(img *image.RGBA, r image.Rectangle, m Method) {
	r = r.Intersect(img.Rect)
	if r.Empty() {
		return
	}
	switch m {
	case Blur:
		blur(img, r)
	case Pixelate:
		pixelate(img, r)
	case Blacken:
		draw.Draw(img, r, image.NewUniform(color.RGBA{A: 255}), image.Point{}, draw.Src)
	}
}

// blur runs three box blurs (close to a Gaussian) confined to r, with a
// radius of a sixth of the region's larger side. That is far beyond what
// keeps features readable: eyes, nose and mouth of a face merge into one
// smooth blob, and characters of a plate vanish. Pixels outside r are not
// read, so nothing outside leaks in and nothing inside leaks out.
func blur(img *image.RGBA, r image.Rectangle) {
	radius := max(3, max(r.Dx(), r.Dy())/6)
	w, h := r.Dx(), r.Dy()
	buf := make([][4]float32, w*h)
	for y := 0; y < h; y++ {
		row := img.Pix[img.PixOffset(r.Min.X, r.Min.Y+y):]
		for x := 0; x < w; x++ {
			for c := range 4 {
				buf[y*w+x][c] = float32(row[4*x+c])
			}
		}
	}
	// Each pass's lines are independent, so a large region's lines are shared out among the
	// cores: a person or a vehicle box of a 1080p photo is a million pixels or more.
	parts := max(1, min(runtime.GOMAXPROCS(0), w*h/blurPixelsPerCore))
	for range 3 {
		eachLine(h, parts, max(w, h), func(y int, l *lineBuf) { boxLine(buf[y*w:(y+1)*w], 1, w, radius, l) })
		eachLine(w, parts, max(w, h), func(x int, l *lineBuf) { boxLine(buf[x:], w, h, radius, l) })
	}
	for y := 0; y < h; y++ {
		row := img.Pix[img.PixOffset(r.Min.X, r.Min.Y+y):]
		for x := 0; x < w; x++ {
			for c := range 4 {
				row[4*x+c] = uint8(buf[y*w+x][c] + 0.5)
			}
		}
	}
}

// blurPixelsPerCore is the region size from which one more core takes part in a blur: below
// it, starting a goroutine costs more than it saves.
const blurPixelsPerCore = 1 << 16

// lineBuf is the scratch space of one boxLine call, reused along a pass.
type lineBuf struct{ prefix, out [][4]float32 }

// eachLine calls f for lines 0..n-1 of at most size values, in parts goroutines.
func eachLine(n, parts, size int, f func(i int, l *lineBuf)) {
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() {
			l := &lineBuf{prefix: make([][4]float32, size+1), out: make([][4]float32, size)}
			for i := p * n / parts; i < (p+1)*n/parts; i++ {
				f(i, l)
			}
		})
	}
	wg.Wait()
}

// boxLine replaces n values spaced by step with their running mean over
// [i-radius, i+radius], clamping the window at the ends of the line.
func boxLine(v [][4]float32, step, n, radius int, l *lineBuf) {
	prefix, tmp := l.prefix[:n+1], l.out[:n]
	for i := 0; i < n; i++ {
		for c := range 4 {
			prefix[i+1][c] = prefix[i][c] + v[i*step][c]
		}
	}
	for i := 0; i < n; i++ {
		lo, hi := max(0, i-radius), min(n, i+radius+1)
		inv := 1 / float32(hi-lo)
		for c := range 4 {
			tmp[i][c] = (prefix[hi][c] - prefix[lo][c]) * inv
		}
	}
	for i := 0; i < n; i++ {
		v[i*step] = tmp[i]
	}
}

// pixelate replaces r by blocks of its mean colour, about eight blocks
// across the larger side (at least 3 pixels each): a face becomes a coarse
// mosaic with no recognisable detail.
func pixelate(img *image.RGBA, r image.Rectangle) {
	block := max(3, (max(r.Dx(), r.Dy())+7)/8)
	for by := r.Min.Y; by < r.Max.Y; by += block {
		for bx := r.Min.X; bx < r.Max.X; bx += block {
			b := image.Rect(bx, by, bx+block, by+block).Intersect(r)
			var sum [4]int
			for y := b.Min.Y; y < b.Max.Y; y++ {
				row := img.Pix[img.PixOffset(b.Min.X, y):]
				for x := 0; x < b.Dx(); x++ {
					for c := range 4 {
						sum[c] += int(row[4*x+c])
					}
				}
			}
			n := b.Dx() * b.Dy()
			var mean [4]uint8
			for c := range 4 {
				mean[c] = uint8((sum[c] + n/2) / n)
			}
			for y := b.Min.Y; y < b.Max.Y; y++ {
				row := img.Pix[img.PixOffset(b.Min.X, y):]
				for x := 0; x < b.Dx(); x++ {
					copy(row[4*x:4*x+4], mean[:])
				}
			}
		}
	}
}
