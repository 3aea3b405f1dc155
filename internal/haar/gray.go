package haar

import (
	"image"
	"image/color"
	"math"
)

// Gray converts img to 8-bit luma with OpenCV's BGR2GRAY weights
// (0.299 R + 0.587 G + 0.114 B), the input the cascades were trained on.
// JPEG images decode to YCbCr whose Y plane already is that luma.
func Gray(img image.Image) *image.Gray {
	b := img.Bounds()
	g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	switch src := img.(type) {
	case *image.Gray:
		for y := 0; y < b.Dy(); y++ {
			copy(g.Pix[y*g.Stride:], src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][:b.Dx()])
		}
	case *image.YCbCr:
		for y := 0; y < b.Dy(); y++ {
			copy(g.Pix[y*g.Stride:], src.Y[src.YOffset(b.Min.X, b.Min.Y+y):][:b.Dx()])
		}
	case *image.RGBA:
		lumaRows(g, src.Pix, src.PixOffset(b.Min.X, b.Min.Y), src.Stride)
	case *image.NRGBA:
		lumaRows(g, src.Pix, src.PixOffset(b.Min.X, b.Min.Y), src.Stride)
	default:
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				g.Pix[y*g.Stride+x] = luma(uint32(c.R), uint32(c.G), uint32(c.B))
			}
		}
	}
	return g
}

// lumaRows fills g from pixels of four bytes, R, G, B and A, whose first row starts at off
// and whose rows are stride apart: the layout RGBA and NRGBA share. The alpha is not read,
// as OpenCV's BGR2GRAY drops it.
func lumaRows(g *image.Gray, pix []uint8, off, stride int) {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	for y := 0; y < h; y++ {
		row := pix[off+y*stride:]
		out := g.Pix[y*g.Stride:]
		for x := 0; x < w; x++ {
			out[x] = luma(uint32(row[4*x]), uint32(row[4*x+1]), uint32(row[4*x+2]))
		}
	}
}

// luma uses OpenCV's 14-bit fixed-point coefficients.
func luma(r, g, b uint32) uint8 {
	return uint8((4899*r + 9617*g + 1868*b + 8192) >> 14)
}

// resizeInto scales src to w x h bilinearly with OpenCV's pixel-centre mapping
// (INTER_LINEAR), which the pyramid uses like cv::CascadeClassifier does, writing into buf
// when it is large enough.
func resizeInto(buf []uint8, src *image.Gray, w, h int) *image.Gray {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	dst := &image.Gray{Pix: grow(buf, w*h), Stride: w, Rect: image.Rect(0, 0, w, h)}
	if w == sw && h == sh {
		for y := 0; y < h; y++ {
			copy(dst.Pix[y*dst.Stride:], src.Pix[y*src.Stride:][:w])
		}
		return dst
	}
	x0, x1, fx := axisWeights(sw, w)
	y0, y1, fy := axisWeights(sh, h)
	for y := 0; y < h; y++ {
		r0 := src.Pix[y0[y]*src.Stride:]
		r1 := src.Pix[y1[y]*src.Stride:]
		wy := fy[y]
		out := dst.Pix[y*dst.Stride:][:w]
		x0, x1 := x0[:w], x1[:w]
		for x, wx := range fx[:w] {
			a, b := x0[x], x1[x]
			top := float32(r0[a]) + wx*(float32(r0[b])-float32(r0[a]))
			bot := float32(r1[a]) + wx*(float32(r1[b])-float32(r1[a]))
			out[x] = uint8(top + wy*(bot-top) + 0.5)
		}
	}
	return dst
}

// axisWeights returns, for each destination index, the two source indices
// and the weight of the second one.
func axisWeights(srcN, dstN int) (i0, i1 []int, f []float32) {
	i0, i1, f = make([]int, dstN), make([]int, dstN), make([]float32, dstN)
	scale := float64(srcN) / float64(dstN)
	for d := 0; d < dstN; d++ {
		s := (float64(d)+0.5)*scale - 0.5
		fl := math.Floor(s)
		frac := s - fl
		a := int(fl)
		if a < 0 {
			a, frac = 0, 0
		}
		b := a + 1
		if b >= srcN {
			b = srcN - 1
			if a >= srcN {
				a = srcN - 1
			}
		}
		i0[d], i1[d], f[d] = a, b, float32(frac)
	}
	return i0, i1, f
}
