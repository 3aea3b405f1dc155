package ratelimit

import (
	"testing"
	"time"
)

func TestAllowBurstThenWait(t *testing.T) {
	t.Parallel()
	l := New(2, 3) // two per second, three at once
	now := time.Unix(1000, 0)
	for i := range 3 {
		if ok, _ := l.Allow("acme", now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("acme", now)
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("fourth request: ok=%v wait=%v, want refused with a wait of at most 500ms", ok, wait)
	}
	if ok, _ := l.Allow("rival", now); !ok {
		t.Fatal("another customer's bucket was drained by acme")
	}
	// A refusal costs no token: after the wait exactly one more request passes.
	if ok, _ := l.Allow("acme", now.Add(wait)); !ok {
		t.Fatal("request after the wait refused")
	}
	if ok, _ := l.Allow("acme", now.Add(wait)); ok {
		t.Fatal("two requests passed on one refilled token")
	}
}

func TestNilAllowsEverything(t *testing.T) {
	t.Parallel()
	l := New(0, 10)
	for range 1000 {
		if ok, _ := l.Allow("acme", time.Now()); !ok {
			t.Fatal("a disabled limiter refused")
		}
	}
}

func TestIdleBucketsAreForgotten(t *testing.T) {
	t.Parallel()
	l := New(10, 10)
	now := time.Unix(1000, 0)
	for i := range 100 {
		l.Allow(string(rune('a'+i%26))+string(rune('a'+i/26)), now)
	}
	l.Allow("late", now.Add(2*time.Minute))
	if n := len(l.buckets); n != 1 {
		t.Fatalf("%d buckets kept after the others went idle, want 1", n)
	}
}
