// Package worker runs transcoding jobs from a queue: the receive loop,
// admission (a fixed number of job slots), lease heartbeats, retry
// classification, drain on shutdown, per-job status documents and
// Prometheus metrics.
//
// # Reliability
//
// Delivery is at least once, so the worker is idempotent: a job whose output
// is already published (Outputs.Published) is acknowledged without work.
// One heartbeat goroutine owns every lease and extends it every
// Visibility/3; a lease found lost cancels its job, whose message then
// belongs to another delivery and is neither acknowledged nor released.
//
// Errors carry the decision. A Runner's error wrapping job.ErrPermanent
// (the input is at fault) dead-letters the message at once with the reason
// and the input's fingerprint; ErrCrashed (the job process died) and every
// other error release the message with a jittered exponential backoff
// (Backoff), and a message that keeps failing is dead-lettered on the
// queue's last receive with the last error (Config.MaxReceive; else by the
// queue's redrive policy). An infrastructure fault (storage or the queue
// unavailable, fault.Infra) is waited out with the message held (keep.go),
// so an outage costs time, not receives.
//
// job.json only moves forward: it is written by compare-and-swap and never
// replaced once it says published (StorageOutputs.WriteStatus); a delivery
// that finds the output published repairs a stale document and sends the
// published event the dead publisher never sent (status.go).
//
// # Chunked jobs
//
// A long VOD job's run may report a plan instead of a publish: the worker
// sends its chunk jobs and records them sent; a chunk job runs as its
// parent's, merging its figures into the parent's job.json (chunks.go).
//
// # Shutdown
//
// Shutdown has two stages (river's Stop, then StopAndCancel): receiving
// stops at once, running jobs get DrainTimeout to finish, then they are
// canceled and their messages released with no delay, so another worker
// starts them at once.
package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hlsfleet/hlsfleet/fault"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
)

// Runner runs one attempt of one job to completion. progress may be called
// often (from any goroutine, never concurrently, and never after Run
// returns). Run must return soon after ctx is canceled. Its error says what
// to do next: see ErrCrashed.
type Runner interface {
	Run(ctx context.Context, j *job.Job, progress func(Progress)) (*Outcome, error)
}

// Progress is how far a running job has come.
type Progress struct {
	Percent      float64 // 0..100
	Speed        float64 // media seconds per wall second (x realtime)
	MediaSeconds float64 // media time transcoded so far
}

// Outcome is what a successful run produced.
type Outcome struct {
	// Published is false when someone else had already published the
	// output (the conditional create of the master playlist lost).
	Published bool
	// AttemptID is the attempt whose master the output has: this run's
	// when Published, else the one that published first ("" when not
	// known).
	AttemptID  string
	Duration   float64 // media duration in seconds
	Speed      float64 // x realtime
	Renditions int
	BytesOut   int64
	job.Extras
	// Live-segment jobs (see ExecEvent): latency from the source object to
	// the playlists updated, transcode wall seconds per media second, and
	// segments skipped by this job's playlist update.
	LiveLatency        float64
	LiveRealtimeFactor float64
	LiveSkipped        int
	// Chunked jobs (issue H, see chunks.go): Planned is the number of
	// chunks a VOD job's run split it into instead of transcoding it,
	// Sent whether their jobs were already sent; Chunk the plan, or for
	// a chunk job the chunk and what became of it (Published: its run
	// finished the job and published it).
	Planned int
	Sent    bool
	Chunk   *job.ChunkReport
}

// ErrCrashed is the error class of a job process that died by a signal or
// hit its memory limit. The worker releases the message with backoff; the
// queue's maximum receive count dead-letters it if it keeps crashing.
//
// The other classes: an error wrapping job.ErrPermanent (the input is at
// fault; the child exited 2) dead-letters the message at once and is never
// retried; any other error is transient and releases the message with
// backoff.
var ErrCrashed = fault.New(fault.Crashed, "job process crashed")

// Outputs is what the worker needs of a job's output location.
type Outputs interface {
	// Published reports whether the job's output is already published
	// (master.m3u8 exists): a redelivered job is then acknowledged without
	// work.
	Published(ctx context.Context, j *job.Job) (bool, error)
	// WriteStatus writes the job's status document (<output>/job.json).
	WriteStatus(ctx context.Context, j *job.Job, s job.Status) error
	// Fingerprint identifies the job's input for the dead-letter reason
	// (for example its size and ETag); "" if unknown.
	Fingerprint(ctx context.Context, j *job.Job) string
}

