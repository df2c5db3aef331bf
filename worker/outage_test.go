package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/fault"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// downOutputs is memOutputs behind a storage that can be down: then the
// published check fails as the s3 driver's does.
type downOutputs struct {
	*memOutputs
	down *atomic.Bool
}

func (o downOutputs) Published(ctx context.Context, j *job.Job) (bool, error) {
	if o.down.Load() {
		return false, fmt.Errorf("storage: stat %q: %w: dial tcp 127.0.0.1:9: connect: connection refused", job.MasterName, storage.ErrUnavailable)
	}
	return o.memOutputs.Published(ctx, j)
}

// childDown is what a job process that lost its storage mid-run reports.
var childDown = fault.As(fault.Infra, errors.New("job process failed (exit 1): writing 720p/seg_00003.ts: storage unavailable"))

// TestStorageOutageCostsNoReceive: storage goes down before and during the
// work; the worker keeps the message and waits it out, and the job is
// published on its first receive.
func TestStorageOutageCostsNoReceive(t *testing.T) {
	var down atomic.Bool
	var runs atomic.Int32
	e := newEnv(t, queue.Options{MaxReceive: 3}, runnerFunc(func(context.Context, *job.Job, func(Progress)) (*Outcome, error) {
		runs.Add(1)
		down.Store(true) // the outage begins during the work
		go func() { time.Sleep(300 * time.Millisecond); down.Store(false) }()
		if runs.Load() == 1 {
			return nil, childDown
		}
		return &Outcome{Published: true}, nil
	}), func(c *Config) {
		c.Outputs = downOutputs{newMemOutputs(), &down}
		c.InfraBackoff = func(int) time.Duration { return 40 * time.Millisecond }
		c.MaxReceive = 3
	})
	out := e.w.out.(downOutputs)
	j := e.send(newJob(t))
	e.start()
	if ev := e.next(); ev.op != "ack" || ev.msg.ReceiveCount != 1 {
		t.Fatalf("got %s of receive %d, want ack of the first", ev.op, ev.msg.ReceiveCount)
	}
	e.stop()
	e.noMoreEvents()
	waits := e.metric("hlsfleet_infra_waits_total")
	if runs.Load() != 2 || waits < 2 {
		t.Errorf("runner ran %d times with %v waits; want 2 runs around waits on the published check", runs.Load(), waits)
	}
	h := out.history(j.ID)
	var states []string
	for _, s := range h {
		states = append(states, s.State+"/"+s.Reason)
	}
	got := strings.Join(states, " ")
	if !strings.HasPrefix(got, "running/ retrying/infrastructure") || !strings.HasSuffix(got, "running/ published/") {
		t.Errorf("statuses %q: want the outage recorded as retrying/infrastructure, then published", got)
	}
	if r := h[1]; !strings.Contains(r.Error, "storage unavailable") || r.RetryAt == nil || r.Attempt != 1 {
		t.Errorf("retrying status %+v: want the last error and the retry time", r)
	}
	t.Logf("statuses %s; %v waits", got, waits)
}

// flakyAck fails Ack as an unavailable SQS does, until up is set.
type flakyAck struct {
	*recQueue
	up    atomic.Bool
	tries atomic.Int32
}

func (q *flakyAck) Ack(ctx context.Context, m queue.Message) error {
	q.tries.Add(1)
	if !q.up.Load() {
		return fmt.Errorf("queue: sqs ack: %w: connection refused", queue.ErrUnavailable)
	}
	return q.recQueue.Ack(ctx, m)
}

// TestQueueOutageAtAckCostsNoReceive: the queue is down when the job ends;
// the ack is retried past the usual four tries while the lease lasts, and
// the job is not run again.
func TestQueueOutageAtAckCostsNoReceive(t *testing.T) {
	var runs atomic.Int32
	e := newEnv(t, queue.Options{}, runnerFunc(func(context.Context, *job.Job, func(Progress)) (*Outcome, error) {
		runs.Add(1)
		return &Outcome{Published: true}, nil
	}), nil)
	fq := &flakyAck{recQueue: e.q}
	e.w.q = fq
	e.send(newJob(t))
	e.start()
	go func() { time.Sleep(2500 * time.Millisecond); fq.up.Store(true) }() // past the 4th try (1.75 s)
	if ev := e.next(); ev.op != "ack" || ev.msg.ReceiveCount != 1 {
		t.Fatalf("got %s of receive %d, want ack of the first", ev.op, ev.msg.ReceiveCount)
	}
	e.stop()
	if runs.Load() != 1 || fq.tries.Load() <= 4 {
		t.Errorf("runs %d, ack tries %d: want one run and more than four tries", runs.Load(), fq.tries.Load())
	}
}

// TestOutageOnLastReceiveDeadLettersWithReason: an outage longer than the
// hold on every receive: released with the backoff, and on the queue's
// last receive dead-lettered by the worker with the last error, recorded in
// job.json too.
func TestOutageOnLastReceiveDeadLettersWithReason(t *testing.T) {
	var runs atomic.Int32
	e := newEnv(t, queue.Options{MaxReceive: 2}, runnerFunc(func(context.Context, *job.Job, func(Progress)) (*Outcome, error) {
		runs.Add(1)
		return nil, childDown
	}), func(c *Config) {
		c.InfraBackoff = func(int) time.Duration { return 30 * time.Millisecond }
		c.InfraHold = 100 * time.Millisecond
		c.MaxReceive = 2
	})
	j := e.send(newJob(t))
	e.start()
	if ev := e.next(); ev.op != "release" || ev.msg.ReceiveCount != 1 || ev.delay != 30*time.Millisecond {
		t.Fatalf("got %s of receive %d after %v, want a release of the first with the next wait", ev.op, ev.msg.ReceiveCount, ev.delay)
	}
	ev := e.next()
	e.stop()
	want := "gave up after 2 attempts: " + childDown.Error()
	if ev.op != "dead-letter" || ev.msg.ReceiveCount != 2 || ev.reason != want {
		t.Fatalf("got %s of receive %d with %q, want dead-letter of the second with %q", ev.op, ev.msg.ReceiveCount, ev.reason, want)
	}
	if runs.Load() != 8 {
		t.Errorf("runs %d, want 4 per receive (3 waits of 30 ms fit a 100 ms hold)", runs.Load())
	}
	dls, err := e.local.DeadLetters(context.Background())
	if err != nil || len(dls) != 1 || dls[0].Reason != want {
		t.Fatalf("dead letters %+v, %v; want one with the reason", dls, err)
	}
	if st := e.out.last(t, j.ID); st.State != job.StateFailed || st.Error != want || st.Reason != "infrastructure" || st.Attempt != 2 {
		t.Errorf("status %+v, want failed with the reason", st)
	}
}
