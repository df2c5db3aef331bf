package worker

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/job"
)

// writeStatus replaces dir's job.json (t.Error, not Fatal: it also runs on
// a goroutine of its own).
func writeStatus(t *testing.T, dir string, st job.Status) {
	t.Helper()
	data, _ := json.Marshal(st)
	tmp := filepath.Join(dir, ".job.json.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, filepath.Join(dir, job.StatusName)); err != nil {
		t.Error(err)
	}
}

// TestWaitForStatus: another job's unpublished status and a missing
// job.json are polled past; the job's own statuses are seen until it is
// published.
func TestWaitForStatus(t *testing.T) {
	dir := t.TempDir()
	j := &job.Job{ID: "j1", Output: "file://" + filepath.ToSlash(dir)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var seen []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(WaitPoll / 2)
		writeStatus(t, dir, job.Status{JobID: "other", State: job.StateRunning})
		time.Sleep(WaitPoll * 3 / 2)
		writeStatus(t, dir, job.Status{JobID: "j1", State: job.StateRunning, Progress: 40})
		time.Sleep(WaitPoll * 3 / 2)
		writeStatus(t, dir, job.Status{JobID: "j1", State: job.StatePublished, Progress: 100, PublishedBy: "j1"})
	}()
	// seen is called on every poll that reads the job's status; the same
	// status may be read on more than one poll (the writer's pauses are
	// timed against the poll), so the sequence is compared without repeats.
	st, err := WaitForStatus(ctx, j, func(st job.Status) {
		if s := st.JobID + " " + st.State; len(seen) == 0 || seen[len(seen)-1] != s {
			seen = append(seen, s)
		}
	})
	<-done
	if err != nil || st.State != job.StatePublished || st.JobID != "j1" {
		t.Fatalf("WaitForStatus = %+v, %v; want j1 published", st, err)
	}
	if got := strings.Join(seen, ", "); got != "j1 running, j1 published" {
		t.Errorf("seen %q, want %q", got, "j1 running, j1 published")
	}
	if p := Publisher(st); p != "j1" {
		t.Errorf("Publisher = %q, want j1", p)
	}
}

// TestWaitForStatusPublishedByAnother: a duplicate submission of an output
// that another job published (and that the worker acknowledges without
// work) returns at once, and says which job published it; another job's
// failure does not end the wait.
func TestWaitForStatusPublishedByAnother(t *testing.T) {
	dir := t.TempDir()
	j := &job.Job{ID: "dup", Output: "file://" + filepath.ToSlash(dir)}
	writeStatus(t, dir, job.Status{JobID: "first", State: job.StatePublished, PublishedBy: "first", AttemptID: "a1"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := WaitForStatus(ctx, j, nil)
	if err != nil || st.State != job.StatePublished || Publisher(st) != "first" || st.AttemptID != "a1" {
		t.Fatalf("WaitForStatus = %+v, %v; want published by job first", st, err)
	}
	// Repaired by a later delivery that could not tell the publisher.
	writeStatus(t, dir, job.Status{JobID: "first", State: job.StatePublished, RepairedBy: "w (job dup, attempt 2)"})
	if st, err := WaitForStatus(ctx, j, nil); err != nil || Publisher(st) != "" || st.RepairedBy == "" {
		t.Fatalf("WaitForStatus = %+v, %v; want published, publisher unknown", st, err)
	}
	writeStatus(t, dir, job.Status{JobID: "first", State: job.StateFailed, Error: "not media"})
	short, cancel2 := context.WithTimeout(context.Background(), WaitPoll*2)
	defer cancel2()
	if _, err := WaitForStatus(short, j, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("another job's failure ended the wait: %v", err)
	}
}

func TestWaitForStatusFailed(t *testing.T) {
	dir := t.TempDir()
	j := &job.Job{ID: "j2", Output: "file://" + filepath.ToSlash(dir)}
	writeStatus(t, dir, job.Status{JobID: "j2", State: job.StateFailed, Error: "not media"})
	st, err := WaitForStatus(context.Background(), j, nil)
	if st.State != job.StateFailed || !errors.Is(err, job.ErrPermanent) || !strings.Contains(err.Error(), "job j2 failed: not media") {
		t.Fatalf("WaitForStatus = %+v, %v; want failed, a permanent error with the reason", st, err)
	}
}

func TestWaitForStatusGivesUp(t *testing.T) {
	j := &job.Job{ID: "j3", Output: "file://" + filepath.ToSlash(t.TempDir())}
	ctx, cancel := context.WithTimeout(context.Background(), WaitPoll/3)
	defer cancel()
	st, err := WaitForStatus(ctx, j, func(job.Status) { t.Error("a status seen with no job.json") })
	if st.State != "" || !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "waiting for job j3: ") {
		t.Fatalf("WaitForStatus = %+v, %v; want the deadline, wrapped", st, err)
	}
}

// StatusLine: a line per change off a terminal; on one, redrawn in place
// and ended once the job is done.
func TestStatusLine(t *testing.T) {
	sts := []job.Status{
		{JobID: "j1", State: job.StateQueued, Attempt: 0},
		{JobID: "j1", State: job.StateQueued, Attempt: 0},
		{JobID: "j1", State: job.StateRunning, Progress: 42.4, Attempt: 1},
		{JobID: "j1", State: job.StatePublished, Progress: 100, Attempt: 1},
	}
	var plain, term strings.Builder
	p, tt := NewStatusLine(&plain, false), NewStatusLine(&term, true)
	for _, st := range sts {
		p.Show(st)
		tt.Show(st)
	}
	p.Finish(sts[3])
	tt.Finish(sts[3])
	lines := []string{"j1 queued 0% (attempt 0)", "j1 running 42% (attempt 1)", "j1 published 100% (attempt 1)"}
	if want := strings.Join(lines, "\n") + "\n"; plain.String() != want {
		t.Errorf("off a terminal: %q, want %q", plain.String(), want)
	}
	if want := "\r" + strings.Join(lines, "   \r") + "   \n"; term.String() != want {
		t.Errorf("on a terminal: %q, want %q", term.String(), want)
	}
	var chunked strings.Builder
	NewStatusLine(&chunked, false).Show(job.Status{JobID: "j2", State: job.StateRunning, Progress: 30, Attempt: 1,
		Chunks: &job.ChunkStatus{Total: 10, Done: 2, Running: map[string]int{"w1": 2, "w2": 3}}})
	if want := "j2 running 30% (attempt 1) chunks 2/10 done, 5 running\n"; chunked.String() != want {
		t.Errorf("a chunked job: %q, want %q", chunked.String(), want)
	}
	var running strings.Builder
	r := NewStatusLine(&running, true)
	r.Show(sts[2])
	r.Finish(sts[2])
	if strings.HasSuffix(running.String(), "\n") {
		t.Errorf("a terminal line ended while the job runs: %q", running.String())
	}
}