// Config configures New. Queue and Runner are required.
type Config struct {
	Queue  queue.Queue
	Rules  job.Rules // S3-event rules for ParseMessage; nil: job.DefaultRules
	Runner Runner
	// Outputs checks for published outputs, writes status documents and
	// fingerprints inputs; nil: nothing is checked or written.
	Outputs Outputs
	// Concurrency is the number of job slots; 0 means max(1, NumCPU/2)
	// (each transcode already uses several threads).
	Concurrency int
	// Visibility is the lease asked for at receive and on each extension;
	// 0 means DefaultVisibility. The heartbeat extends every Visibility/3.
	Visibility time.Duration
	// DrainTimeout is how long running jobs may finish after a stop before
	// they are canceled and released; 0 means 2 minutes.
	DrainTimeout time.Duration
	// Backoff gives the release delay after a failed attempt (the
	// message's receive count); nil means DefaultBackoff.
	Backoff func(attempt int) time.Duration
	// InfraBackoff gives the n-th wait (1 on the first) of a delivery on an
	// infrastructure fault (storage or the queue unavailable), with the
	// message held and its lease extended; nil means DefaultInfraBackoff.
	InfraBackoff func(n int) time.Duration
	// InfraHold is the most one delivery waits on infrastructure faults
	// before it releases the message (with the next wait's delay); 0 means
	// DefaultInfraHold, negative never waits in the delivery.
	InfraHold time.Duration
	// MaxReceive is the queue's max receive count (queue.ReceiveLimited;
	// 0: not known). On that receive the worker dead-letters a message it
	// would retry, with "gave up after N attempts: <last error>" as the
	// reason, instead of leaving the queue to move it with no reason.
	MaxReceive int
	// WorkerID names this worker in logs and status; default host-pid.
	WorkerID string
	Logger   *zap.Logger // nil: no logs
	Metrics  *Metrics    // nil: unregistered metrics
	Clock    func() time.Time
	// Events receives every job state change; nil: none are sent.
	Events job.EventSink
	// LiveQueue, when set, receives the live-segment jobs that messages on
	// Queue map to (S3 notifications cannot target an SQS FIFO queue): each
	// is sent with its stream as the FIFO group and stream.seq as the
	// deduplication id, and the message is acknowledged once all are sent.
	// The workers reading LiveQueue run without one.
	LiveQueue queue.Queue
	// ChunkQueue, when set, receives the chunk jobs of the long VOD jobs
	// this worker plans (issue H); nil sends them to the queue the VOD
	// job came from (queue.Origin), where the same fleet takes them.
	ChunkQueue queue.Queue
}

// Defaults of Config.
const (
	// DefaultVisibility is short so that a dead worker's message (a
	// chunk's, most of all) is another's within a minute; the heartbeat
	// extends it every 20 s.
	DefaultVisibility   = 60 * time.Second
	DefaultDrainTimeout = 2 * time.Minute
	// ReceiveWait is the long poll of one Receive; a stop ends it at once.
	ReceiveWait = 20 * time.Second
	// progressInterval and progressStep throttle status writes on progress.
	progressInterval = 2 * time.Second
	progressStep     = 10.0
	// opTimeout bounds one queue or storage call made to finish a message.
	opTimeout = 30 * time.Second
)

// Worker receives messages and runs their jobs. Make one with New and call
// Run once.
type Worker struct {
	q          queue.Queue
	rules      job.Rules
	runner     Runner
	out        Outputs
	slots      chan struct{}
	visibility time.Duration
	drain      time.Duration
	backoff    func(int) time.Duration
	policy     RetryPolicy
	id         string
	log        *zap.Logger
	m          *Metrics
	now        func() time.Time
	hb         *heartbeat
	events     job.EventSink
	liveQ      queue.Queue
	chunkQ     queue.Queue

	ready atomic.Bool

	mu       sync.Mutex
	started  bool
	stopping bool
	forced   bool
	stopCh   chan struct{} // closed by the first Stop (or Run's ctx ending)
	forceCh  chan struct{} // closed by a Stop while draining
	runCtx   context.Context

	running atomic.Int64 // messages being handled
	tracked sync.Map     // *lease -> *running: jobs in runJob (Interrupt)
	// interrupting is set by Interrupt: no further job of a message starts.
	interrupting atomic.Bool
}

