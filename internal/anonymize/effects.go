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
//
// A large region is blurred on a copy shrunk by area averaging, so that the
// radius there is still blurSmallRadius pixels or more, and stretched back
// bilinearly: what such a radius leaves has no detail a shrunk copy loses,
// and a person box of a 1080p photo costs a hundredth of the work.
func blur(img *image.RGBA, r image.Rectangle) {
	radius := max(3, max(r.Dx(), r.Dy())/6)
	k := max(1, radius/blurSmallRadius)
	w, h := r.Dx(), r.Dy()
	sw, sh := (w+k-1)/k, (h+k-1)/k
	// Lines are independent, so a large region's are shared out among the cores: a person
	// or a vehicle box of a 1080p photo is a million pixels or more.
	cores := max(1, min(runtime.GOMAXPROCS(0), w*h/blurPixelsPerCore))
	buf := shrinkRegion(img, r, k, sw, sh, cores)
	parts := max(1, min(cores, sw*sh/blurPixelsPerCore))
	sr := max(1, radius/k)
	for range 3 {
		eachLine(sh, parts, max(sw, sh), func(y int, l *lineBuf) { boxLine(buf[y*sw:(y+1)*sw], 1, sw, sr, l) })
		eachLine(sw, parts, max(sw, sh), func(x int, l *lineBuf) { boxLine(buf[x:], sw, sh, sr, l) })
	}
	stretchRegion(img, r, k, buf, sw, sh, cores) // with k = 1, a copy back
}

// blurSmallRadius is the least box radius blur runs at on a shrunk copy.
const blurSmallRadius = 6

// shrinkRegion averages region r of img over k x k blocks (the last ones clipped to r) into
// sw x sh values, the rows of blocks shared out among parts goroutines.
func shrinkRegion(img *image.RGBA, r image.Rectangle, k, sw, sh, parts int) [][4]float32 {
	buf := make([][4]float32, sw*sh)
	w, h := r.Dx(), r.Dy()
	eachIndex(sh, parts, func(by int) {
		out := buf[by*sw : (by+1)*sw]
		y1 := min(h, (by+1)*k)
		for y := by * k; y < y1; y++ {
			row := img.Pix[img.PixOffset(r.Min.X, r.Min.Y+y):]
			for bx := range out {
				var sum [4]float32
				for x := bx * k; x < min(w, (bx+1)*k); x++ {
					p := row[4*x : 4*x+4]
					sum[0] += float32(p[0])
					sum[1] += float32(p[1])
					sum[2] += float32(p[2])
					sum[3] += float32(p[3])
				}
				for c := range 4 {
					out[bx][c] += sum[c]
				}
			}
		}
		bh := y1 - by*k
		for bx := range out {
			inv := 1 / float32(bh*(min(w, (bx+1)*k)-bx*k))
			for c := range 4 {
				out[bx][c] *= inv
			}
		}
	})
	return buf
}

// eachIndex calls f for 0..n-1, in parts goroutines.
func eachIndex(n, parts int, f func(i int)) {
	eachPart(n, parts, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			f(i)
		}
	})
}

// eachPart splits 0..n-1 into parts consecutive ranges and calls f for each in its own
// goroutine.
func eachPart(n, parts int, f func(lo, hi int)) {
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() { f(p*n/parts, (p+1)*n/parts) })
	}
	wg.Wait()
}

// stretchRegion writes the sw x sh values of buf back over region r of img, interpolated
// bilinearly between the centres of the k x k blocks they stand for, the rows shared out
// among parts goroutines.
func stretchRegion(img *image.RGBA, r image.Rectangle, k int, buf [][4]float32, sw, sh, parts int) {
	type tap struct {
		i0, i1 int
		t      float32
	}
	taps := func(n, sn int) []tap {
		out := make([]tap, n)
		for i := range out {
			f := (float32(i)+0.5)/float32(k) - 0.5
			f = max(0, min(f, float32(sn-1)))
			i0 := int(f)
			out[i] = tap{i0: i0, i1: min(i0+1, sn-1), t: f - float32(i0)}
		}
		return out
	}
	xt, yt := taps(r.Dx(), sw), taps(r.Dy(), sh)
	eachIndex(len(yt), parts, func(y int) {
		ty := yt[y]
		row := img.Pix[img.PixOffset(r.Min.X, r.Min.Y+y):]
		a, b := buf[ty.i0*sw:(ty.i0+1)*sw], buf[ty.i1*sw:(ty.i1+1)*sw]
		for x, tx := range xt {
			p := row[4*x : 4*x+4]
			for c := range 4 {
				top := a[tx.i0][c] + (a[tx.i1][c]-a[tx.i0][c])*tx.t
				bottom := b[tx.i0][c] + (b[tx.i1][c]-b[tx.i0][c])*tx.t
				p[c] = uint8(top + (bottom-top)*ty.t + 0.5)
			}
		}
	})
}

// blurPixelsPerCore is the region size from which one more core takes part in a blur: below
// it, starting a goroutine costs more than it saves.
const blurPixelsPerCore = 1 << 16

// lineBuf is the scratch space of one boxLine call, reused along a pass.
type lineBuf struct{ prefix, out [][4]float32 }

// eachLine calls f for lines 0..n-1 of at most size values, in parts goroutines.
func eachLine(n, parts, size int, f func(i int, l *lineBuf)) {
	eachPart(n, parts, func(lo, hi int) {
		l := &lineBuf{prefix: make([][4]float32, size+1), out: make([][4]float32, size)}
		for i := lo; i < hi; i++ {
			f(i, l)
		}
	})
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
