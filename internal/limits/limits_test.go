package limits

import (
	"strings"
	"testing"
)

func TestDefaultsFitEachOther(t *testing.T) {
	t.Parallel()
	l := Image{}.WithDefaults()
	if l != Default() {
		t.Fatalf("WithDefaults of zero = %+v, want %+v", l, Default())
	}
	// Every image within the default pixel limit fits the default memory budget, whatever
	// its shape.
	for _, wh := range [][2]int{{7744, 5164}, {40_000_000, 1}, {1, 40_000_000}, {6324, 6324}} {
		if err := l.CheckPixels(wh[0], wh[1]); err != nil {
			t.Errorf("%v: %v", wh, err)
		}
		if err := l.CheckMemory(wh[0], wh[1]); err != nil {
			t.Errorf("%v: %v", wh, err)
		}
	}
	for _, tc := range []struct {
		w, h int
		want string
	}{
		{8000, 5001, "the limit is 40000000 pixels (40.0 MP)"},
		{0, 10, "is 0x10 pixels"},
	} {
		if err := l.CheckPixels(tc.w, tc.h); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckPixels(%d, %d) = %v, want %q", tc.w, tc.h, err, tc.want)
		}
	}
}
