package worker

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
)

// recEvents records every event it is sent.
type recEvents struct {
	mu     sync.Mutex
	events []job.StateChange
}

func (r *recEvents) JobEvent(e job.StateChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recEvents) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ts []string
	for _, e := range r.events {
		ts = append(ts, e.Type)
	}
	return ts
}

func TestEventsOfAPublishedJob(t *testing.T) {
	rec := &recEvents{}
	e := newEnv(t, queue.Options{}, runnerFunc(func(ctx context.Context, j *job.Job, progress func(Progress)) (*Outcome, error) {
		for _, p := range []float64{5, 12, 18, 35, 100} {
			progress(Progress{Percent: p})
		}
		return &Outcome{Published: true, Duration: 10}, nil
	}), func(c *Config) { c.Events = rec })
	j := e.send(newJob(t))
	e.start()
	if ev := e.next(); ev.op != "ack" {
		t.Fatalf("got %s, want ack", ev.op)
	}
	e.stop()
	want := []string{job.EventStarted, job.EventProgress, job.EventProgress, job.EventPublished}
	if got := rec.types(); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i, ev := range rec.events {
		if ev.Job == nil || ev.Job.ID != j.ID || ev.Status.JobID != j.ID || ev.Time.IsZero() {
			t.Errorf("event %d %+v: not about job %s", i, ev, j.ID)
		}
	}
	if p := rec.events[1].Status.Progress; p != 12 {
		t.Errorf("first progress event at %v%%, want 12", p)
	}
	if p := rec.events[2].Status.Progress; p != 35 {
		t.Errorf("second progress event at %v%%, want 35", p)
	}
	if st := rec.events[3].Status; st.State != job.StatePublished || st.Progress != 100 {
		t.Errorf("published event status %+v", st)
	}
}

func TestEventsOfAFailedJob(t *testing.T) {
	rec := &recEvents{}
	e := newEnv(t, queue.Options{}, runnerFunc(func(context.Context, *job.Job, func(Progress)) (*Outcome, error) {
		return nil, fmt.Errorf("%w: no video stream", job.ErrPermanent)
	}), func(c *Config) { c.Events = rec })
	j := e.send(newJob(t))
	e.start()
	if ev := e.next(); ev.op != "dead-letter" {
		t.Fatalf("got %s, want dead-letter", ev.op)
	}
	e.stop()
	want := []string{job.EventStarted, job.EventFailed, job.EventDeadLettered}
	if got := rec.types(); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	dl := rec.events[2]
	if dl.Job == nil || dl.Job.ID != j.ID || dl.Reason == "" || dl.Status.State != job.StateFailed {
		t.Errorf("dead-lettered event %+v", dl)
	}
}

func TestEventsOfARetriedJob(t *testing.T) {
	rec := &recEvents{}
	e := newEnv(t, queue.Options{}, runnerFunc(func(context.Context, *job.Job, func(Progress)) (*Outcome, error) {
		return nil, fmt.Errorf("the network went away")
	}), func(c *Config) { c.Events = rec })
	e.send(newJob(t))
	e.start()
	if ev := e.next(); ev.op != "release" {
		t.Fatalf("got %s, want release", ev.op)
	}
	e.stop()
	if got := rec.types(); len(got) < 2 || got[0] != job.EventStarted || got[1] != job.EventRetrying {
		t.Fatalf("events %v, want started then retrying", got)
	}
	if rec.events[1].Reason != "the network went away" {
		t.Errorf("retrying reason %q", rec.events[1].Reason)
	}
}
