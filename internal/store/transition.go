package store

import (
	"time"

	"github.com/anonjob/anonjob/internal/job"
)

// Change moves a job to a new status and records what came with the move.
type Change struct {
	To             job.Status
	ProviderFileID string       // kept when empty
	Error          *job.Error   // kept when nil
	Results        *job.Results // kept when nil
	// NextPollAt schedules the first status poll of a job entering PROCESSING; kept when zero.
	NextPollAt time.Time
	// Customer, when set, limits the change to that customer's job: another's is not found.
	Customer string
	// IfFileID, when set, limits the change to a job whose engine file is this one: a
	// provider webhook's move, checked without reading the job first.
	IfFileID string
	// IfNoFile, when set, limits the change to a job that has no engine file yet and whose
	// new one (ProviderFileID) was not given up at an engine that died: a provider webhook
	// that came before the dispatcher recorded the upload it answers.
	IfNoFile bool
	// DropInput deletes the job's stored image with the move, once the engine has it.
	DropInput bool
	// Receipt, when set, is kept with the move in the same transaction: the audit row of the
	// provider webhook that caused it, with the outcome it has if the move applies.
	Receipt *Receipt
}
