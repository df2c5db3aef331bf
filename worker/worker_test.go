package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// waitLimit bounds every wait on a channel in these tests.
const waitLimit = 10 * time.Second

// qEvent is one call that ends a message, seen by recQueue.
type qEvent struct {
	op     string // "ack", "release", "dead-letter"
	msg    queue.Message
	delay  time.Duration
	reason string
}

// recQueue wraps a queue: it reports every successful Ack, Release and
// DeadLetter on events, records the largest Receive batch, and can make
// Extend fail.
type recQueue struct {
	queue.Queue
	events    chan qEvent
	extendErr error
	extended  chan struct{} // if set, told of every successful Extend (never blocks)
	maxBatch  atomic.Int64
}

func (q *recQueue) Receive(ctx context.Context, max int, wait, vis time.Duration) ([]queue.Message, error) {
	for {
		cur := q.maxBatch.Load()
		if int64(max) <= cur || q.maxBatch.CompareAndSwap(cur, int64(max)) {
			break
		}
	}
	return q.Queue.Receive(ctx, max, wait, vis)
}

func (q *recQueue) Extend(ctx context.Context, m queue.Message, vis time.Duration) error {
	if q.extendErr != nil {
		return q.extendErr
	}
	err := q.Queue.Extend(ctx, m, vis)
	if err == nil && q.extended != nil {
		select {
		case q.extended <- struct{}{}:
		default:
		}
	}
	return err
}

func (q *recQueue) Ack(ctx context.Context, m queue.Message) error {
	err := q.Queue.Ack(ctx, m)
	if err == nil {
		q.events <- qEvent{op: "ack", msg: m}
	}
	return err
}

func (q *recQueue) Release(ctx context.Context, m queue.Message, d time.Duration) error {
	err := q.Queue.Release(ctx, m, d)
	if err == nil {
		q.events <- qEvent{op: "release", msg: m, delay: d}
	}
	return err
}

func (q *recQueue) DeadLetter(ctx context.Context, m queue.Message, reason string) error {
	err := q.Queue.DeadLetter(ctx, m, reason)
	if err == nil {
		q.events <- qEvent{op: "dead-letter", msg: m, reason: reason}
	}
	return err
}

// memOutputs is an in-memory Outputs.
type memOutputs struct {
	mu        sync.Mutex
	published map[string]bool         // output URL → published
	statuses  map[string][]job.Status // job ID → every status written
}

func newMemOutputs() *memOutputs {
	return &memOutputs{published: map[string]bool{}, statuses: map[string][]job.Status{}}
}

func (o *memOutputs) Published(_ context.Context, j *job.Job) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.published[j.Output], nil
}

func (o *memOutputs) WriteStatus(_ context.Context, j *job.Job, s job.Status) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.statuses[j.ID] = append(o.statuses[j.ID], s)
	return nil
}

func (o *memOutputs) Fingerprint(_ context.Context, j *job.Job) string {
	return "size=42,etag=cafe"
}

func (o *memOutputs) history(id string) []job.Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]job.Status(nil), o.statuses[id]...)
}

func (o *memOutputs) last(t *testing.T, id string) job.Status {
	t.Helper()
	h := o.history(id)
	if len(h) == 0 {
		t.Fatalf("no status written for job %s", id)
	}
	return h[len(h)-1]
}

// runnerFunc adapts a function to Runner.
type runnerFunc func(ctx context.Context, j *job.Job, progress func(Progress)) (*Outcome, error)

func (f runnerFunc) Run(ctx context.Context, j *job.Job, progress func(Progress)) (*Outcome, error) {
	return f(ctx, j, progress)
}

// env is a worker on a local queue in a temporary directory.
type env struct {
	t     *testing.T
	local *queue.Local
	q     *recQueue
	out   *memOutputs
	reg   *prometheus.Registry
	m     *Metrics
	w     *Worker
	done  chan error
}

// newEnv makes a worker running runner; mod adjusts its config.
func newEnv(t *testing.T, qo queue.Options, runner Runner, mod func(*Config)) *env {
	t.Helper()
	local, err := queue.OpenLocal(t.TempDir(), qo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	e := &env{t: t, local: local, q: &recQueue{Queue: local, events: make(chan qEvent, 100)},
		out: newMemOutputs(), reg: prometheus.NewRegistry()}
	e.m = NewMetrics(e.reg)
	cfg := Config{
		Queue: e.q, Runner: runner, Outputs: e.out, Concurrency: 1, Visibility: time.Minute,
		DrainTimeout: waitLimit, Backoff: func(int) time.Duration { return 0 },
		WorkerID: "test-worker", Logger: zaptest.NewLogger(t), Metrics: e.m,
	}
	if mod != nil {
		mod(&cfg)
	}
	e.w, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// start runs the worker; the test's cleanup stops it.
func (e *env) start() {
	e.done = make(chan error, 1)
	go func() { e.done <- e.w.Run(context.Background()) }()
	e.t.Cleanup(func() {
		e.w.Stop()
		e.w.Stop() // a second stop cancels whatever still runs
		select {
		case <-e.done:
		case <-time.After(waitLimit):
			e.t.Error("worker did not stop")
		}
	})
}

// stop stops the worker and waits for Run to return nil.
func (e *env) stop() {
	e.t.Helper()
	e.w.Stop()
	e.wait()
}

// wait waits for Run to return and checks it returned nil.
func (e *env) wait() {
	e.t.Helper()
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Fatalf("Run: %v", err)
		}
		e.done <- nil // for the cleanup
	case <-time.After(waitLimit):
		e.t.Fatal("Run did not return")
	}
}

