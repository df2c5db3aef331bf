package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/storage"
)

// WaitPoll is how often WaitForStatus reads job.json.
const WaitPoll = 300 * time.Millisecond

// WaitForStatus follows j's status document (<output>/job.json) until the
// output is published or j failed, and returns that last status. A document
// that says published ends the wait whichever job it names: the output is
// published, and a duplicate submission (j is acknowledged without work)
// would otherwise wait for ever; Publisher tells which job published it.
// Every status read on the way that is j's, or published (including the
// last), goes to seen, which may be nil; a job.json that is missing,
// unreadable or another job's unpublished one is polled again. A failed
// job is also an error wrapping job.ErrPermanent, with its reason; ctx
// ending is an error wrapping ctx.Err().
func WaitForStatus(ctx context.Context, j *job.Job, seen func(job.Status)) (job.Status, error) {
	b, err := storage.Open(ctx, j.Output)
	if err != nil {
		return job.Status{}, err
	}
	defer b.Close()
	for {
		data, err := b.ReadAll(ctx, job.StatusName)
		var st job.Status
		if err == nil && json.Unmarshal(data, &st) == nil && (st.JobID == j.ID || st.State == job.StatePublished) {
			if seen != nil {
				seen(st)
			}
			switch st.State {
			case job.StatePublished:
				return st, nil
			case job.StateFailed:
				return st, fmt.Errorf("%w: job %s failed: %s", job.ErrPermanent, j.ID, st.Error)
			}
		}
		select {
		case <-ctx.Done():
			return job.Status{}, fmt.Errorf("waiting for job %s: %w", j.ID, ctx.Err())
		case <-time.After(WaitPoll):
		}
	}
}

// StatusLine shows the statuses WaitForStatus reads, as `hlsfleet submit
// --wait` does: "ID STATE N% (attempt K)" (and "by job X" once published by another job)
// whenever that line changes,
// redrawn in place on a terminal and a line each otherwise.
type StatusLine struct {
	out  io.Writer
	tty  bool
	last string
}

// NewStatusLine returns a StatusLine writing to out, a terminal when tty.
func NewStatusLine(out io.Writer, tty bool) *StatusLine {
	return &StatusLine{out: out, tty: tty}
}

// Show shows st unless its line is the one shown last (WaitForStatus's
// seen).
func (s *StatusLine) Show(st job.Status) {
	line := fmt.Sprintf("%s %s %.0f%% (attempt %d)", st.JobID, st.State, st.Progress, st.Attempt)
	if c := st.Chunks; c != nil && c.Total > 0 && st.State != job.StatePublished {
		running := 0
		for _, n := range c.Running {
			running += n
		}
		line += fmt.Sprintf(" chunks %d/%d done, %d running", c.Done, c.Total, running)
	}
	if by := Publisher(st); by != "" && by != st.JobID {
		line += " by job " + by
	}
	if line == s.last {
		return
	}
	if s.tty {
		fmt.Fprintf(s.out, "\r%s   ", line)
	} else {
		fmt.Fprintln(s.out, line)
	}
	s.last = line
}

// Finish ends the terminal's line when st, the status WaitForStatus
// returned, is published or failed.
func (s *StatusLine) Finish(st job.Status) {
	if s.tty && (st.State == job.StatePublished || st.State == job.StateFailed) {
		fmt.Fprintln(s.out)
	}
}

// Publisher says which job published the output of a published status
// document: its PublishedBy, or, for a document repaired by a later
// delivery that could not tell, "" (unknown).
func Publisher(st job.Status) string {
	if st.State != job.StatePublished {
		return ""
	}
	return st.PublishedBy
}
