package job

import (
	"errors"
	"time"
)

// EventType says what kind of change an Event records.
type EventType string

// The kinds of change a job goes through.
const (
	EventCreated       EventType = "CREATED"
	EventStatusChanged EventType = "STATUS_CHANGED"
	EventUpdated       EventType = "UPDATED"
)

// Event is one committed change of one job. Revisions order all events of all jobs.
type Event struct {
	Revision       int64
	Type           EventType
	Job            Job
	PreviousStatus Status // empty for EventCreated
	Time           time.Time
}

// Errors that callers tell apart with errors.Is.
var (
	// ErrNotFound: no job has that id (or provider file id).
	ErrNotFound = errors.New("job not found")
	// ErrRequestIDReused: a request_id was sent again with a different request.
	ErrRequestIDReused = errors.New("request_id was already used for a different request")
	// ErrBusy: the job's row was held by another write for longer than a transition waits;
	// nothing changed, and the call may be tried again.
	ErrBusy = errors.New("the job is held by another write")
)
