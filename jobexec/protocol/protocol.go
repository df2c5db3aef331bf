// Package protocol is both ends of the protocol between a parent (a worker,
// the Lambda) and the child process it starts for libav work (`hlsfleet
// job-exec`, the Lambda's `probe-exec`): the event stream on the child's
// stdout, and the mapping between an error's class and the child's exit
// code. Both ends live in this one file so that they cannot drift apart.
//
// The child reads its request on stdin, writes Events as JSON lines on
// stdout (progress while it runs, then one "done"), logs on stderr, and
// exits with ExitCode(err): 0 done, 2 the input is at fault (fault.Input),
// 1 anything else; its last stderr line is "hlsfleet: <reason>". The parent
// turns the exit back into an error of the same class (Wait): exit 2 wraps
// job.ErrPermanent with the reason, a death by signal or over the memory
// limit wraps the caller's crash sentinel (fault.Crashed), anything else is
// transient.
//
// Pure Go: the parent side links no libav.
package protocol

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
	"time"

	"github.com/hlsfleet/hlsfleet/fault"
	"github.com/hlsfleet/hlsfleet/internal/isolate"
	"github.com/hlsfleet/hlsfleet/job"
)

// Exit codes of every hlsfleet command and child process.
const (
	ExitOK    = 0 // done
	ExitOther = 1 // anything but the input's fault
	ExitInput = 2 // the input (or the request) is at fault; retrying will not help
)

// ExitCode is the exit code for err: 0 for nil, 2 for an error of class
// fault.Input, 1 for anything else.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case fault.Of(err) == fault.Input:
		return ExitInput
	}
	return ExitOther
}

// Event types on the child's stdout.
const (
	EventProgress = "progress"
	EventDone     = "done"
	// EventFailed is the last line of a child that fails: the error's
	// class, which the exit code alone cannot carry (an infrastructure
	// fault exits 1 like any other).
	EventFailed = "failed"
)

// Event is one line the job child writes on stdout: progress while it runs,
// then one "done", or one "failed" before a non-zero exit.
type Event struct {
	Event        string  `json:"event"` // EventProgress, EventDone or EventFailed
	Percent      float64 `json:"percent,omitempty"`
	Speed        float64 `json:"speed,omitempty"`
	MediaSeconds float64 `json:"media_seconds,omitempty"`
	Published    bool    `json:"published,omitempty"`
	// AttemptID is the attempt whose master the output has (VOD jobs):
	// this run's when Published, else the one that published first (""
	// when not known, or the output has no master).
	AttemptID  string  `json:"attempt_id,omitempty"`
	Duration   float64 `json:"duration_seconds,omitempty"`
	Renditions int     `json:"renditions,omitempty"`
	BytesOut   int64   `json:"bytes_out,omitempty"`
	job.Extras
	// Live-segment jobs: seconds from the source object's time to every
	// rendition playlist updated, wall seconds per media second of the
	// transcode, and segments this job's playlist update skipped.
	LiveLatency        float64 `json:"live_latency_seconds,omitempty"`
	LiveRealtimeFactor float64 `json:"live_realtime_factor,omitempty"`
	LiveSkipped        int     `json:"live_skipped,omitempty"`
	// Chunked jobs (issue H). Planned is set on the done event of a VOD
	// job whose run split it into that many chunks instead of
	// transcoding it (chunks.json made, or found); Sent says the plan's
	// chunk jobs were already sent (a redelivery: the parent sends
	// nothing). Chunk is then the plan (id, round, done, pending), and
	// on a chunk job's done event the chunk and what became of it;
	// Published is set on a chunk job's event when its run finished the
	// job and its master won.
	Planned int              `json:"planned,omitempty"`
	Sent    bool             `json:"sent,omitempty"`
	Chunk   *job.ChunkReport `json:"chunk,omitempty"`
	// Class (fault.Class's name) and Error are a failed event's.
	Class string `json:"class,omitempty"`
	Error string `json:"error,omitempty"`
}

// progressEvery throttles the child's progress events.
const progressEvery = 500 * time.Millisecond

