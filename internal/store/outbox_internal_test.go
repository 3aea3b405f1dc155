package store

import (
	"fmt"
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/job"
)

// TestTerminalStatuses keeps the SQL list of ended statuses equal to the state machine's.
func TestTerminalStatuses(t *testing.T) {
	t.Parallel()
	var quoted []string
	for _, s := range job.Statuses() {
		if s.Terminal() {
			quoted = append(quoted, fmt.Sprintf("'%s'", s))
		}
	}
	if want := "(" + strings.Join(quoted, ", ") + ")"; terminalStatuses != want {
		t.Fatalf("terminalStatuses = %s, the state machine's terminal statuses are %s", terminalStatuses, want)
	}
}