// New checks cfg, fills in its defaults and returns a Worker.
func New(cfg Config) (*Worker, error) {
	switch {
	case cfg.Queue == nil:
		return nil, errors.New("worker: Config.Queue is required")
	case cfg.Runner == nil:
		return nil, errors.New("worker: Config.Runner is required")
	case cfg.Concurrency < 0:
		return nil, fmt.Errorf("worker: Concurrency %d is negative", cfg.Concurrency)
	case cfg.Visibility < 0:
		return nil, fmt.Errorf("worker: Visibility %v is negative", cfg.Visibility)
	case cfg.DrainTimeout < 0:
		return nil, fmt.Errorf("worker: DrainTimeout %v is negative", cfg.DrainTimeout)
	case cfg.MaxReceive < 0:
		return nil, fmt.Errorf("worker: MaxReceive %d is negative", cfg.MaxReceive)
	}
	rules := cfg.Rules
	if rules == nil {
		rules = job.DefaultRules()
	}
	if err := rules.Validate(); err != nil {
		return nil, fmt.Errorf("worker: S3 event rules: %w", err)
	}
	n := cfg.Concurrency
	if n == 0 {
		n = max(1, runtime.NumCPU()/2)
	}
	w := &Worker{
		q: cfg.Queue, rules: rules, runner: cfg.Runner, out: cfg.Outputs,
		slots:      make(chan struct{}, n),
		visibility: cfg.Visibility, drain: cfg.DrainTimeout, backoff: cfg.Backoff,
		id: cfg.WorkerID, log: cfg.Logger, m: cfg.Metrics, now: cfg.Clock,
		stopCh: make(chan struct{}), forceCh: make(chan struct{}),
		events: cfg.Events,
		liveQ:  cfg.LiveQueue,
		chunkQ: cfg.ChunkQueue,
	}
	if w.events == nil {
		w.events = nopEvents{}
	}
	if w.out == nil {
		w.out = nopOutputs{}
	}
	if w.visibility == 0 {
		w.visibility = DefaultVisibility
	}
	if w.drain == 0 {
		w.drain = DefaultDrainTimeout
	}
	if w.backoff == nil {
		w.backoff = DefaultBackoff
	}
	w.policy = RetryPolicy{Backoff: w.backoff, InfraBackoff: cfg.InfraBackoff, InfraHold: cfg.InfraHold, MaxReceive: cfg.MaxReceive}
	if w.policy.InfraBackoff == nil {
		w.policy.InfraBackoff = DefaultInfraBackoff
	}
	if w.policy.InfraHold == 0 {
		w.policy.InfraHold = DefaultInfraHold
	}
	if w.id == "" {
		host, _ := os.Hostname()
		w.id = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if w.log == nil {
		w.log = zap.NewNop()
	}
	w.log = w.log.With(zap.String("worker", w.id))
	if w.m == nil {
		w.m = NewMetrics(nil)
	}
	if w.now == nil {
		w.now = time.Now
	}
	w.hb = newHeartbeat(w.q, w.visibility, w.log, w.m)
	return w, nil
}

// Concurrency returns the number of job slots.
func (w *Worker) Concurrency() int { return cap(w.slots) }

// Ready reports whether the worker is receiving and not draining.
func (w *Worker) Ready() bool { return w.ready.Load() }

// Stop begins the shutdown, as canceling Run's ctx does: receiving stops at
// once and running jobs get DrainTimeout to finish. A Stop while the worker
// already drains (a second signal) cancels the running jobs at once and
// releases their messages. Stop does not wait; Run returns when done.
func (w *Worker) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ready.Store(false)
	if !w.stopping {
		w.stopping = true
		close(w.stopCh)
		if w.runCtx == nil || w.runCtx.Err() == nil {
			return
		}
		// Run's ctx already ended: that was the first stage, this is the
		// second.
	}
	if !w.forced {
		w.forced = true
		close(w.forceCh)
	}
}

// beginStop is Stop's first stage only (Run's ctx ended).
func (w *Worker) beginStop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ready.Store(false)
	if !w.stopping {
		w.stopping = true
		close(w.stopCh)
	}
}

// errShutdown is the cancel cause of jobs canceled by a forced shutdown.
var errShutdown = fault.New(fault.Shutdown, "canceled by worker shutdown")

