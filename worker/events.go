package worker

import (
	"time"

	"github.com/hlsfleet/hlsfleet/job"
)

// Event types: every state change of a job as the worker sees it.
const (
	EventStarted      = "started"       // an attempt began
	EventProgress     = "progress"      // the attempt passed another 10% (Status.Progress)
	EventPublished    = "published"     // the output is whole (master written by this worker)
	EventRetrying     = "retrying"      // the attempt failed; the message was released with backoff
	EventFailed       = "failed"        // the input is at fault; the job will not be retried
	EventDeadLettered = "dead-lettered" // the job's message is in the dead-letter queue
	EventReleased     = "released"      // a shutdown released the job for another worker
)

// Event is one state change of one job. Status is the job's status document
// as of the event (for EventDeadLettered, as of the failure).
type Event struct {
	Type string
	Time time.Time
	// Job is nil for a message that did not parse as a job (dead-lettered).
	Job    *job.Job
	Status Status
	// Reason says why, for failed, retrying and dead-lettered events.
	Reason string
}

// EventSink receives the worker's job events (Config.Events). JobEvent is
// called from the job's goroutine, in the job's order, and must not block
// or fail the job: a sink that delivers over a network buffers and retries
// on its own goroutines.
type EventSink interface {
	JobEvent(Event)
}

// EventSinks fans one event out to several sinks, in order.
type EventSinks []EventSink

// JobEvent implements EventSink.
func (s EventSinks) JobEvent(e Event) {
	for _, k := range s {
		k.JobEvent(e)
	}
}

type nopEvents struct{}

func (nopEvents) JobEvent(Event) {}

// emit sends one event to the configured sink.
func (w *Worker) emit(typ string, j *job.Job, st Status, reason string) {
	w.events.JobEvent(Event{Type: typ, Time: w.now(), Job: j, Status: st, Reason: reason})
}
