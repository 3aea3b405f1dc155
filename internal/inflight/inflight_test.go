package inflight

import "testing"

func TestReserveShrinkRelease(t *testing.T) {
	t.Parallel()
	b := New(100)
	r1, ok := b.TryReserve(60)
	if !ok {
		t.Fatal("60 of 100 refused")
	}
	if _, ok := b.TryReserve(50); ok {
		t.Fatal("50 more fit into the 40 left")
	}
	r1.Shrink(10) // the upload turned out small
	r2, ok := b.TryReserve(90)
	if !ok {
		t.Fatal("90 refused though only 10 are held")
	}
	r1.Release()
	r1.Release()   // twice is harmless
	r2.Shrink(200) // growing is not shrinking: still 90 held
	if _, ok := b.TryReserve(11); ok {
		t.Fatal("11 reserved with 90 held of 100")
	}
	if _, ok := b.TryReserve(10); !ok {
		t.Fatal("10 refused with 90 held of 100")
	}
	if _, ok := b.TryReserve(101); ok {
		t.Fatal("more than the whole budget reserved")
	}
}

func TestNilBudgetHasNoBound(t *testing.T) {
	t.Parallel()
	b := New(0)
	r, ok := b.TryReserve(1 << 40)
	if !ok || b.Max() != 0 {
		t.Fatal("a nil budget refused")
	}
	r.Shrink(1)
	r.Release()
}