// send enqueues j's document and returns it.
func (e *env) send(j *job.Job) *job.Job {
	e.t.Helper()
	body, err := j.Marshal()
	if err != nil {
		e.t.Fatal(err)
	}
	e.sendBody(body)
	return j
}

func (e *env) sendBody(body []byte) {
	e.t.Helper()
	if _, err := e.local.Send(context.Background(), body, queue.SendOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// next returns the next queue event.
func (e *env) next() qEvent {
	e.t.Helper()
	select {
	case ev := <-e.q.events:
		return ev
	case <-time.After(waitLimit):
		e.t.Fatal("no ack, release or dead-letter happened")
		return qEvent{}
	}
}

// noMoreEvents checks that no event is pending (after Run returned).
func (e *env) noMoreEvents() {
	e.t.Helper()
	select {
	case ev := <-e.q.events:
		e.t.Fatalf("unexpected %s of message %s", ev.op, ev.msg.ID)
	default:
	}
}

// jobs returns the value of hlsfleet_jobs_total{outcome}.
func (e *env) jobs(outcome string) float64 {
	return e.metric("hlsfleet_jobs_total", "outcome", outcome)
}

// metric gathers e's registry and returns the value of the series of name
// with the given label pairs: a counter's or gauge's value, a histogram's
// observation count. A missing series is 0.
func (e *env) metric(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

func (e *env) wantJobs(want map[string]float64) {
	e.t.Helper()
	for _, o := range []string{OutcomePublished, OutcomeDuplicate, OutcomeFailed, OutcomeRetried,
		OutcomeCrashed, OutcomeDeadLettered, OutcomeIgnored} {
		if got := e.jobs(o); got != want[o] {
			e.t.Errorf("hlsfleet_jobs_total{outcome=%q} = %v, want %v", o, got, want[o])
		}
	}
}

// newJob returns a valid job with a file output under a fresh directory.
func newJob(t *testing.T) *job.Job {
	dir := t.TempDir()
	return job.New("file://"+filepath.Join(dir, "in.mp4"), "file://"+filepath.Join(dir, "out"))
}

func TestSuccessAcksAndPublishes(t *testing.T) {
	var calls atomic.Int32
	e := newEnv(t, queue.Options{}, runnerFunc(func(ctx context.Context, j *job.Job, progress func(Progress)) (*Outcome, error) {
		calls.Add(1)
		for _, p := range []float64{10, 50, 90} {
			progress(Progress{Percent: p, Speed: 2, MediaSeconds: p / 10})
		}
		return &Outcome{Published: true, Duration: 10, Speed: 2.5, Renditions: 3, BytesOut: 1234}, nil
	}), nil)
	j := e.send(newJob(t))
	e.start()
	if ev := e.next(); ev.op != "ack" {
		t.Fatalf("got %s, want ack", ev.op)
	}
	e.stop()
	e.noMoreEvents()

	if calls.Load() != 1 {
		t.Errorf("runner called %d times, want 1", calls.Load())
	}
	st := e.out.last(t, j.ID)
	if st.State != job.StatePublished || st.Progress != 100 || st.Attempt != 1 || st.Worker != "test-worker" ||
		st.Renditions != 3 || st.BytesOut != 1234 || st.FinishedAt == nil || st.Source != j.Source || st.Output != j.Output {
		t.Errorf("final status %+v", st)
	}
	if first := e.out.history(j.ID)[0]; first.State != job.StateRunning || first.Attempt != 1 {
		t.Errorf("first status %+v, want running attempt 1", first)
	}
	e.wantJobs(map[string]float64{OutcomePublished: 1})
	if got := e.metric("hlsfleet_output_bytes_total"); got != 1234 {
		t.Errorf("output bytes %v, want 1234", got)
	}
	if got := e.metric("hlsfleet_jobs_in_flight"); got != 0 {
		t.Errorf("in flight %v, want 0", got)
	}
	for _, name := range []string{"hlsfleet_job_duration_seconds", "hlsfleet_job_realtime_factor", "hlsfleet_receive_latency_seconds"} {
		if got := e.metric(name); got != 1 {
			t.Errorf("%s has %v observations, want 1", name, got)
		}
	}
	s, err := e.local.Stats(context.Background())
	if err != nil || s != (queue.Stats{}) {
		t.Errorf("queue stats %+v, %v; want empty", s, err)
	}
}

func TestDuplicateAcksWithoutWork(t *testing.T) {
	var calls atomic.Int32
	e := newEnv(t, queue.Options{}, runnerFunc(func(context.Context, *job.Job, func(Progress)) (*Outcome, error) {
		calls.Add(1)
		return &Outcome{Published: true}, nil
	}), nil)
	j := newJob(t)
	e.out.published[j.Output] = true
	e.send(j)
	e.start()
	if ev := e.next(); ev.op != "ack" {
		t.Fatalf("got %s, want ack", ev.op)
	}
	e.stop()
	if calls.Load() != 0 {
		t.Errorf("runner called %d times, want 0", calls.Load())
	}
	if h := e.out.history(j.ID); len(h) != 0 {
		t.Errorf("status written for a duplicate: %+v", h)
	}
	e.wantJobs(map[string]float64{OutcomeDuplicate: 1})
}

func TestRunnerLostPublishRaceIsDuplicate(t *testing.T) {
	e := newEnv(t, queue.Options{}, runnerFunc(func(context.Context, *job.Job, func(Progress)) (*Outcome, error) {
		return &Outcome{Published: false}, nil
	}), nil)
	e.send(newJob(t))
	e.start()
	if ev := e.next(); ev.op != "ack" {
		t.Fatalf("got %s, want ack", ev.op)
	}
	e.stop()
	e.wantJobs(map[string]float64{OutcomeDuplicate: 1})
}

func TestPermanentErrorDeadLettersOnce(t *testing.T) {
	var calls atomic.Int32
	e := newEnv(t, queue.Options{}, runnerFunc(func(context.Context, *job.Job, func(Progress)) (*Outcome, error) {
		calls.Add(1)
		return nil, fmt.Errorf("%w: the input has no video stream", job.ErrPermanent)
	}), nil)
	j := e.send(newJob(t))
	e.start()
	ev := e.next()
	if ev.op != "dead-letter" {
		t.Fatalf("got %s, want dead-letter", ev.op)
	}
	e.stop()
	e.noMoreEvents()
	if calls.Load() != 1 {
		t.Errorf("runner called %d times, want 1", calls.Load())
	}
	dls, err := e.local.DeadLetters(context.Background())
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters %v, %v; want 1", dls, err)
	}
	if r := dls[0].Reason; !strings.Contains(r, "no video stream") || !strings.HasSuffix(r, " fingerprint=size=42,etag=cafe") {
		t.Errorf("dead-letter reason %q", r)
	}
	if dls[0].ReceiveCount != 1 {
		t.Errorf("dead letter received %d times, want 1", dls[0].ReceiveCount)
	}
	st := e.out.last(t, j.ID)
	if st.State != job.StateFailed || !strings.Contains(st.Error, "no video stream") || st.Reason != "permanent" {
		t.Errorf("status %+v, want failed with the error", st)
	}
	e.wantJobs(map[string]float64{OutcomeFailed: 1, OutcomeDeadLettered: 1})
}

func TestTransientErrorRetriesThenSucceeds(t *testing.T) {
	var calls atomic.Int32
	var backoffArgs []int
	var mu sync.Mutex
	e := newEnv(t, queue.Options{}, runnerFunc(func(context.Context, *job.Job, func(Progress)) (*Outcome, error) {
		if calls.Add(1) == 1 {
			return nil, errors.New("S3 said 503 Slow Down")
		}
		return &Outcome{Published: true}, nil
	}), func(c *Config) {
		c.Backoff = func(attempt int) time.Duration {
			mu.Lock()
			defer mu.Unlock()
			backoffArgs = append(backoffArgs, attempt)
			return 0
		}
	})
	j := e.send(newJob(t))
	e.start()
	if ev := e.next(); ev.op != "release" || ev.delay != 0 {
		t.Fatalf("got %s (delay %v), want release", ev.op, ev.delay)
	}
	if ev := e.next(); ev.op != "ack" || ev.msg.ReceiveCount != 2 {
		t.Fatalf("got %s of receive %d, want ack of the 2nd", ev.op, ev.msg.ReceiveCount)
	}
	e.stop()
	if calls.Load() != 2 {
		t.Errorf("runner called %d times, want 2", calls.Load())
	}
	var states []string
	for _, s := range e.out.history(j.ID) {
		states = append(states, fmt.Sprintf("%s/%d", s.State, s.Attempt))
	}
	if got, want := strings.Join(states, " "), "running/1 retrying/1 running/2 published/2"; got != want {
		t.Errorf("statuses %q, want %q", got, want)
	}
	if h := e.out.history(j.ID); h[1].Error != "S3 said 503 Slow Down" || h[1].RetryAt == nil || h[1].Reason != "transient" {
		t.Errorf("retrying status %+v", h[1])
	}
	mu.Lock()
	if len(backoffArgs) == 0 || backoffArgs[len(backoffArgs)-1] != 1 {
		t.Errorf("backoff called with %v, want attempt 1", backoffArgs)
	}
	mu.Unlock()
	e.wantJobs(map[string]float64{OutcomeRetried: 1, OutcomePublished: 1})
}

func TestRepeatedCrashIsDeadLetteredByMaxReceives(t *testing.T) {
	var calls atomic.Int32
	e := newEnv(t, queue.Options{MaxReceive: 3}, runnerFunc(func(context.Context, *job.Job, func(Progress)) (*Outcome, error) {
		calls.Add(1)
		return nil, fmt.Errorf("%w: killed by SIGSEGV", ErrCrashed)
	}), nil)
	j := e.send(newJob(t))
	e.start()
	for i := 1; i <= 3; i++ {
		if ev := e.next(); ev.op != "release" || ev.msg.ReceiveCount != i {
			t.Fatalf("event %d: %s of receive %d, want release", i, ev.op, ev.msg.ReceiveCount)
		}
	}
	e.stop()
	// The next receive (the worker's own, or this one) moves it to the dead letters.
	if msgs, err := e.local.Receive(context.Background(), 1, 0, time.Minute); err != nil || len(msgs) != 0 {
		t.Fatalf("receive after 3 crashes: %v, %v", msgs, err)
	}
	dls, err := e.local.DeadLetters(context.Background())
	if err != nil || len(dls) != 1 || dls[0].Reason != queue.ReasonMaxReceives {
		t.Fatalf("dead letters %+v, %v", dls, err)
	}
	if calls.Load() != 3 {
		t.Errorf("runner called %d times, want 3", calls.Load())
	}
	if st := e.out.last(t, j.ID); st.State != job.StateRetrying || st.Reason != "crashed" || st.Attempt != 3 {
		t.Errorf("status %+v", st)
	}
	e.wantJobs(map[string]float64{OutcomeCrashed: 3})
}

func TestLeaseLostCancelsJobWithoutAckOrRelease(t *testing.T) {
	type call struct {
		receipt string
		cause   error
	}
	calls := make(chan call, 10)
	e := newEnv(t, queue.Options{}, runnerFunc(func(ctx context.Context, j *job.Job, _ func(Progress)) (*Outcome, error) {
		<-ctx.Done()
		calls <- call{cause: context.Cause(ctx)}
		return nil, ctx.Err()
	}), func(c *Config) { c.Visibility = 600 * time.Millisecond })
	e.q.extendErr = fmt.Errorf("extend: %w", queue.ErrLeaseLost)
	e.send(newJob(t))
	e.start()
	select {
	case c := <-calls:
		if !errors.Is(c.cause, errLeaseLost) {
			t.Errorf("runner ctx canceled with cause %v, want lease lost", c.cause)
		}
	case <-time.After(waitLimit):
		t.Fatal("runner not canceled after its lease was lost")
	}
	e.stop()
	// A later delivery may have started and been released by the stop;
	// the first delivery (receive 1) must be left alone.
	for {
		select {
		case ev := <-e.q.events:
			if ev.msg.ReceiveCount == 1 {
				t.Errorf("%s of the delivery whose lease was lost", ev.op)
			}
			continue
		default:
		}
		break
	}
	if got := e.metric("hlsfleet_lease_extensions_total", "result", "lost"); got < 1 {
		t.Errorf("lease extensions lost = %v, want >= 1", got)
	}
	e.wantJobs(map[string]float64{})
}

func TestLeaseExtendedWhileRunning(t *testing.T) {
	extended := make(chan struct{}, 1)
	e := newEnv(t, queue.Options{}, runnerFunc(func(ctx context.Context, j *job.Job, _ func(Progress)) (*Outcome, error) {
		// Outlive the 300 ms lease twice over: four extensions, 100 ms apart.
		for range 4 {
			select {
			case <-extended:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return &Outcome{Published: true}, nil
	}), func(c *Config) { c.Visibility = 300 * time.Millisecond })
	e.q.extended = extended
	e.send(newJob(t))
	e.start()
	if ev := e.next(); ev.op != "ack" || ev.msg.ReceiveCount != 1 {
		t.Fatalf("got %s of receive %d, want ack of the 1st", ev.op, ev.msg.ReceiveCount)
	}
	e.stop()
	if got := e.metric("hlsfleet_lease_extensions_total", "result", "ok"); got < 4 {
		t.Errorf("lease extensions ok = %v, want >= 4", got)
	}
}

func TestGracefulStopFinishesRunningJob(t *testing.T) {
	started, finish := make(chan struct{}), make(chan struct{})
	var ctxErr atomic.Value
	e := newEnv(t, queue.Options{}, runnerFunc(func(ctx context.Context, j *job.Job, _ func(Progress)) (*Outcome, error) {
		close(started)
		<-finish
		ctxErr.Store(fmt.Sprint(ctx.Err()))
		return &Outcome{Published: true}, nil
	}), nil)
	srv := httptest.NewServer(Handler(e.w, e.reg))
	defer srv.Close()
	get := func(path string) int {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before Run = %d, want 503", code)
	}
	e.send(newJob(t))
	e.start()
	<-started
	if !e.w.Ready() || get("/readyz") != http.StatusOK {
		t.Error("not ready while running")
	}
	e.w.Stop()
	if e.w.Ready() || get("/readyz") != http.StatusServiceUnavailable {
		t.Error("/readyz is not 503 while draining")
	}
	if code := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d while draining", code)
	}
	close(finish)
	e.wait()
	if ev := e.next(); ev.op != "ack" {
		t.Fatalf("got %s, want ack", ev.op)
	}
	if got := ctxErr.Load(); got != "<nil>" {
		t.Errorf("runner ctx err %v, want nil (not canceled)", got)
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || !strings.Contains(string(body), `hlsfleet_jobs_total{outcome="published"} 1`) {
		t.Errorf("/metrics lacks the published count (%v):\n%s", err, body)
	}
}

func TestStopPastDrainTimeoutReleasesAtOnce(t *testing.T) {
	started := make(chan struct{})
	e := newEnv(t, queue.Options{}, runnerFunc(func(ctx context.Context, j *job.Job, _ func(Progress)) (*Outcome, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}), func(c *Config) {
		c.DrainTimeout = 50 * time.Millisecond
		c.Backoff = func(int) time.Duration { return time.Hour } // must not be used
	})
	j := e.send(newJob(t))
	e.start()
	<-started
	e.stop()
	if ev := e.next(); ev.op != "release" || ev.delay != 0 {
		t.Fatalf("got %s (delay %v), want release with no delay", ev.op, ev.delay)
	}
	// Another worker receives it at once.
	msgs, err := e.local.Receive(context.Background(), 1, 0, time.Minute)
	if err != nil || len(msgs) != 1 || msgs[0].ReceiveCount != 2 {
		t.Fatalf("receive after stop: %+v, %v", msgs, err)
	}
	if st := e.out.last(t, j.ID); st.State != job.StateQueued || st.Reason != "shutdown" {
		t.Errorf("status %+v, want queued", st)
	}
	e.wantJobs(map[string]float64{})
}

func TestSecondStopCancelsAtOnce(t *testing.T) {
	started := make(chan struct{})
	e := newEnv(t, queue.Options{}, runnerFunc(func(ctx context.Context, j *job.Job, _ func(Progress)) (*Outcome, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}), func(c *Config) { c.DrainTimeout = time.Hour })
	e.send(newJob(t))
	ctx, cancel := context.WithCancel(context.Background())
	e.done = make(chan error, 1)
	go func() { e.done <- e.w.Run(ctx) }()
	<-started
	cancel()   // first stage: drain (for an hour)
	e.w.Stop() // second: cancel now
	e.wait()
	if ev := e.next(); ev.op != "release" || ev.delay != 0 {
		t.Fatalf("got %s (delay %v), want release", ev.op, ev.delay)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	const n, jobs = 2, 6
	var active, peak atomic.Int32
	started := make(chan struct{}, jobs)
	proceed := make(chan struct{})
	e := newEnv(t, queue.Options{}, runnerFunc(func(ctx context.Context, j *job.Job, _ func(Progress)) (*Outcome, error) {
		a := active.Add(1)
		for {
			p := peak.Load()
			if a <= p || peak.CompareAndSwap(p, a) {
				break
			}
		}
		started <- struct{}{}
		<-proceed
		active.Add(-1)
		return &Outcome{Published: true}, nil
	}), func(c *Config) { c.Concurrency = n })
	for range jobs {
		e.send(newJob(t))
	}
	e.start()
	for range n {
		<-started
	}
	select {
	case <-started:
		t.Fatalf("a job started while %d were running with %d slots", n, n)
	case <-time.After(100 * time.Millisecond):
	}
	for range jobs {
		proceed <- struct{}{}
	}
	for range jobs {
		if ev := e.next(); ev.op != "ack" {
			t.Fatalf("got %s, want ack", ev.op)
		}
	}
	e.stop()
	if p := peak.Load(); p != n {
		t.Errorf("peak concurrency %d, want %d", p, n)
	}
	if b := e.q.maxBatch.Load(); b > n {
		t.Errorf("asked for %d messages with %d slots", b, n)
	}
	e.wantJobs(map[string]float64{OutcomePublished: jobs})
}

func TestS3EventWithTwoRecordsRunsTwoJobs(t *testing.T) {
	var mu sync.Mutex
	var ran []*job.Job
	e := newEnv(t, queue.Options{}, runnerFunc(func(ctx context.Context, j *job.Job, _ func(Progress)) (*Outcome, error) {
		mu.Lock()
		ran = append(ran, j)
		mu.Unlock()
		return &Outcome{Published: true}, nil
	}), nil)
	record := func(key, seq string) string {
		return `{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
			"eventTime":"2024-05-01T12:00:00.000Z","eventName":"ObjectCreated:Put",
			"s3":{"bucket":{"name":"media"},"object":{"key":"` + key + `","size":1000,"eTag":"abc","sequencer":"` + seq + `"}}}`
	}
	e.sendBody([]byte(`{"Records":[` + record("uploads/a.mp4", "01") + `,` + record("uploads/b.mp4", "02") + `]}`))
	e.start()
	if ev := e.next(); ev.op != "ack" {
		t.Fatalf("got %s, want ack", ev.op)
	}
	e.stop()
	e.noMoreEvents()
	mu.Lock()
	defer mu.Unlock()
	if len(ran) != 2 || ran[0].Source != "s3://media/uploads/a.mp4" || ran[1].Source != "s3://media/uploads/b.mp4" {
		t.Fatalf("ran %v, want the two uploads in order", ran)
	}
	if ran[0].Output == ran[1].Output {
		t.Errorf("both jobs write to %s", ran[0].Output)
	}
	e.wantJobs(map[string]float64{OutcomePublished: 2})
}

func TestMultiJobMessageWithOnePermanentFailure(t *testing.T) {
	var calls atomic.Int32
	e := newEnv(t, queue.Options{}, runnerFunc(func(ctx context.Context, j *job.Job, _ func(Progress)) (*Outcome, error) {
		calls.Add(1)
		if strings.HasSuffix(j.Source, "bad.mp4") {
			return nil, fmt.Errorf("%w: corrupt", job.ErrPermanent)
		}
		return &Outcome{Published: true}, nil
	}), nil)
	record := func(key string) string {
		return `{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"m"},"object":{"key":"` + key + `"}}}`
	}
	e.sendBody([]byte(`{"Records":[` + record("bad.mp4") + `,` + record("good.mp4") + `]}`))
	e.start()
	ev := e.next()
	if ev.op != "dead-letter" || !strings.Contains(ev.reason, "corrupt") {
		t.Fatalf("got %s %q, want dead-letter", ev.op, ev.reason)
	}
	e.stop()
	if calls.Load() != 2 {
		t.Errorf("runner called %d times, want 2 (the good job still runs)", calls.Load())
	}
	e.wantJobs(map[string]float64{OutcomePublished: 1, OutcomeFailed: 1, OutcomeDeadLettered: 1})
}

func TestIgnoredTestEventIsAcked(t *testing.T) {
	e := newEnv(t, queue.Options{}, runnerFunc(func(context.Context, *job.Job, func(Progress)) (*Outcome, error) {
		t.Error("runner called for an ignored message")
		return nil, errors.New("no")
	}), nil)
	e.sendBody([]byte(`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-05-01T12:00:00.000Z","Bucket":"media","RequestId":"X","HostId":"Y"}`))
	e.start()
	if ev := e.next(); ev.op != "ack" {
		t.Fatalf("got %s, want ack", ev.op)
	}
	e.stop()
	e.wantJobs(map[string]float64{OutcomeIgnored: 1})
}

func TestInvalidMessageIsDeadLetteredAtOnce(t *testing.T) {
	e := newEnv(t, queue.Options{}, runnerFunc(func(context.Context, *job.Job, func(Progress)) (*Outcome, error) {
		t.Error("runner called for an invalid message")
		return nil, errors.New("no")
	}), nil)
	e.sendBody([]byte(`{"version":1,"id":"x","source":"ftp://nope","output":"s3://b/o/"}`))
	e.start()
	ev := e.next()
	if ev.op != "dead-letter" || !strings.Contains(ev.reason, "ftp://nope") {
		t.Fatalf("got %s %q, want dead-letter naming the bad source", ev.op, ev.reason)
	}
	e.stop()
	dls, err := e.local.DeadLetters(context.Background())
	if err != nil || len(dls) != 1 || dls[0].ReceiveCount != 1 {
		t.Fatalf("dead letters %+v, %v", dls, err)
	}
	e.wantJobs(map[string]float64{OutcomeDeadLettered: 1})
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestProgressThrottlesStatusWrites(t *testing.T) {
	clock := &fakeClock{now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	e := newEnv(t, queue.Options{}, runnerFunc(func(ctx context.Context, j *job.Job, progress func(Progress)) (*Outcome, error) {
		steps := []struct {
			after time.Duration
			pct   float64
		}{
			{100 * time.Millisecond, 1},  // no write: 0.1 s, 1 point
			{2 * time.Second, 5},         // write: 2.1 s since start
			{100 * time.Millisecond, 12}, // no write: 7 points, 0.1 s
			{100 * time.Millisecond, 16}, // write: 11 points
			{time.Second, 17},            // no write
			{time.Second, 18},            // write: 2 s
		}
		for _, s := range steps {
			clock.Advance(s.after)
			progress(Progress{Percent: s.pct})
		}
		clock.Advance(time.Second)
		return &Outcome{Published: true, Duration: 30}, nil
	}), func(c *Config) { c.Clock = clock.Now })
	j := e.send(newJob(t))
	e.start()
	if ev := e.next(); ev.op != "ack" {
		t.Fatalf("got %s, want ack", ev.op)
	}
	e.stop()
	var got []string
	for _, s := range e.out.history(j.ID) {
		got = append(got, fmt.Sprintf("%s@%g", s.State, s.Progress))
	}
	if g, want := strings.Join(got, " "), "running@0 running@5 running@16 running@18 published@100"; g != want {
		t.Errorf("status writes %q, want %q", g, want)
	}
	st := e.out.last(t, j.ID)
	if d := st.FinishedAt.Sub(st.StartedAt); d != 5300*time.Millisecond {
		t.Errorf("finished %v after start, want 5.3s by the injected clock", d)
	}
	if math.Abs(st.Speed-30/5.3) > 1e-9 {
		t.Errorf("speed %v, want media/wall = %v", st.Speed, 30/5.3)
	}
}

func TestStorageOutputsEndToEnd(t *testing.T) {
	// The worker with StorageOutputs on file storage: job.json follows the
	// job, and a redelivered published job is acknowledged without work.
	var calls atomic.Int32
	e := newEnv(t, queue.Options{}, runnerFunc(func(ctx context.Context, j *job.Job, _ func(Progress)) (*Outcome, error) {
		calls.Add(1)
		b, err := storage.Open(ctx, j.Output)
		if err != nil {
			return nil, err
		}
		defer b.Close()
		if err := b.WriteAll(ctx, "master.m3u8", []byte("#EXTM3U\n"), storage.WriterOptions{IfNoneMatch: true}); err != nil {
			return nil, err
		}
		return &Outcome{Published: true, BytesOut: 8}, nil
	}), func(c *Config) { c.Outputs = StorageOutputs{} })
	j := newJob(t)
	e.send(j)
	e.send(j)
	e.start()
	for range 2 {
		if ev := e.next(); ev.op != "ack" {
			t.Fatalf("got %s, want ack", ev.op)
		}
	}
	e.stop()
	if calls.Load() != 1 {
		t.Errorf("runner called %d times, want 1", calls.Load())
	}
	b, err := storage.Open(context.Background(), j.Output)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data, err := b.ReadAll(context.Background(), job.StatusName)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"job_id": "` + j.ID + `"`, `"state": "published"`, `"progress": 100`, `"attempt": 1`, `"finished_at"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("job.json lacks %s:\n%s", want, data)
		}
	}
	e.wantJobs(map[string]float64{OutcomePublished: 1, OutcomeDuplicate: 1})
}

func TestStorageOutputsHeldForTheJob(t *testing.T) {
	// With NewStorageOutputs the worker holds the job's output for the
	// job's lifetime: the published check opens it, the status writes
	// reuse it, and it is closed and forgotten when the job ends.
	out := NewStorageOutputs()
	held := func(j *job.Job) *heldOutput {
		out.held.mu.Lock()
		defer out.held.mu.Unlock()
		return out.held.m[j.Output]
	}
	var during *storage.Bucket
	e := newEnv(t, queue.Options{}, runnerFunc(func(ctx context.Context, j *job.Job, progress func(Progress)) (*Outcome, error) {
		h := held(j)
		if h == nil || h.refs != 1 || h.b == nil {
			t.Errorf("while the job runs its output is held as %+v; want one reference to an open bucket", h)
			return nil, errors.New("not held")
		}
		during = h.b
		progress(Progress{Percent: 50})
		if h := held(j); h == nil || h.b != during {
			t.Errorf("after a status write the held output is %+v, want the same bucket %p", h, during)
		}
		return &Outcome{Published: true}, nil
	}), func(c *Config) { c.Outputs = out })
	j := newJob(t)
	e.send(j)
	e.start()
	if ev := e.next(); ev.op != "ack" {
		t.Fatalf("got %s, want ack", ev.op)
	}
	e.stop()
	if during == nil {
		t.Fatal("the runner did not run")
	}
	if h := held(j); h != nil {
		t.Errorf("after the job its output is still held: %+v", h)
	}
	b, err := storage.Open(context.Background(), j.Output)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data, err := b.ReadAll(context.Background(), job.StatusName)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"state": "published"`) {
		t.Errorf("job.json is not the published status:\n%s", data)
	}
	// A second release is a no-op; with nothing held each call opens the
	// output for itself.
	release := out.Hold(j)
	release()
	release()
	if h := held(j); h != nil {
		t.Errorf("a released hold (released twice) left %+v", h)
	}
	// (j's job.json says published, which is final: the write is read
	// against it and dropped; a fresh job's output takes one.)
	if err := out.WriteStatus(context.Background(), j, job.Status{JobID: j.ID, State: job.StateFailed}); !errors.Is(err, ErrStatusFinal) {
		t.Fatalf("a failed status over a published one: %v, want ErrStatusFinal", err)
	}
	j2 := newJob(t)
	if err := out.WriteStatus(context.Background(), j2, job.Status{JobID: j2.ID, State: job.StateFailed}); err != nil {
		t.Fatal(err)
	}
}

func TestNewChecksConfig(t *testing.T) {
	local, err := queue.OpenLocal(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	r := runnerFunc(func(context.Context, *job.Job, func(Progress)) (*Outcome, error) { return nil, nil })
	for name, cfg := range map[string]Config{
		"no queue":       {Runner: r},
		"no runner":      {Queue: local},
		"bad slots":      {Queue: local, Runner: r, Concurrency: -1},
		"bad visibility": {Queue: local, Runner: r, Visibility: -time.Second},
		"bad rules":      {Queue: local, Runner: r, Rules: job.Rules{{Prefix: "x", Output: "{nope}"}}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	w, err := New(Config{Queue: local, Runner: r})
	if err != nil {
		t.Fatal(err)
	}
	if w.Concurrency() < 1 || w.visibility != DefaultVisibility || w.drain != DefaultDrainTimeout || w.id == "" {
		t.Errorf("defaults: slots %d, visibility %v, drain %v, id %q", w.Concurrency(), w.visibility, w.drain, w.id)
	}
	if w.Ready() {
		t.Error("ready before Run")
	}
}

func TestBackoff(t *testing.T) {
	fixed := func(f float64) func() float64 { return func() float64 { return f } }
	tests := []struct {
		attempt int
		rnd     func() float64
		want    time.Duration
	}{
		{0, nil, 5 * time.Second},
		{1, nil, 5 * time.Second},
		{2, nil, 10 * time.Second},
		{3, nil, 20 * time.Second},
		{7, nil, 320 * time.Second},
		{8, nil, 10 * time.Minute}, // 640 s capped
		{1000, nil, 10 * time.Minute},
		{1, fixed(0), 0},
		{1, fixed(0.5), 2500 * time.Millisecond},
		{3, fixed(0.25), 5 * time.Second},
		{20, fixed(0.5), 5 * time.Minute},
		{2, fixed(-1), 0},
		{2, fixed(1.5), 10 * time.Second},
	}
	for _, tt := range tests {
		if got := Backoff(tt.attempt, tt.rnd); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
	for attempt := 1; attempt <= 30; attempt++ {
		ceil := BackoffCeiling(attempt)
		if ceil > BackoffCap || ceil < BackoffBase {
			t.Errorf("ceiling(%d) = %v out of bounds", attempt, ceil)
		}
		for range 50 {
			if d := DefaultBackoff(attempt); d < 0 || d > ceil {
				t.Errorf("DefaultBackoff(%d) = %v, outside [0, %v]", attempt, d, ceil)
			}
		}
	}
}

// flakyReceive fails its first failures Receives.
type flakyReceive struct {
	*recQueue
	failures atomic.Int32
}

func (q *flakyReceive) Receive(ctx context.Context, max int, wait, vis time.Duration) ([]queue.Message, error) {
	if q.failures.Add(-1) >= 0 {
		return nil, errors.New("sqs: connection reset by peer")
	}
	return q.recQueue.Receive(ctx, max, wait, vis)
}

func TestReceiveErrorsAreRetried(t *testing.T) {
	e := newEnv(t, queue.Options{}, runnerFunc(func(context.Context, *job.Job, func(Progress)) (*Outcome, error) {
		return &Outcome{Published: true}, nil
	}), nil)
	flaky := &flakyReceive{recQueue: e.q}
	flaky.failures.Store(2)
	w, err := New(Config{Queue: flaky, Runner: e.w.runner, Outputs: e.out, Concurrency: 1,
		Logger: zaptest.NewLogger(t), Metrics: e.m})
	if err != nil {
		t.Fatal(err)
	}
	e.w = w
	e.send(newJob(t))
	e.start()
	if ev := e.next(); ev.op != "ack" {
		t.Fatalf("got %s, want ack", ev.op)
	}
	e.stop()
	if n := flaky.failures.Load(); n >= 0 {
		t.Errorf("receive failures left: %d", n+1)
	}
}

// With a LiveQueue, the live-segment jobs of an S3 event go there, grouped
// by stream with a stream.seq deduplication id; the other jobs run here.
func TestLiveJobsForwardedToLiveQueue(t *testing.T) {
	liveQ, err := queue.OpenLocal(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer liveQ.Close()
	var mu sync.Mutex
	var ran []*job.Job
	e := newEnv(t, queue.Options{}, runnerFunc(func(ctx context.Context, j *job.Job, _ func(Progress)) (*Outcome, error) {
		mu.Lock()
		ran = append(ran, j)
		mu.Unlock()
		return &Outcome{Published: true}, nil
	}), func(c *Config) { c.LiveQueue = liveQ })
	record := func(key, seq string) string {
		return `{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
			"eventTime":"2024-05-01T12:00:00.000Z","eventName":"ObjectCreated:Put",
			"s3":{"bucket":{"name":"media"},"object":{"key":"` + key + `","size":1000,"eTag":"abc","sequencer":"` + seq + `"}}}`
	}
	e.sendBody([]byte(`{"Records":[` + record("live/cam1/7.ts", "01") + `,` + record("uploads/b.mp4", "02") + `]}`))
	e.sendBody([]byte(`{"Records":[` + record("live/cam1/7.ts", "01") + `]}`)) // a duplicate event
	e.sendBody([]byte(`{"Records":[` + record("live/cam1/END", "03") + `]}`))
	e.start()
	for range 3 {
		if ev := e.next(); ev.op != "ack" {
			t.Fatalf("got %s, want ack", ev.op)
		}
	}
	e.stop()
	mu.Lock()
	if len(ran) != 1 || ran[0].Source != "s3://media/uploads/b.mp4" {
		t.Fatalf("ran %v, want only the VOD upload", ran)
	}
	mu.Unlock()
	ctx := context.Background()
	ms, err := liveQ.Receive(ctx, 10, 0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// FIFO: one message of the group is handed out at a time.
	if len(ms) != 1 || ms[0].GroupID != "cam1" {
		t.Fatalf("live queue gave %d messages, want the group's head", len(ms))
	}
	j, err := job.Parse(ms[0].Body)
	if err != nil || j.Kind != job.KindLiveSegment || j.Live.Sequence != 7 || j.Live.End {
		t.Fatalf("forwarded job %+v %v", j, err)
	}
	if err := liveQ.Ack(ctx, ms[0]); err != nil {
		t.Fatal(err)
	}
	ms, err = liveQ.Receive(ctx, 10, 0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 {
		t.Fatalf("after the segment, %d messages; want END alone (the duplicate dropped)", len(ms))
	}
	if j, err := job.Parse(ms[0].Body); err != nil || !j.Live.End {
		t.Fatalf("second forwarded job %+v %v, want END", j, err)
	}
}

// /readyz adds the notes after its status line, ready or not.
func TestHandlerReadyzNotes(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler(nil, prometheus.NewRegistry(), "accel cpu").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "not ready\naccel cpu\n" {
		t.Errorf("/readyz of no worker = %d %q, want 503 with the note", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	Handler(nil, prometheus.NewRegistry(), "accel cpu").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Body.String() != "ok\n" {
		t.Errorf("/healthz = %q, want no note", rec.Body.String())
	}
}
