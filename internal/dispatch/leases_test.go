package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/testlog"
)

func TestLeasesHold(t *testing.T) {
	t.Parallel()
	l := newLeases(nil, time.Minute, nil)
	dropA := l.hold("a")
	dropB := l.hold("b")
	dropB2 := l.hold("b") // held twice: renewed until both let go
	if got := slices.Sorted(slices.Values(l.ids())); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("held %v, want [a b]", got)
	}
	dropB()
	dropB() // a second call of one drop changes nothing
	if got := slices.Sorted(slices.Values(l.ids())); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("held %v after one of b's two holders let go, want [a b]", got)
	}
	dropB2()
	dropA()
	if got := l.ids(); len(got) != 0 {
		t.Fatalf("held %v after every drop", got)
	}
	if l.every != 20*time.Second {
		t.Errorf("renewed every %v, want a third of the lease", l.every)
	}
}

// TestLeasesRun: the held claims are renewed together every third of the lease; nothing is
// sent while nothing is held; a failed or partial renewal is reported, and renewal goes on.
func TestLeasesRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		renewed int64
		err     error
		log     string
	}{
		{"renewed", 2, nil, ""},
		{"lost", 1, nil, "claims not renewed"},
		{"failed", 0, errors.New("database down"), "database down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder()
			logs := &testlog.Buffer{}
			l := newLeases(func(ctx context.Context, ids []string) (int64, error) {
				if _, ok := ctx.Deadline(); !ok {
					t.Error("a renewal without a deadline")
				}
				rec.record(call{op: "renew", ids: slices.Sorted(slices.Values(ids))})
				return tc.renewed, tc.err
			}, 3*time.Millisecond, logs.TextLogger(slog.LevelDebug))
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); l.run(ctx) }()
			drop := l.hold("a")
			defer drop()
			defer l.hold("b")()
			for range 2 { // renewal goes on after each outcome
				if c := waitFor(t, rec.calls, func(call) bool { return true }); !slices.Equal(c.ids, []string{"a", "b"}) {
					t.Fatalf("renewed %v, want [a b]", c.ids)
				}
			}
			cancel()
			<-done
			out := logs.String()
			if tc.log != "" && !strings.Contains(out, tc.log) || tc.log == "" && out != "" {
				t.Errorf("log %q, want %q", out, tc.log)
			}
		})
	}
}
