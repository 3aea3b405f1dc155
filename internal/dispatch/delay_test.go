package dispatch

import (
	"fmt"
	"testing"
	"time"
)

// TestDelay: the interval doubles from base up to limit, and each wait is drawn from its upper
// half, so that jobs failing together spread out. Drawn many times, the waits must stay in
// bounds and reach both ends of them.
func TestDelay(t *testing.T) {
	t.Parallel()
	const base, limit = time.Second, 10 * time.Second
	for _, tc := range []struct {
		n        int
		interval time.Duration
	}{
		{1, base}, {2, 2 * base}, {3, 4 * base}, {4, 8 * base},
		{5, limit}, // 16s, capped
		{50, limit},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			t.Parallel()
			lo, hi := tc.interval/2, tc.interval
			least, most := hi, lo
			for range 2000 {
				d := delay(tc.n, base, limit)
				if d < lo || d > hi {
					t.Fatalf("delay(%d) = %v, want within [%v, %v]", tc.n, d, lo, hi)
				}
				least, most = min(least, d), max(most, d)
			}
			// Jitter over the whole upper half: the draws come near both of its ends.
			if spread := tc.interval / 20; least > lo+spread || most < hi-spread {
				t.Errorf("delay(%d) drawn from [%v, %v], want about [%v, %v]", tc.n, least, most, lo, hi)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	got := Config{}.withDefaults()
	want := Config{Concurrency: 8, MaxAttempts: 8, Lease: 15 * time.Second, RecordTimeout: 7500 * time.Millisecond,
		RetryBase: 2 * time.Second, RetryMax: 5 * time.Minute, WebhookDeadline: 2 * time.Minute,
		PollMax: 10 * time.Minute, Tick: time.Second, Grace: DefaultGrace, Owner: got.Owner}
	if got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
	if len(got.Owner) < len("anonjobd-")+36 || got.Owner == (Config{}).withDefaults().Owner {
		t.Errorf("owner %q, want one made up per dispatcher", got.Owner)
	}
	set := Config{Concurrency: 3, MaxAttempts: 2, Lease: time.Minute, RetryBase: time.Millisecond, RetryMax: time.Second,
		WebhookDeadline: time.Hour, PollMax: time.Hour, Tick: time.Minute, Owner: "r1"}
	want = set
	want.RecordTimeout = 30 * time.Second // half the lease
	want.Grace = DefaultGrace
	if got := set.withDefaults(); got != want {
		t.Errorf("set values changed: %+v, want %+v", got, want)
	}
}