// Run receives and runs jobs until ctx is done or Stop is called, then shuts
// down in two stages: it stops receiving at once, waits up to DrainTimeout
// for the running jobs, then cancels those left and releases their messages
// with no delay. It returns nil on a clean stop; errors from the queue or
// storage are logged and retried, never returned. Run may be called once.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return errors.New("worker: Run called twice")
	}
	w.started = true
	w.runCtx = ctx
	w.mu.Unlock()

	base := context.WithoutCancel(ctx)
	recvCtx, recvCancel := context.WithCancel(base)
	defer recvCancel()
	jobsCtx, jobsCancel := context.WithCancelCause(base)
	defer jobsCancel(errShutdown)
	hbCtx, hbCancel := context.WithCancel(base)
	defer hbCancel()

	hbDone := make(chan struct{})
	go func() { w.hb.run(hbCtx); close(hbDone) }()

	var handlers sync.WaitGroup
	loopDone := make(chan struct{})
	w.mu.Lock()
	if !w.stopping {
		w.ready.Store(true)
	}
	w.mu.Unlock()
	w.log.Info("worker started", zap.Int("concurrency", cap(w.slots)),
		zap.Duration("visibility", w.visibility), zap.Duration("drain_timeout", w.drain))
	go func() {
		defer close(loopDone)
		w.receiveLoop(recvCtx, jobsCtx, &handlers)
	}()

	select {
	case <-ctx.Done():
		w.beginStop()
	case <-w.stopCh:
	}
	w.log.Info("drain started: receiving stopped", zap.Int64("running", w.running.Load()), zap.Duration("drain_timeout", w.drain))
	recvCancel()
	<-loopDone

	handlersDone := make(chan struct{})
	go func() { handlers.Wait(); close(handlersDone) }()
	timer := time.NewTimer(w.drain)
	defer timer.Stop()
	canceled := false
	select {
	case <-handlersDone:
	case <-timer.C:
		canceled = true
		w.log.Warn("drain timeout: canceling running jobs and releasing their messages", zap.Int64("running", w.running.Load()))
	case <-w.forceCh:
		canceled = true
		w.log.Warn("forced stop: canceling running jobs and releasing their messages", zap.Int64("running", w.running.Load()))
	}
	jobsCancel(errShutdown)
	<-handlersDone
	hbCancel()
	<-hbDone
	w.log.Info("drain finished: worker stopped", zap.Bool("jobs_canceled", canceled))
	return nil
}

// receiveLoop receives as many messages as there are free slots and starts
// a handler for each, until ctx is done.
func (w *Worker) receiveLoop(ctx, jobsCtx context.Context, handlers *sync.WaitGroup) {
	var errDelay time.Duration
	for {
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	more:
		for n < queue.MaxBatch {
			select {
			case w.slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		msgs, err := w.q.Receive(ctx, n, ReceiveWait, w.visibility)
		for range n - len(msgs) {
			<-w.slots
		}
		if ctx.Err() != nil {
			// Stopping: give back what arrived with the stop.
			for _, m := range msgs {
				w.finish(w.msgLog(m), "release", time.Time{}, func(c context.Context) error { return w.q.Release(c, m, 0) })
				<-w.slots
			}
			return
		}
		if err != nil {
			errDelay = min(max(2*errDelay, 100*time.Millisecond), 30*time.Second)
			w.log.Warn("receive failed; retrying", zap.Error(err), zap.Duration("retry_in", errDelay))
			t := time.NewTimer(errDelay)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
			continue
		}
		errDelay = 0
		for _, m := range msgs {
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				defer func() { <-w.slots }()
				w.handle(jobsCtx, m)
			}()
		}
	}
}

// msgLog returns the logger for message m.
func (w *Worker) msgLog(m queue.Message) *zap.Logger {
	return w.log.With(zap.String("message_id", m.ID), zap.Int("attempt", m.ReceiveCount))
}

// finish runs a queue call that ends a message (ack, release, dead-letter),
// retrying failures a few times; ErrLeaseLost is final. While the queue is
// unavailable (fault.Infra) it goes on trying, with growing pauses, as long
// as the message's lease (until, zero: unknown) outlives the next try by
// leaseMargin and the worker is not forced to stop: an SQS outage as the
// job ends then costs time, not another receive. It reports whether the
// call succeeded.
func (w *Worker) finish(log *zap.Logger, what string, until time.Time, call func(context.Context) error) bool {
	delay := 250 * time.Millisecond
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := call(ctx)
		cancel()
		outage := fault.Is(err, fault.Infra) && time.Now().Add(delay+leaseMargin).Before(until)
		switch {
		case err == nil:
			return true
		case errors.Is(err, queue.ErrLeaseLost):
			log.Warn(what+" failed: lease lost; the message belongs to another delivery now", zap.Error(err))
			return false
		case try >= 4 && !outage:
			log.Error(what+" failed; the message becomes visible again when its lease runs out", zap.Error(err))
			return false
		}
		log.Warn(what+" failed; retrying", zap.Error(err), zap.Int("try", try), zap.Bool("queue_unavailable", outage))
		select {
		case <-time.After(delay):
		case <-w.forceCh:
			if try >= 4 {
				log.Error(what+" failed; forced stop: the message becomes visible again when its lease runs out", zap.Error(err))
				return false
			}
		}
		delay = min(2*delay, 10*time.Second)
	}
}

