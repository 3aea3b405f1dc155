package clientwebhook

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestDefaultSchedule(t *testing.T) {
	t.Parallel()
	want := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
		5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	if got := DefaultSchedule(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("DefaultSchedule() = %v, want %v", got, want)
	}
}

func TestNewSenderDefaults(t *testing.T) {
	t.Parallel()
	s := NewSender(nil, Config{}, nil)
	if fmt.Sprint(s.cfg.Schedule) != fmt.Sprint(DefaultSchedule()) || s.cfg.Concurrency != 8 ||
		s.cfg.Lease != time.Minute || s.cfg.Tick != time.Second {
		t.Errorf("defaults %+v", s.cfg)
	}
	set := Config{Schedule: []time.Duration{time.Second}, Concurrency: 1, Lease: time.Hour, Tick: time.Millisecond}
	s = NewSender(nil, set, nil)
	if fmt.Sprint(s.cfg.Schedule) != "[1s]" || s.cfg.Concurrency != 1 || s.cfg.Lease != time.Hour || s.cfg.Tick != time.Millisecond {
		t.Errorf("set values changed: %+v", s.cfg)
	}
}

// TestNext: what follows an attempt, per answer. Retries follow the schedule, spread by up to
// a tenth either way, or the receiver's Retry-After on 429 and 503; after the schedule's last
// wait, or on 410 Gone, the delivery fails.
func TestNext(t *testing.T) {
	t.Parallel()
	s := NewSender(nil, Config{Schedule: []time.Duration{10 * time.Second, 100 * time.Second}}, nil)
	now := time.Unix(1e9, 0)
	for _, tc := range []struct {
		name       string
		attempt    int
		code       int
		retryAfter time.Duration
		state      string
		wait       time.Duration // exact when spread is false
		spread     bool
	}{
		{"200", 1, 200, 0, "SUCCEEDED", 0, false},
		{"204", 2, 204, 0, "SUCCEEDED", 0, false},
		{"299", 3, 299, 0, "SUCCEEDED", 0, false},
		{"410 stops", 1, http.StatusGone, 0, "FAILED", 0, false},
		{"no answer, first attempt", 1, 0, 0, "PENDING", 10 * time.Second, true},
		{"199", 1, 199, 0, "PENDING", 10 * time.Second, true},
		{"300", 1, 300, 0, "PENDING", 10 * time.Second, true},
		{"500, last retry", 2, 500, 0, "PENDING", 100 * time.Second, true},
		{"500, schedule done", 3, 500, 0, "FAILED", 0, false},
		{"429 with Retry-After", 1, 429, time.Hour, "PENDING", time.Hour, false},
		{"503 with Retry-After", 2, 503, 3 * time.Second, "PENDING", 3 * time.Second, false},
		{"429 without Retry-After", 1, 429, 0, "PENDING", 10 * time.Second, true},
		{"500 with Retry-After", 1, 500, time.Hour, "PENDING", 10 * time.Second, true},
		{"429 after the schedule", 3, 429, time.Hour, "FAILED", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lo, hi := tc.wait, tc.wait
			if tc.spread {
				lo, hi = tc.wait-tc.wait/10, tc.wait+tc.wait/10
			}
			least, most := hi, lo
			for range 500 {
				state, next := s.next(tc.attempt, tc.code, tc.retryAfter, now)
				wait := next.Sub(now)
				if state != tc.state || wait < lo || wait > hi {
					t.Fatalf("next = %s in %v, want %s in [%v, %v]", state, wait, tc.state, lo, hi)
				}
				least, most = min(least, wait), max(most, wait)
			}
			if tc.spread && (least > lo+tc.wait/50 || most < hi-tc.wait/50) {
				t.Errorf("waits spread over [%v, %v], want about [%v, %v]", least, most, lo, hi)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":     0,
		"0":    0,
		"7":    7 * time.Second,
		"-1":   0,
		"1.5":  0,
		"soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
		now.Format(http.TimeFormat):                       0,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}
