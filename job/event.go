package job

import "time"

// Event types: every state change of a job as a worker sees it.
const (
	EventStarted      = "started"       // an attempt began
	EventProgress     = "progress"      // the attempt passed another 10% (Status.Progress)
	EventPublished    = "published"     // the output is whole (master written by this worker)
	EventRetrying     = "retrying"      // the attempt failed; the message was released with backoff
	EventFailed       = "failed"        // the input is at fault; the job will not be retried
	EventDeadLettered = "dead-lettered" // the job's message is in the dead-letter queue
	EventReleased     = "released"      // a shutdown released the job for another worker
)

// StateChange is one state change of one job (MediaConvert's "Job State
// Change"): a worker's event. Status is the job's status document
// as of the event (for EventDeadLettered, as of the failure).
type StateChange struct {
	Type string
	Time time.Time
	// Job is nil for a message that did not parse as a job (dead-lettered).
	Job    *Job
	Status Status
	// Reason says why, for failed, retrying and dead-lettered events.
	Reason string
}

// EventSink receives a worker's job events. JobEvent is called from the
// job's goroutine, in the job's order, and must not block or fail the job: a
// sink that delivers over a network buffers and retries on its own
// goroutines.
type EventSink interface {
	JobEvent(StateChange)
}

// EventSinks fans one event out to several sinks, in order.
type EventSinks []EventSink

// JobEvent implements EventSink.
func (s EventSinks) JobEvent(e StateChange) {
	for _, k := range s {
		k.JobEvent(e)
	}
}