// leaseMargin is how long before a lease runs out finish stops trying.
const leaseMargin = 5 * time.Second

// handle works on one message: parse it and run its jobs in sequence
// (process), decide what the message's fate is (Decide), then carry it out
// (apply).
func (w *Worker) handle(jobsCtx context.Context, m queue.Message) {
	w.m.InFlight.Inc()
	w.running.Add(1)
	defer func() {
		w.running.Add(-1)
		w.m.InFlight.Dec()
	}()
	if !m.SentAt.IsZero() {
		w.m.ReceiveLatency.Observe(max(0, w.now().Sub(m.SentAt).Seconds()))
	}
	log := w.msgLog(m)

	lctx, cancel := context.WithCancelCause(jobsCtx)
	defer cancel(nil)
	l := &lease{msg: m, ctx: lctx, cancel: cancel, log: log, until: time.Now().Add(w.visibility)}
	w.hb.register(l)
	v, failed := w.process(l, m, log)
	w.hb.deregister(l)
	w.apply(log, m, l.expiry(), v, failed)
}

// process parses message m and runs its jobs under lease l, and returns
// the verdict on the message and, for a dead letter, the jobs that failed
// for good.
func (w *Worker) process(l *lease, m queue.Message, log *zap.Logger) (Verdict, []failedJob) {
	jobs, err := job.ParseMessage(m.Body, w.rules)
	if err != nil {
		v := w.decide(err, Attempt{Receive: m.ReceiveCount})
		switch v.Action {
		case ActAck:
			log.Info("message ignored: it asks for no work", zap.String("reason", err.Error()))
			w.m.Jobs.WithLabelValues(OutcomeIgnored).Inc()
		case ActRetry:
			log.Warn("message not parsed; releasing it", zap.Error(err))
			w.m.Jobs.WithLabelValues(OutcomeRetried).Inc()
		}
		return v, nil
	}
	log.Info("message received", zap.Int("jobs", len(jobs)))
	if w.liveQ != nil {
		var rest []*job.Job
		v, err := w.keep(l, m, log, func() error {
			var err error
			rest, err = w.forwardLive(l.ctx, jobs, log)
			return err
		}, nil)
		if err != nil {
			log.Warn("forwarding live-segment jobs failed; releasing the message", zap.Error(err))
			w.m.Jobs.WithLabelValues(OutcomeRetried).Inc()
			return v, nil
		}
		if jobs = rest; len(jobs) == 0 {
			log.Info("the message's live-segment jobs were forwarded")
			return Verdict{Action: ActAck}, nil
		}
	}
	var dead *Verdict
	var failed []failedJob
	for _, j := range jobs {
		switch v := w.runJob(l, m, j, log.With(zap.String("job_id", j.ID))); v.Action {
		case ActAck:
		case ActDeadLetter:
			if dead == nil {
				dead = &v
			}
			failed = append(failed, failedJob{j, v.Reason})
		default:
			return v, nil
		}
	}
	if dead != nil {
		return *dead, failed
	}
	return Verdict{Action: ActAck}, nil
}

