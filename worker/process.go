package worker

import (
	"context"
	"io"

	"github.com/hlsfleet/hlsfleet/internal/isolate"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/protocol"
)

// ProcessRunner runs each job in a child copy of this executable
// (`hlsfleet job-exec`, the job JSON on stdin), so that a libav crash or a
// runaway allocation costs one attempt of one job, never the worker. How the
// child's exit maps back to an error class is the jobexec/protocol
// package's: exit 2 is a permanent input fault, a death by signal or the
// memory limit is ErrCrashed, anything else is transient.
type ProcessRunner struct {
	// Exe is the program that runs the job; empty means this executable.
	// The Lambda bootstrap sets it to the hlsfleet binary beside it.
	Exe         string
	Args        []string  // arguments of the child; default ["job-exec"]
	MemoryLimit int64     // bytes of resident memory per job; 0 = none
	Stderr      io.Writer // where the child's log lines go; default os.Stderr
}

// Run implements Runner.
func (r *ProcessRunner) Run(ctx context.Context, j *job.Job, progress func(Progress)) (*Outcome, error) {
	body, err := j.Marshal()
	if err != nil {
		return nil, err
	}
	args := r.Args
	if len(args) == 0 {
		args = []string{"job-exec"}
	}
	child := protocol.Child{Name: "job process", Crashed: ErrCrashed, Options: isolate.Options{
		Exe: r.Exe, Args: args, Stderr: r.Stderr, MemoryLimit: r.MemoryLimit,
	}}
	ev, err := child.RunJob(ctx, body, func(ev protocol.Event) {
		if progress != nil {
			progress(Progress{Percent: ev.Percent, Speed: ev.Speed, MediaSeconds: ev.MediaSeconds})
		}
	})
	if err != nil {
		return nil, err
	}
	return &Outcome{Published: ev.Published, AttemptID: ev.AttemptID, Duration: ev.Duration, Speed: ev.Speed, Renditions: ev.Renditions,
		BytesOut: ev.BytesOut, Extras: ev.Extras,
		LiveLatency: ev.LiveLatency, LiveRealtimeFactor: ev.LiveRealtimeFactor, LiveSkipped: ev.LiveSkipped,
		Planned: ev.Planned, Sent: ev.Sent, Chunk: ev.Chunk}, nil
}
