package worker

import (
	"github.com/hlsfleet/hlsfleet/job"
)

type nopEvents struct{}

func (nopEvents) JobEvent(job.StateChange) {}

// emit sends one event to the configured sink.
func (w *Worker) emit(typ string, j *job.Job, st job.Status, reason string) {
	w.events.JobEvent(job.StateChange{Type: typ, Time: w.now(), Job: j, Status: st, Reason: reason})
}