// apply carries out verdict v on message m: the one place a message is
// acknowledged, released or dead-lettered after its work.
func (w *Worker) apply(log *zap.Logger, m queue.Message, until time.Time, v Verdict, failed []failedJob) {
	switch v.Action {
	case ActAck:
		if w.finish(log, "ack", until, func(c context.Context) error { return w.q.Ack(c, m) }) {
			log.Info("message acknowledged")
		}
	case ActRetry:
		w.release(log, m, until, v.Delay)
	case ActRelease:
		w.release(log, m, until, 0)
	case ActWait: // keep waits; a wait interrupted ends in another verdict
		w.release(log, m, until, v.Delay)
	case ActDeadLetter:
		if !w.deadLetter(log, m, until, v.Reason) {
			return
		}
		if len(failed) == 0 { // the message itself is at fault
			w.emit(job.EventDeadLettered, nil, job.Status{State: job.StateFailed, Reason: v.Class.String(), Error: v.Reason,
				Attempt: m.ReceiveCount, Worker: w.id, UpdatedAt: w.now()}, v.Reason)
		}
		for _, f := range failed {
			// A chunk's dead letter is its job's (the parent's) event.
			j, reason := f.j.ParentJob(), f.reason
			if c := f.j.Chunk; f.j.Kind == job.KindChunk && c != nil {
				reason = chunkReason(c, reason)
			}
			w.emit(job.EventDeadLettered, j, job.Status{JobID: j.ID, State: job.StateFailed, Reason: v.Class.String(),
				Error: reason, Attempt: m.ReceiveCount, Worker: w.id, Source: j.Source, Output: j.Output,
				UpdatedAt: w.now()}, reason)
		}
	case ActLeave:
	}
}

// forwardLive sends the live-segment jobs among jobs to the live queue and
// returns the others. A redelivered message sends again; the FIFO
// deduplication id drops the repeat.
func (w *Worker) forwardLive(ctx context.Context, jobs []*job.Job, log *zap.Logger) ([]*job.Job, error) {
	var rest []*job.Job
	for _, j := range jobs {
		if j.Kind != job.KindLiveSegment {
			rest = append(rest, j)
			continue
		}
		if _, err := queue.SendJob(ctx, w.liveQ, j); err != nil {
			return nil, fmt.Errorf("job %s: %w", j.ID, err)
		}
		log.Info("live-segment job forwarded to the live queue", zap.String("job_id", j.ID),
			zap.String("stream", j.Live.Stream), zap.Int64("seq", j.Live.Sequence), zap.Bool("end", j.Live.End))
	}
	return rest, nil
}

// failedJob is a job of a message that failed for good, with its reason.
type failedJob struct {
	j      *job.Job
	reason string
}

// deadLetter moves m to the dead-letter queue with reason and reports
// whether it did.
func (w *Worker) deadLetter(log *zap.Logger, m queue.Message, until time.Time, reason string) bool {
	if w.finish(log, "dead-letter", until, func(c context.Context) error { return w.q.DeadLetter(c, m, reason) }) {
		w.m.Jobs.WithLabelValues(OutcomeDeadLettered).Inc()
		log.Warn("message dead-lettered", zap.String("reason", reason))
		return true
	}
	return false
}

// release makes m visible again after delay.
func (w *Worker) release(log *zap.Logger, m queue.Message, until time.Time, delay time.Duration) {
	if w.finish(log, "release", until, func(c context.Context) error { return w.q.Release(c, m, delay) }) {
		log.Info("message released", zap.Duration("delay", delay))
	}
}

// runJob runs job j of message m under lease l and returns the verdict
// (ActAck: published, or someone else published it). A try that fails on
// an infrastructure fault is repeated in this delivery after a wait
// (Worker.keep); every failed try is recorded (status, event, metrics).
func (w *Worker) runJob(l *lease, m queue.Message, j *job.Job, log *zap.Logger) Verdict {
	if j.Kind == job.KindChunk {
		return w.runChunk(l, m, j, log)
	}
	rj := w.track(l, j)
	defer w.untrack(l)
	if h, ok := w.out.(OutputHolder); ok {
		defer h.Hold(j)()
	}
	base := job.Status{JobID: j.ID, Attempt: m.ReceiveCount, Worker: w.id, Source: j.Source, Output: j.Output}
	st := base
	v, _ := w.keep(l, m, log, func() error {
		var err error
		st, err = w.tryJob(l, m, j, rj, base, log)
		return err
	}, func(err error, v Verdict) { w.recordFailure(l, j, st, err, v, log) })
	return v
}

