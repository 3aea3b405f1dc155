package plates

// Checks of a candidate on its pixels (level pixels, grey 0-255).
const (
	// minContrast between the band's dark and light tenths.
	minContrast = 60
	// The share of the band lighter than the midpoint of its dark and light tenths: the
	// ground, with thinner dark characters on it.
	minLight, maxLight = 0.45, 0.85
	// minRuns is the number of dark runs along the band's middle rows: characters, at
	// least a few of them.
	minRuns = 5
)

// verify checks that c's band looks like dark characters on a light plate.
func verify(l *plane, c candidate) bool {
	b := c.band
	var hist [256]int
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for _, v := range l.pix[y*l.w+b.Min.X : y*l.w+b.Max.X] {
			hist[v]++
		}
	}
	n := b.Dx() * b.Dy()
	lo, hi := quantile(&hist, n/10), quantile(&hist, n-n/10-1)
	if hi-lo < minContrast {
		return false
	}
	mid := (lo + hi) / 2
	light := 0
	for v := mid + 1; v < 256; v++ {
		light += hist[v]
	}
	if share := float64(light) / float64(n); share < minLight || share > maxLight {
		return false
	}
	// The plate's margins are light too: a dark band between light ones is not a plate.
	var sum, cnt int
	for _, r := range [][2]int{{c.rect.Min.Y, b.Min.Y}, {b.Max.Y, c.rect.Max.Y}} {
		for y := r[0]; y < r[1]; y++ {
			for _, v := range l.pix[y*l.w+b.Min.X : y*l.w+b.Max.X] {
				sum += int(v)
				cnt++
			}
		}
	}
	if cnt > 0 && sum/cnt < mid {
		return false
	}
	// The costliest tests last: every test must pass, so their order decides nothing.
	if bimodality(&hist, n) < minBimodality {
		return false
	}
	// Characters along the middle: dark runs no wider than a character, light gaps no
	// wider than the space between two, at most one wider gap (between groups).
	best := 0
	for y := b.Min.Y + b.Dy()/3; y < b.Max.Y-b.Dy()/3; y++ {
		best = max(best, characterRuns(l.pix[y*l.w+b.Min.X:y*l.w+b.Max.X], mid, b.Dy()))
	}
	return best >= minRuns
}

// characterRuns is the number of dark runs of row (darker than mid) when they are spaced as a
// plate's characters in a band th tall are, else 0.
func characterRuns(row []uint8, mid, th int) int {
	maxDark, maxGap := max(2, th*4/5), max(3, th*6/5)
	runs, wide := 0, 0
	dark, light := 0, 0
	started := false
	for _, v := range row {
		if int(v) <= mid {
			if light > 0 && started {
				if light > 2*maxGap {
					return 0
				}
				if light > maxGap {
					wide++
				}
			}
			light = 0
			dark++
			continue
		}
		if dark > 0 {
			if dark > maxDark {
				return 0
			}
			runs++
			started = true
		}
		dark = 0
		light++
	}
	if dark > maxDark || wide > 1 {
		return 0
	}
	if dark > 0 {
		runs++
	}
	return runs
}

// quantile is the grey value below which k of the histogram's pixels lie.
func quantile(hist *[256]int, k int) int {
	acc := 0
	for v, c := range hist {
		acc += c
		if acc > k {
			return v
		}
	}
	return 255
}

// minBimodality is how much of the band's grey variance its split into dark and light
// explains (Otsu's criterion): near 1 for characters on a plain ground, lower for the
// continuous greys of textures.
const minBimodality = 0.8

func bimodality(hist *[256]int, n int) float64 {
	// A grey level no pixel has changes no sum, and leaves the split after it as good as the
	// one before, so only the levels present are visited: a band has few of the 256.
	var sum, sumSq float64
	for v, c := range hist {
		if c == 0 {
			continue
		}
		sum += float64(v * c)
		sumSq += float64(v * v * c)
	}
	mean := sum / float64(n)
	total := sumSq/float64(n) - mean*mean
	if total <= 0 {
		return 0
	}
	best, w0, s0 := 0.0, 0.0, 0.0
	for v, c := range hist[:255] {
		if c == 0 {
			continue
		}
		w0 += float64(c)
		s0 += float64(v * c)
		w1 := float64(n) - w0
		if w0 == 0 || w1 == 0 {
			continue
		}
		m0, m1 := s0/w0, (sum-s0)/w1
		between := w0 * w1 * (m0 - m1) * (m0 - m1) / float64(n) / float64(n)
		best = max(best, between)
	}
	return best / total
}