// Writer is the child's end of the event stream: progress at most every
// 500 ms, then the done event. Safe for concurrent use.
type Writer struct {
	mu   sync.Mutex
	enc  *json.Encoder
	last time.Time
	t0   time.Time
}

// NewWriter writes events to w (the child's stdout).
func NewWriter(w io.Writer) *Writer {
	return &Writer{enc: json.NewEncoder(w), t0: time.Now()}
}

// Write writes one event.
func (e *Writer) Write(ev Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.enc.Encode(ev)
}

// Fail writes the failed event of err: its class and text.
func (e *Writer) Fail(err error) error {
	return e.Write(Event{Event: EventFailed, Class: fault.Of(err).String(), Error: err.Error()})
}

// Progress writes a progress event for seconds of media done out of
// duration (0: unknown), unless one was written less than 500 ms ago.
func (e *Writer) Progress(seconds, duration float64) {
	now := time.Now()
	e.mu.Lock()
	if now.Sub(e.last) < progressEvery {
		e.mu.Unlock()
		return
	}
	e.last = now
	e.mu.Unlock()
	ev := Event{Event: EventProgress, MediaSeconds: seconds}
	if duration > 0 {
		ev.Percent = min(100, 100*seconds/duration)
	}
	if el := now.Sub(e.t0).Seconds(); el > 0 {
		ev.Speed = seconds / el
	}
	_ = e.Write(ev)
}

// Child is how a parent starts a child: what it is called in errors, the
// sentinel a crash wraps, and the process itself.
type Child struct {
	// Name is the child in error texts, such as "job process".
	Name string
	// Crashed is wrapped by the error of a child that died by a signal or
	// over its memory limit; it must be of class fault.Crashed.
	Crashed error
	isolate.Options
}

// RunJob runs a job child with body on its stdin: each progress event goes
// to progress (may be nil), and the done event is returned. The error is
// Wait's, of class fault.Infra when the child exited 1 after a failed
// event of that class (storage or a queue was unavailable to it).
func (c Child) RunJob(ctx context.Context, body []byte, progress func(Event)) (*Event, error) {
	pr, pw := io.Pipe()
	var done, failed *Event
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var ev Event
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			switch ev.Event {
			case EventProgress:
				if progress != nil {
					progress(ev)
				}
			case EventDone:
				done = &ev
			case EventFailed:
				failed = &ev
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	o := c.Options
	o.Stdin, o.Stdout = bytes.NewReader(body), pw
	err := c.withOptions(o).Wait(ctx)
	pw.Close()
	wg.Wait()
	if err != nil {
		if failed != nil && ctx.Err() == nil && fault.Of(err) == fault.Transient &&
			fault.ParseClass(failed.Class) == fault.Infra {
			err = fault.As(fault.Infra, err)
		}
		return nil, err
	}
	if done == nil {
		return nil, fmt.Errorf("%s exited 0 without reporting a result", c.Name)
	}
	return done, nil
}

func (c Child) withOptions(o isolate.Options) Child {
	c.Options = o
	return c
}

// Wait runs the child to its end and turns how it ended into an error of
// the class the child meant (see the package comment): nil for exit 0.
func (c Child) Wait(ctx context.Context) error {
	stderr := c.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	tail := &isolate.LastLine{W: stderr}
	o := c.Options
	o.Stderr = tail
	res, err := isolate.Run(ctx, o)
	switch {
	case errors.Is(err, isolate.ErrCrashed), errors.Is(err, isolate.ErrMemoryLimit):
		return fmt.Errorf("%w: %v", c.Crashed, err)
	case err != nil:
		return err
	}
	msg := strings.TrimPrefix(tail.String(), "hlsfleet: ")
	switch res.ExitCode {
	case ExitOK:
		return nil
	case ExitInput:
		return fmt.Errorf("%w: %s", job.ErrPermanent, msg)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %s", ctx.Err(), msg)
	}
	return fmt.Errorf("%s failed (exit %d): %s", c.Name, res.ExitCode, msg)
}
