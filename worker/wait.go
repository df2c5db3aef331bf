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
// job is published or failed, and returns that last status. Every status
// of j read on the way (including the last) goes to seen, which may be nil;
// a job.json that is missing, unreadable or another job's is polled again.
// A failed job is also an error wrapping job.ErrPermanent, with its reason;
// ctx ending is an error wrapping ctx.Err().
func WaitForStatus(ctx context.Context, j *job.Job, seen func(job.Status)) (job.Status, error) {
	b, err := storage.Open(ctx, j.Output)
	if err != nil {
		return job.Status{}, err
	}
	defer b.Close()
	for {
		data, err := b.ReadAll(ctx, job.StatusName)
		if err == nil {
			var st job.Status
			if json.Unmarshal(data, &st) == nil && st.JobID == j.ID {
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
		}
		select {
		case <-ctx.Done():
			return job.Status{}, fmt.Errorf("waiting for job %s: %w", j.ID, ctx.Err())
		case <-time.After(WaitPoll):
		}
	}
}

// StatusLine shows the statuses WaitForStatus reads, as `hlsfleet submit
// --wait` does: "ID STATE N% (attempt K)" whenever that line changes,
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
