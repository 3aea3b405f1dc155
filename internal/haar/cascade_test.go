package haar

import (
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/detect"
)

// tinyCascade is a 4x4 cascade with a stump stage and a depth-2 tree
// stage. Feature 0 is right half minus left half, feature 1 bottom minus
// top. Stage 0 needs a brighter right half. Stage 1's root passes a
// brighter bottom; otherwise its second node (on feature 0) ends in a leaf
// below the stage threshold.
const tinyCascade = `<?xml version="1.0"?>
<opencv_storage>
<cascade type_id="opencv-cascade-classifier"><stageType>BOOST</stageType>
  <featureType>HAAR</featureType><height>4</height><width>4</width>
  <stageNum>2</stageNum>
  <stages>
    <_><maxWeakCount>1</maxWeakCount><stageThreshold>0.5</stageThreshold>
      <weakClassifiers>
        <_><internalNodes>0 -1 0 0.1</internalNodes><leafValues>0 1</leafValues></_>
      </weakClassifiers></_>
    <_><maxWeakCount>1</maxWeakCount><stageThreshold>0.5</stageThreshold>
      <weakClassifiers>
        <_><internalNodes>1 -1 1 0.1 0 -2 0 0.1</internalNodes><leafValues>0 1 0.25</leafValues></_>
      </weakClassifiers></_>
  </stages>
  <features>
    <_><rects><_>0 0 4 4 -1.</_><_>2 0 2 4 2.</_></rects></_>
    <_><rects><_>0 0 4 4 -1.</_><_>0 2 4 2 2.</_></rects><tilted>0</tilted></_>
  </features>
</cascade>
</opencv_storage>`

func TestParseCascade(t *testing.T) {
	t.Parallel()
	c, err := ParseCascade(strings.NewReader(tinyCascade))
	if err != nil {
		t.Fatal(err)
	}
	if c.Width != 4 || c.Height != 4 || len(c.Stages) != 2 || len(c.Features) != 2 || c.HasTilted {
		t.Fatalf("parsed %+v", c)
	}
	if w := c.Stages[1].Weak[0]; len(w.Nodes) != 2 || w.Nodes[0].Left != 1 || w.Nodes[1].Right != -2 || len(w.Leaves) != 3 {
		t.Fatalf("tree %+v", w)
	}
	if r := c.Features[0].Rects[1]; r != (WeightedRect{X: 2, Y: 0, W: 2, H: 4, Weight: 2}) {
		t.Fatalf("rect %+v", r)
	}
	m, err := c.Mirrored()
	if err != nil {
		t.Fatal(err)
	}
	if r := m.Features[0].Rects[1]; r.X != 0 || r.W != 2 {
		t.Fatalf("mirrored rect %+v", r)
	}
}

func TestParseCascadeErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"not xml":        "nope",
		"lbp":            strings.Replace(tinyCascade, "<featureType>HAAR", "<featureType>LBP", 1),
		"feature range":  strings.Replace(tinyCascade, "0 -1 0 0.1</internalNodes>", "0 -1 7 0.1</internalNodes>", 1),
		"child range":    strings.Replace(tinyCascade, "1 -1 1 0.1 0 -2 0 0.1", "5 -1 1 0.1 0 -2 0 0.1", 1),
		"leaf count":     strings.Replace(tinyCascade, "<leafValues>0 1</leafValues>", "<leafValues>0</leafValues>", 1),
		"one rectangle":  strings.Replace(tinyCascade, "<_>2 0 2 4 2.</_>", "", 1),
		"bad number":     strings.Replace(tinyCascade, "0 0 4 4 -1.", "0 0 4 x -1.", 1),
		"no window size": strings.Replace(tinyCascade, "<width>4</width>", "", 1),
	}
	for name, xml := range cases {
		if _, err := ParseCascade(strings.NewReader(xml)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestEvaluateTiny checks the stage and tree logic on windows whose
// feature values are known.
func TestEvaluateTiny(t *testing.T) {
	t.Parallel()
	c, err := ParseCascade(strings.NewReader(tinyCascade))
	if err != nil {
		t.Fatal(err)
	}
	mk := func(f func(x, y int) uint8) *integral {
		g := image.NewGray(image.Rect(0, 0, 4, 4))
		for y := 0; y < 4; y++ {
			for x := 0; x < 4; x++ {
				g.Pix[y*4+x] = f(x, y)
			}
		}
		return newIntegral(g, false)
	}
	cases := []struct {
		name string
		img  func(x, y int) uint8
		want int
	}{
		{"flat window is rejected before any stage", func(x, y int) uint8 { return 100 }, -1},
		{"dark right half fails stage 0", func(x, y int) uint8 {
			if x >= 2 {
				return 0
			}
			return 200
		}, 0},
		{"bright right half and bright bottom pass", func(x, y int) uint8 { return uint8(60*x + 20*y) }, 1},
		{"bright right half but dark bottom fails stage 1", func(x, y int) uint8 {
			v := 60*x + 60 - 20*y
			return uint8(v)
		}, -1},
	}
	for _, cs := range cases {
		it := mk(cs.img)
		e := newEvaluator(c, it)
		if got := e.runAt(it, 0, 0); got != cs.want {
			t.Errorf("%s: runAt = %d, want %d", cs.name, got, cs.want)
		}
	}
}

func TestLoadCascadeErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := LoadCascade(dir, RussianPlate)
	if err == nil || !strings.Contains(err.Error(), detect.InstallCommand) {
		t.Errorf("missing file: %v; want a hint naming %s", err, detect.InstallCommand)
	}
	if _, err := NewPlateDetector(PlateConfig{Dir: dir}); err == nil || !strings.Contains(err.Error(), detect.InstallCommand) {
		t.Errorf("NewPlateDetector with a missing file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, RussianPlate), []byte(tinyCascade), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadCascade(dir, RussianPlate)
	if err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("tampered file: %v", err)
	}
	if _, err := LoadCascade(dir, "haarcascade_eye.xml"); err == nil {
		t.Error("unknown cascade accepted")
	}
}
