package job

import "fmt"

// Status is where a job is in its lifecycle. The values are stored in the database.
type Status string

// The lifecycle follows the provider's: queued, processing, then done or failed; a client may
// cancel a job that has not ended.
const (
	StatusQueued     Status = "QUEUED"
	StatusProcessing Status = "PROCESSING"
	StatusDone       Status = "DONE"
	StatusFailed     Status = "FAILED"
	StatusCancelled  Status = "CANCELLED"
)

// Statuses lists every status in lifecycle order.
func Statuses() []Status {
	return []Status{StatusQueued, StatusProcessing, StatusDone, StatusFailed, StatusCancelled}
}

// transitions is the state machine: for each status, the statuses it may move to.
// A function rather than a package variable keeps it immutable.
func transitions(from Status) []Status {
	switch from {
	case StatusQueued:
		return []Status{StatusProcessing, StatusFailed, StatusCancelled}
	case StatusProcessing:
		return []Status{StatusDone, StatusFailed, StatusCancelled}
	default:
		return nil
	}
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusQueued, StatusProcessing, StatusDone, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// Terminal reports whether s is final: no transition leaves it.
func (s Status) Terminal() bool { return s.Valid() && len(transitions(s)) == 0 }

// CanTransition reports whether a job may move from one status to another.
func CanTransition(from, to Status) bool {
	for _, s := range transitions(from) {
		if s == to {
			return true
		}
	}
	return false
}

// SourcesOf lists the statuses from which a job may move to s.
func SourcesOf(to Status) []Status {
	var out []Status
	for _, from := range Statuses() {
		if CanTransition(from, to) {
			out = append(out, from)
		}
	}
	return out
}

// TransitionError reports a move the state machine does not allow. Nothing was changed.
type TransitionError struct {
	ID      string
	From    Status
	To      Status
	Current Job // the job as it is
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("job %s is %s and cannot become %s", e.ID, e.From, e.To)
}
