package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/hlsfleet/hlsfleet/internal/isolate"
	"github.com/hlsfleet/hlsfleet/job"
)

// ExecEvent is one line the job process writes on stdout: progress while it
// runs, then one "done".
type ExecEvent struct {
	Event        string  `json:"event"` // "progress" or "done"
	Percent      float64 `json:"percent,omitempty"`
	Speed        float64 `json:"speed,omitempty"`
	MediaSeconds float64 `json:"media_seconds,omitempty"`
	Published    bool    `json:"published,omitempty"`
	Duration     float64 `json:"duration_seconds,omitempty"`
	Renditions   int     `json:"renditions,omitempty"`
	BytesOut     int64   `json:"bytes_out,omitempty"`
	Extras
	// Live-segment jobs: seconds from the source object's time to every
	// rendition playlist updated, wall seconds per media second of the
	// transcode, and segments this job's playlist update skipped.
	LiveLatency        float64 `json:"live_latency_seconds,omitempty"`
	LiveRealtimeFactor float64 `json:"live_realtime_factor,omitempty"`
	LiveSkipped        int     `json:"live_skipped,omitempty"`
}

// ProcessRunner runs each job in a child copy of this executable
// (`hlsfleet job-exec`, the job JSON on stdin), so that a libav crash or a
// runaway allocation costs one attempt of one job, never the worker.
// Exit 2 of the child is a permanent input fault, a death by signal or the
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
	stderr := r.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	tail := &isolate.LastLine{W: stderr}
	pr, pw := io.Pipe()
	var out *Outcome
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var ev ExecEvent
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			switch ev.Event {
			case "progress":
				if progress != nil {
					progress(Progress{Percent: ev.Percent, Speed: ev.Speed, MediaSeconds: ev.MediaSeconds})
				}
			case "done":
				out = &Outcome{Published: ev.Published, Duration: ev.Duration, Speed: ev.Speed, Renditions: ev.Renditions, BytesOut: ev.BytesOut, Extras: ev.Extras,
					LiveLatency: ev.LiveLatency, LiveRealtimeFactor: ev.LiveRealtimeFactor, LiveSkipped: ev.LiveSkipped}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	res, err := isolate.Run(ctx, isolate.Options{
		Exe: r.Exe, Args: args, Stdin: bytes.NewReader(body), Stdout: pw, Stderr: tail, MemoryLimit: r.MemoryLimit,
	})
	pw.Close()
	wg.Wait()
	switch {
	case errors.Is(err, isolate.ErrCrashed), errors.Is(err, isolate.ErrMemoryLimit):
		return nil, fmt.Errorf("%w: %v", ErrCrashed, err)
	case err != nil:
		return nil, err
	}
	msg := strings.TrimPrefix(tail.String(), "hlsfleet: ")
	switch res.ExitCode {
	case 0:
		if out == nil {
			return nil, errors.New("job process exited 0 without reporting a result")
		}
		return out, nil
	case 2:
		return nil, fmt.Errorf("%w: %s", job.ErrPermanent, msg)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %s", ctx.Err(), msg)
	}
	return nil, fmt.Errorf("job process failed (exit %d): %s", res.ExitCode, msg)
}
