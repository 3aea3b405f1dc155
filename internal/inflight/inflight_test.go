package inflight

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestReserveShrinkRelease(t *testing.T) {
	t.Parallel()
	b := New(100)
	inUse := func(want int64) {
		t.Helper()
		if got := b.InUse(); got != want {
			t.Fatalf("InUse %d, want %d", got, want)
		}
	}
	r1, ok := b.TryReserve(60)
	if !ok {
		t.Fatal("60 of 100 refused")
	}
	inUse(60)
	if _, ok := b.TryReserve(50); ok {
		t.Fatal("50 more fit into the 40 left")
	}
	inUse(60)
	r1.Shrink(10) // the upload turned out small
	inUse(10)
	r2, ok := b.TryReserve(90)
	if !ok {
		t.Fatal("90 refused though only 10 are held")
	}
	inUse(100)
	r1.Release()
	r1.Release() // twice is harmless
	inUse(90)
	r2.Shrink(200) // growing is not shrinking: still 90 held
	inUse(90)
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

// Requests that reserve a first slice and grow to their size once it is known never hold
// more than the budget together, and give everything back when they end.
func TestGrowUnderConcurrency(t *testing.T) {
	t.Parallel()
	const budget, slice, size, callers = 1000, 10, 300, 64
	b := New(budget)
	var held, peak, grown atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range 50 {
				r, ok := b.TryReserve(slice)
				if !ok {
					continue
				}
				if r.TryGrow(size) {
					grown.Add(1)
					h := held.Add(size)
					for p := peak.Load(); h > p && !peak.CompareAndSwap(p, h); p = peak.Load() {
					}
					held.Add(-size)
				}
				r.Release()
				if r.TryGrow(size) {
					t.Error("a released reservation grew")
				}
			}
		})
	}
	wg.Wait()
	if peak.Load() > budget {
		t.Fatalf("%d bytes held at once with a budget of %d", peak.Load(), budget)
	}
	if grown.Load() == 0 {
		t.Fatal("no reservation ever grew")
	}
	// Everything came back: the whole budget is free again.
	if n := b.InUse(); n != 0 {
		t.Fatalf("InUse %d after every reservation was released", n)
	}
	if _, ok := b.TryReserve(budget); !ok {
		t.Fatal("the budget leaked")
	}
}

func TestGrowBeyondTheBudgetFails(t *testing.T) {
	t.Parallel()
	b := New(100)
	r, _ := b.TryReserve(10)
	other, _ := b.TryReserve(50)
	if r.TryGrow(60) {
		t.Fatal("grew to 60 with 50 held elsewhere of 100")
	}
	if !r.TryGrow(40) || !r.TryGrow(20) {
		t.Fatal("could not grow to 40 of the 50 free")
	}
	if r.TryGrow(101) {
		t.Fatal("grew beyond the whole budget")
	}
	other.Release()
	r.Release()
	if _, ok := b.TryReserve(100); !ok {
		t.Fatal("the budget leaked")
	}
}
