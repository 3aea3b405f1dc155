package testlog_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/anonjob/anonjob/internal/testlog"
)

func TestBufferKeepsConcurrentWrites(t *testing.T) {
	t.Parallel()
	var b testlog.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, _ = b.Write([]byte("x"))
			_ = b.String()
		})
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("x", 8) {
		t.Errorf("got %q, want 8 x", got)
	}
}

func TestLoggersHonourTheLevel(t *testing.T) {
	t.Parallel()
	var text, js testlog.Buffer
	for _, l := range []*slog.Logger{text.TextLogger(slog.LevelInfo), js.JSONLogger(slog.LevelInfo)} {
		l.Debug("hidden")
		l.Info("shown", "k", "v")
	}
	if s := text.String(); strings.Contains(s, "hidden") || !strings.Contains(s, "msg=shown k=v") {
		t.Errorf("text log %q", s)
	}
	var rec map[string]any
	if err := json.Unmarshal(js.Bytes(), &rec); err != nil || rec["msg"] != "shown" || rec["k"] != "v" {
		t.Errorf("json log %q: %v", js.String(), err)
	}
}
