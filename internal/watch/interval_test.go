package watch

import (
	"math"
	"testing"
	"time"
)

// TestReadInterval: the gap between reads keeps the batches handed out within FanoutRate,
// and within MinInterval and MaxInterval.
func TestReadInterval(t *testing.T) {
	t.Parallel()
	cfg := Config{}.withDefaults()
	for _, tc := range []struct {
		watchers int
		want     time.Duration
	}{
		{0, 10 * time.Millisecond},
		{1, 10 * time.Millisecond},
		{320, 10 * time.Millisecond},
		{640, 20 * time.Millisecond},
		{1000, 31250 * time.Microsecond},
		{3200, 100 * time.Millisecond},
		{100_000, 100 * time.Millisecond},
	} {
		if got := cfg.readInterval(tc.watchers); got != tc.want {
			t.Errorf("%d watchers: interval %v, want %v", tc.watchers, got, tc.want)
		}
	}
	// A rate so small that the gap would overflow a Duration is the widest gap; NaN the default.
	if got := (Config{FanoutRate: 1e-12}).withDefaults().readInterval(1000); got != 100*time.Millisecond {
		t.Errorf("tiny rate: interval %v, want 100ms", got)
	}
	if got := (Config{FanoutRate: math.NaN()}).withDefaults().readInterval(1000); got != 31250*time.Microsecond {
		t.Errorf("NaN rate: interval %v, want the default's 31.25ms", got)
	}
	// A MaxInterval below MinInterval does not undercut it.
	narrow := Config{MinInterval: 50 * time.Millisecond, MaxInterval: 20 * time.Millisecond}.withDefaults()
	if got := narrow.readInterval(1_000_000); got != 50*time.Millisecond {
		t.Errorf("max below min: interval %v, want 50ms", got)
	}
}