// tryJob is one try of job j: the check for a published output (then
// acknowledged without work, its stale status repaired), then the runner.
// It returns the status the try reached and what went wrong (nil:
// published, or someone else published it), a permanent failure's error
// with the input's fingerprint.
func (w *Worker) tryJob(l *lease, m queue.Message, j *job.Job, rj *running, st job.Status, log *zap.Logger) (job.Status, error) {
	ctx := l.ctx
	if ctx.Err() != nil {
		return st, w.interrupted(l, log)
	}
	published, err := w.out.Published(ctx, j)
	if err != nil {
		if ctx.Err() != nil {
			return st, w.interrupted(l, log)
		}
		log.Warn("checking for a published output failed", zap.Error(err))
		return st, fmt.Errorf("checking for a published output: %w", err)
	}
	if published {
		log.Info("output already published: acknowledging without work", zap.String("output", j.Output))
		w.m.Jobs.WithLabelValues(OutcomeDuplicate).Inc()
		return st, w.repairStatus(ctx, m, j, log)
	}

	start := w.now()
	st.State, st.StartedAt, st.UpdatedAt = job.StateRunning, start, start
	w.writeStatus(ctx, j, st, log)
	w.emit(job.EventStarted, j, st, "")
	log.Info("job started", zap.String("source", j.Source), zap.String("output", j.Output))
	p := &progressTracker{w: w, ctx: ctx, j: j, st: st, log: log, lastWrite: start}
	out, err := w.runner.Run(ctx, j, rj.wrap(p.update))
	st = p.close()
	if err == nil && out == nil {
		err = errors.New("the runner reported no outcome")
	}
	st.UpdatedAt = w.now()
	if err != nil {
		return st, w.runFailed(l, j, err, log)
	}
	if out.Planned > 0 {
		return st, w.planned(l, m, j, out, log)
	}
	w.jobDone(l, m, j, st, out, start, log)
	if l.isLost() {
		return st, errLeaseLost
	}
	return st, nil
}

// jobDone records a successful run: published here (metrics, then the
// status and the event), or published by someone else meanwhile.
func (w *Worker) jobDone(l *lease, m queue.Message, j *job.Job, st job.Status, out *Outcome, start time.Time, log *zap.Logger) {
	w.observeLive(j, out)
	if !out.Published {
		log.Info("output published by someone else meanwhile: acknowledging")
		w.m.Jobs.WithLabelValues(OutcomeDuplicate).Inc()
		return
	}
	end := st.UpdatedAt
	wall := end.Sub(start).Seconds()
	speed := out.Speed
	if speed <= 0 && wall > 0 && out.Duration > 0 {
		speed = out.Duration / wall
	}
	st.State, st.Progress, st.FinishedAt = job.StatePublished, 100, &end
	st.Duration, st.Speed, st.Renditions, st.BytesOut = out.Duration, speed, out.Renditions, out.BytesOut
	st.Extras = out.Extras
	st.PublishedBy, st.AttemptID = j.ID, out.AttemptID
	w.m.Jobs.WithLabelValues(OutcomePublished).Inc()
	w.m.Duration.Observe(max(wall, 0))
	if speed > 0 {
		w.m.RealtimeFactor.Observe(speed)
	}
	w.m.OutputBytes.Add(float64(max(out.BytesOut, 0)))
	log.Info("job published", zap.Float64("wall_seconds", wall), zap.Float64("media_seconds", out.Duration),
		zap.Float64("speed", speed), zap.Int("renditions", out.Renditions), zap.Int64("bytes_out", out.BytesOut),
		zap.String("attempt_id", out.AttemptID))
	w.publishStatus(l, m, j, st, log)
}

// runFailed classifies a failed run for Decide: the shutdown or lost lease
// that interrupted it, the input's fault with its fingerprint, or the
// crash, infrastructure or transient error as it is.
func (w *Worker) runFailed(l *lease, j *job.Job, err error, log *zap.Logger) error {
	if l.ctx.Err() != nil {
		return w.interrupted(l, log)
	}
	if fault.Of(err) != fault.Input {
		return err
	}
	fp := w.out.Fingerprint(context.WithoutCancel(l.ctx), j)
	if fp == "" {
		fp = "unknown"
	}
	log.Warn("job failed: the input is at fault; not retrying", zap.Error(err), zap.String("fingerprint", fp))
	return fmt.Errorf("%w fingerprint=%s", err, fp)
}

// recordFailure records a failed try of j, whose status had reached st, as
// verdict v says: released by a shutdown (queued), failed for good, or
// retrying (in this delivery after a wait, or after a release); a lost
// lease records nothing (the message belongs to another delivery).
func (w *Worker) recordFailure(l *lease, j *job.Job, st job.Status, err error, v Verdict, log *zap.Logger) {
	now := w.now()
	st.UpdatedAt, st.Error, st.Reason = now, err.Error(), v.Class.String()
	switch v.Action {
	case ActLeave, ActAck:
		return
	case ActRelease:
		st.State, st.Error = job.StateQueued, errShutdown.Error()
		w.writeStatus(l.ctx, j, st, log)
		w.emit(job.EventReleased, j, st, st.Error)
		return
	case ActDeadLetter:
		st.State, st.Error, st.FinishedAt = job.StateFailed, v.Reason, &now
		w.writeStatus(l.ctx, j, st, log)
		w.emit(job.EventFailed, j, st, st.Error)
		if v.Class != fault.Input {
			log.Warn("job failed on the queue's last receive: dead-lettering it with the last error", zap.String("reason", v.Reason))
		}
	default: // ActRetry, ActWait
		retryAt := now.Add(v.Delay)
		st.State, st.RetryAt = job.StateRetrying, &retryAt
		w.writeStatus(l.ctx, j, st, log)
		w.emit(job.EventRetrying, j, st, st.Error)
		log.Warn("job failed; it will be retried", zap.Error(err), zap.String("class", st.Reason),
			zap.Stringer("action", v.Action), zap.Duration("delay", v.Delay))
	}
	switch v.Class {
	case fault.Input:
		if j.Kind == job.KindLiveSegment && j.Live != nil && !j.Live.End {
			w.m.LiveSkipped.Inc() // the job process recorded it skipped in the playlists
		}
		w.m.Jobs.WithLabelValues(OutcomeFailed).Inc()
	case fault.Crashed:
		w.m.Jobs.WithLabelValues(OutcomeCrashed).Inc()
	default:
		w.m.Jobs.WithLabelValues(OutcomeRetried).Inc()
	}
}

// observeLive records a live-segment job's metrics.
func (w *Worker) observeLive(j *job.Job, out *Outcome) {
	if j.Kind != job.KindLiveSegment {
		return
	}
	if out.LiveLatency > 0 {
		w.m.LiveLatency.Observe(out.LiveLatency)
	}
	if out.LiveRealtimeFactor > 0 {
		w.m.LiveRealtimeFactor.Observe(out.LiveRealtimeFactor)
	}
	if out.LiveSkipped > 0 {
		w.m.LiveSkipped.Add(float64(out.LiveSkipped))
	}
}

// interrupted classifies a job whose lease context ended: the lease was
// lost (errLeaseLost), or the worker shut down (errShutdown).
func (w *Worker) interrupted(l *lease, log *zap.Logger) error {
	if l.isLost() {
		log.Warn("job canceled: lease lost; leaving the message to its new delivery")
		return errLeaseLost
	}
	log.Warn("job canceled by shutdown; releasing it for another worker")
	return errShutdown
}

// progressTracker turns Runner progress into logs (every 10%) and status
// writes (every progressInterval or progressStep percent).
type progressTracker struct {
	w   *Worker
	ctx context.Context
	j   *job.Job
	log *zap.Logger

	mu        sync.Mutex
	st        job.Status
	closed    bool
	lastWrite time.Time
	lastPct   float64
	decile    int
}

// update is the Runner's progress callback.
func (p *progressTracker) update(pr Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	pct := min(max(pr.Percent, 0), 100)
	if d := int(pct / 10); d > p.decile {
		p.decile = d
		p.log.Info("progress", zap.Float64("percent", pct), zap.Float64("speed", pr.Speed),
			zap.Float64("media_seconds", pr.MediaSeconds))
		if d < 10 { // 100% is the published event
			ev := p.st
			ev.Progress, ev.UpdatedAt = pct, p.w.now()
			p.w.emit(job.EventProgress, p.j, ev, "")
		}
	}
	now := p.w.now()
	if now.Sub(p.lastWrite) < progressInterval && pct-p.lastPct < progressStep {
		return
	}
	p.lastWrite, p.lastPct = now, pct
	p.st.Progress, p.st.UpdatedAt = pct, now
	p.w.writeStatus(p.ctx, p.j, p.st, p.log)
}

// close stops updates and returns the status as last written.
func (p *progressTracker) close() job.Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return p.st
}

// nopOutputs is the Outputs of a Config without one.
type nopOutputs struct{}

func (nopOutputs) Published(context.Context, *job.Job) (bool, error)       { return false, nil }
func (nopOutputs) WriteStatus(context.Context, *job.Job, job.Status) error { return nil }
func (nopOutputs) Fingerprint(context.Context, *job.Job) string            { return "" }
