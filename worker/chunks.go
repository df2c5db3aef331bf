package worker

// Chunked jobs (issue H) in the worker.
//
// A long VOD job's run does not transcode it: it reports a plan (Outcome
// Planned, Chunk). The worker then sends the plan's chunk jobs
// (job.ChunkJobOfRound: deterministic ids, so a FIFO or local queue drops
// a resend) to Config.ChunkQueue or the queue the job came from, records
// them sent in the plan (ChunkPlans), writes the job's job.json running
// with its chunk figures and acknowledges the message. A redelivery whose
// plan says sent sends nothing.
//
// A chunk job is its parent's in everything the outside sees: every
// status write and event is the parent's (job id, job.json, events). Each
// chunk's worker merges its own entry into the parent's job.json by
// compare-and-swap (StatusUpdater), so concurrent chunks never clobber one
// another: the job's progress is the sum over its chunks. The chunk whose
// run finishes the job publishes it like a single pass (the published
// write, once, sends the published event); a chunk that fails for good is
// dead-lettered with its reason and fails the job with it. Each chunk is a
// message of its own, so shutdown, spot interruptions and retries need
// nothing of their own.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/fault"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
)

// StatusUpdater is implemented by Outputs that can change a job's status
// document in place (StorageOutputs): the chunks of one job, on several
// workers at once, each merge their own figures into it.
type StatusUpdater interface {
	// UpdateStatus applies change to j's job.json by compare-and-swap:
	// change gets the document there (nil: none) and returns the one to
	// write, or nil to write nothing. A write that loses to another reads
	// again and applies change again.
	UpdateStatus(ctx context.Context, j *job.Job, change func(cur *job.Status) *job.Status) error
}

// ChunkPlans is implemented by Outputs that keep long jobs' chunk plans
// (StorageOutputs: chunks.json in the job's output).
type ChunkPlans interface {
	// MarkChunksSent records in j's plan planID that the chunk jobs of
	// round were sent.
	MarkChunksSent(ctx context.Context, j *job.Job, planID string, round int) error
	// MarkChunkFailed records in the plan of chunk job j that its chunk
	// failed for good (the job process records its input faults itself;
	// a chunk that kept crashing or failing is the worker's to record),
	// so that resubmitting the job re-opens the plan.
	MarkChunkFailed(ctx context.Context, j *job.Job, reason string) error
}

// Chunk progress writes to the parent's job.json, a document every chunk
// of the job writes: at most one per chunkProgressInterval, or per
// chunkProgressStep percent of the chunk.
const (
	chunkProgressInterval = 10 * time.Second
	chunkProgressStep     = 25.0
)

// planned carries out a plan reported by parent's run (or by a chunk's,
// re-opening its failed plan): send the chunk jobs unless they were sent,
// record them sent, and write the job running with its chunk figures.
// An error (a send or the record failed) makes the try fail: its retry
// runs the job again, which reports the same plan.
func (w *Worker) planned(l *lease, m queue.Message, parent *job.Job, out *Outcome, log *zap.Logger) error {
	rep := out.Chunk
	if rep == nil || rep.Count != out.Planned {
		return errors.New("the job process reported a chunk plan without its chunks")
	}
	log = log.With(zap.String("plan_id", rep.PlanID), zap.Int("chunks", rep.Count), zap.Int("round", rep.Round))
	if out.Sent {
		log.Info("the plan's chunk jobs were sent already: nothing to send")
	} else if err := w.sendChunks(l.ctx, m, parent, rep, log); err != nil {
		return err
	}
	now := w.now()
	base := job.Status{JobID: parent.ID, Attempt: m.ReceiveCount, Worker: w.id, Source: parent.Source,
		Output: parent.Output, StartedAt: now, UpdatedAt: now}
	w.changeStatus(l.ctx, parent, base, func(st *job.Status, c *job.ChunkStatus) bool {
		st.State, st.Error, st.Reason, st.RetryAt, st.FinishedAt = job.StateRunning, "", "", nil, nil
		if c.PlanID != rep.PlanID {
			*c = job.ChunkStatus{PlanID: rep.PlanID}
		}
		c.Total, c.Done, c.Failed = rep.Count, max(c.Done, rep.Done), nil
		return true
	}, log)
	w.m.Jobs.WithLabelValues(OutcomePlanned).Inc()
	log.Info("job planned into chunk jobs", zap.Int("done", rep.Done), zap.Int("pending", len(rep.Pending)))
	return nil
}

// sendChunks sends the jobs of rep's pending chunks of parent to the chunk
// queue (Config.ChunkQueue, else the queue m came from) and records them
// sent in the plan.
func (w *Worker) sendChunks(ctx context.Context, m queue.Message, parent *job.Job, rep *job.ChunkReport, log *zap.Logger) error {
	q := w.chunkQ
	if q == nil {
		q = queue.Origin(w.q, m)
	}
	for _, i := range rep.Pending {
		cj := job.ChunkJobOfRound(parent, rep.Round, i, rep.Count)
		if _, err := queue.SendJob(ctx, q, cj); err != nil {
			return fmt.Errorf("sending chunk job %s: %w", cj.ID, err)
		}
		w.m.ChunkJobsSent.Inc()
	}
	if cp, ok := w.out.(ChunkPlans); ok {
		if err := cp.MarkChunksSent(ctx, parent, rep.PlanID, rep.Round); err != nil {
			return fmt.Errorf("recording the chunk jobs sent: %w", err)
		}
	}
	log.Info("chunk jobs sent", zap.Int("sent", len(rep.Pending)))
	return nil
}

// chunkEdit edits a chunked job's status document st and its chunk
// figures c (never nil); it returns false to write nothing.
type chunkEdit func(st *job.Status, c *job.ChunkStatus) bool

// changeStatus applies edit to parent's job.json by compare-and-swap
// (StatusUpdater; a document that says published is left alone; base is
// the document when there is none), sets the progress the figures add up
// to, and sends the events the change makes: progress when the job passes
// another 10%, failed when it moves the job to failed. The CAS makes each
// of those one writer's, fleet-wide. It returns the document written, or
// nil; a failure is logged (job.json is advisory).
func (w *Worker) changeStatus(ctx context.Context, parent *job.Job, base job.Status, edit chunkEdit, log *zap.Logger) *job.Status {
	var before, after *job.Status
	change := func(cur *job.Status) *job.Status {
		before, after = cur, nil
		if cur != nil && cur.State == job.StatePublished {
			return nil
		}
		st := base
		if cur != nil {
			st = *cur
		}
		c := &job.ChunkStatus{}
		if st.Chunks != nil {
			cc := *st.Chunks
			c = &cc
		}
		if !edit(&st, c) {
			return nil
		}
		st.Chunks = c
		if p := c.Tally(); st.State != job.StateFailed {
			st.Progress = p
		}
		st.UpdatedAt = w.now()
		after = &st
		return after
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	var err error
	if u, ok := w.out.(StatusUpdater); ok {
		err = u.UpdateStatus(wctx, parent, change)
	} else if st := change(nil); st != nil { // no merging: the edit over base
		err = w.out.WriteStatus(wctx, parent, *st)
	}
	if err != nil {
		log.Warn("writing the job's status failed", zap.Error(err))
		return nil
	}
	w.chunkEvents(parent, before, after)
	return after
}

// chunkEvents sends the events of a chunk's status change before → after.
func (w *Worker) chunkEvents(parent *job.Job, before, after *job.Status) {
	switch {
	case after == nil:
	case after.State == job.StateFailed:
		if before == nil || before.State != job.StateFailed {
			w.m.Jobs.WithLabelValues(OutcomeFailed).Inc()
			w.emit(job.EventFailed, parent, *after, after.Error)
		}
	default:
		was := 0.0
		if before != nil && before.State != job.StateFailed {
			was = before.Progress
		}
		if d := int(after.Progress / 10); d > int(was/10) && d < 10 {
			w.emit(job.EventProgress, parent, *after, "")
		}
	}
}

// chunkReason is a chunk's failure as its job's: reason, said to be chunk
// c's unless it says so already.
func chunkReason(c *job.ChunkRef, reason string) string {
	what := fmt.Sprintf("chunk %d of %d", c.Index, c.Count)
	if strings.Contains(reason, what) {
		return reason
	}
	return what + ": " + reason
}

// chunkRun is one chunk job on this worker.
type chunkRun struct {
	w      *Worker
	l      *lease
	m      queue.Message
	j      *job.Job // the chunk job
	parent *job.Job // its VOD job, whose status and events these are
	key    string   // the chunk's key in job.ChunkStatus.Active
	log    *zap.Logger
}

// runChunk is runJob for chunk job j: the published check, the runner,
// what became of the chunk, all recorded as the parent's.
func (w *Worker) runChunk(l *lease, m queue.Message, j *job.Job, log *zap.Logger) Verdict {
	rj := w.track(l, j)
	defer w.untrack(l)
	parent := j.ParentJob()
	if h, ok := w.out.(OutputHolder); ok {
		defer h.Hold(parent)()
	}
	c := &chunkRun{w: w, l: l, m: m, j: j, parent: parent, key: strconv.Itoa(j.Chunk.Index),
		log: log.With(zap.String("parent_job_id", parent.ID), zap.Int("chunk", j.Chunk.Index), zap.Int("chunks", j.Chunk.Count))}
	v, _ := w.keep(l, m, c.log, func() error { return c.try(rj) }, c.failed)
	return v
}

// try is one try of the chunk: nothing when the job is published (its
// stale job.json repaired), else the runner, then what it reported.
func (c *chunkRun) try(rj *running) error {
	w, l, ctx := c.w, c.l, c.l.ctx
	if ctx.Err() != nil {
		return w.interrupted(l, c.log)
	}
	published, err := w.out.Published(ctx, c.j)
	if err != nil {
		if ctx.Err() != nil {
			return w.interrupted(l, c.log)
		}
		c.log.Warn("checking for a published output failed", zap.Error(err))
		return fmt.Errorf("checking for a published output: %w", err)
	}
	if published {
		c.log.Info("the job is published: acknowledging its chunk without work", zap.String("output", c.j.Output))
		w.m.Chunks.WithLabelValues(ChunkSkipped).Inc()
		return w.repairStatus(ctx, c.m, c.parent, c.log)
	}
	c.change(c.active(job.StateRunning, 0))
	c.log.Info("chunk started", zap.String("source", c.j.Source), zap.String("output", c.j.Output))
	start := w.now()
	p := &chunkProgress{c: c, last: start}
	out, err := w.runner.Run(ctx, c.j, rj.wrap(p.update))
	p.close()
	if err == nil && out == nil {
		err = errors.New("the runner reported no outcome")
	}
	if err != nil {
		return w.runFailed(l, c.j, err, c.log)
	}
	if out.Planned > 0 { // the chunk had failed its plan and is back: re-opened
		c.change(c.gone(nil))
		return w.planned(l, c.m, c.parent, out, c.log)
	}
	c.done(out, start)
	if l.isLost() {
		return errLeaseLost
	}
	return nil
}

// change applies edit to the parent's job.json (changeStatus).
func (c *chunkRun) change(edit chunkEdit) *job.Status {
	now := c.w.now()
	base := job.Status{JobID: c.parent.ID, State: job.StateRunning, Attempt: c.m.ReceiveCount, Worker: c.w.id,
		Source: c.parent.Source, Output: c.parent.Output, StartedAt: now, UpdatedAt: now}
	return c.w.changeStatus(c.l.ctx, c.parent, base, edit, c.log)
}

// active records the chunk as running (or retrying) here, percent done;
// a failed job's document is left alone.
func (c *chunkRun) active(state string, percent float64) chunkEdit {
	return func(st *job.Status, cs *job.ChunkStatus) bool {
		if st.State == job.StateFailed {
			return false
		}
		st.State, st.RetryAt = job.StateRunning, nil
		cs.Total = c.j.Chunk.Count
		if cs.Active == nil {
			cs.Active = map[string]job.ChunkProgress{}
		}
		cs.Active[c.key] = job.ChunkProgress{Worker: c.w.id, State: state, Percent: percent, UpdatedAt: c.w.now()}
		return true
	}
}

// gone drops the chunk's entry and takes the chunks done from rep (nil:
// none), the count chunks.json gave this chunk's run: counts only grow.
func (c *chunkRun) gone(rep *job.ChunkReport) chunkEdit {
	return func(st *job.Status, cs *job.ChunkStatus) bool {
		_, changed := cs.Active[c.key]
		delete(cs.Active, c.key)
		if rep != nil && rep.Done > cs.Done && (cs.PlanID == "" || rep.PlanID == "" || cs.PlanID == rep.PlanID) {
			cs.Done, changed = rep.Done, true
		}
		return changed
	}
}

// done records a successful run: the chunk done (or found done, or with
// nothing to do), or the job published by this run's finish.
func (c *chunkRun) done(out *Outcome, start time.Time) {
	result, done := ChunkSkipped, 0
	if rep := out.Chunk; rep != nil {
		result, done = rep.Result, rep.Done
	}
	if out.Published {
		c.w.m.Chunks.WithLabelValues(ChunkFinished).Inc()
		c.publish(out)
		return
	}
	switch result { // the job process's results are the metric's outcomes
	case job.ChunkTranscoded, job.ChunkDuplicate, job.ChunkSkipped:
	default:
		result = ChunkSkipped
	}
	c.w.m.Chunks.WithLabelValues(result).Inc()
	c.change(c.gone(out.Chunk))
	c.log.Info("chunk run ended", zap.String("result", result), zap.Int("done", done),
		zap.Float64("wall_seconds", c.w.now().Sub(start).Seconds()))
}

// publish writes the parent's published status (its chunk figures
// complete) once: of racing writers the one whose compare-and-swap moves
// job.json to published sends the published event.
func (c *chunkRun) publish(out *Outcome) {
	w := c.w
	var st *job.Status
	var final bool
	write := func() error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.l.ctx), opTimeout)
		defer cancel()
		u, ok := w.out.(StatusUpdater)
		if !ok {
			s := c.publishedStatus(nil, out)
			st = &s
			return w.out.WriteStatus(ctx, c.parent, s)
		}
		return u.UpdateStatus(ctx, c.parent, func(cur *job.Status) *job.Status {
			st, final = nil, false
			if cur != nil && cur.State == job.StatePublished {
				if cur.AttemptID == out.AttemptID { // an earlier try of this write landed
					st = cur
				}
				final = st == nil
				return nil
			}
			s := c.publishedStatus(cur, out)
			st = &s
			return st
		})
	}
	_, err := w.keep(c.l, c.m, c.log, write, nil)
	switch {
	case final || errors.Is(err, ErrStatusFinal):
		c.log.Info("another finish or a repair recorded the publish first: no published event from this one")
		return
	case err != nil: // the output is published all the same
		c.log.Error("job.json does not say published; a later delivery or submission of this output repairs it", zap.Error(err))
		if st == nil {
			s := c.publishedStatus(nil, out)
			st = &s
		}
	}
	wall := 0.0
	if st.FinishedAt != nil && !st.StartedAt.IsZero() {
		wall = st.FinishedAt.Sub(st.StartedAt).Seconds()
	}
	w.m.Jobs.WithLabelValues(OutcomePublished).Inc()
	w.m.Duration.Observe(max(wall, 0))
	if st.Speed > 0 {
		w.m.RealtimeFactor.Observe(st.Speed)
	}
	w.m.OutputBytes.Add(float64(max(out.BytesOut, 0)))
	c.log.Info("job published by this chunk's finish", zap.Float64("wall_seconds", wall), zap.Float64("media_seconds", out.Duration),
		zap.Float64("speed", st.Speed), zap.Int("renditions", out.Renditions), zap.String("attempt_id", out.AttemptID))
	w.emit(job.EventPublished, c.parent, *st, "")
}

// publishedStatus is the parent's published document over cur (nil:
// none): the finish's figures and extras, the speed over the whole job.
func (c *chunkRun) publishedStatus(cur *job.Status, out *Outcome) job.Status {
	now := c.w.now()
	st := job.Status{JobID: c.parent.ID, Attempt: c.m.ReceiveCount, Worker: c.w.id, Source: c.parent.Source,
		Output: c.parent.Output, StartedAt: now}
	if cur != nil {
		st = *cur
	}
	speed := out.Speed
	if wall := now.Sub(st.StartedAt).Seconds(); wall > 0 && out.Duration > 0 {
		speed = out.Duration / wall // the job's, not the finish's
	}
	n := c.j.Chunk.Count
	planID := ""
	if out.Chunk != nil {
		planID = out.Chunk.PlanID
	}
	st.State, st.Progress, st.FinishedAt, st.UpdatedAt = job.StatePublished, 100, &now, now
	st.Error, st.Reason, st.RetryAt = "", "", nil
	st.Duration, st.Speed, st.Renditions, st.BytesOut = out.Duration, speed, out.Renditions, out.BytesOut
	st.Extras = out.Extras
	st.PublishedBy, st.AttemptID = c.parent.ID, out.AttemptID
	st.Chunks = &job.ChunkStatus{PlanID: planID, Total: n, Done: n}
	return st
}

// failed records a failed try of the chunk as verdict v says, in the
// parent's job.json: released (the chunk's entry dropped), failed for good
// (the job fails with the chunk's reason, once), or retrying.
func (c *chunkRun) failed(err error, v Verdict) {
	w := c.w
	switch v.Action {
	case ActLeave, ActAck:
	case ActRelease:
		w.m.Chunks.WithLabelValues(ChunkReleased).Inc()
		c.change(c.gone(nil))
	case ActDeadLetter:
		w.m.Chunks.WithLabelValues(ChunkFailed).Inc()
		reason := chunkReason(c.j.Chunk, v.Reason)
		c.change(func(st *job.Status, cs *job.ChunkStatus) bool {
			delete(cs.Active, c.key)
			if !chunkListed(cs.Failed, c.j.Chunk.Index) {
				cs.Failed = append(cs.Failed, job.ChunkFailure{Index: c.j.Chunk.Index, Reason: reason})
			}
			if st.State != job.StateFailed {
				now := w.now()
				st.State, st.Error, st.Reason, st.FinishedAt, st.RetryAt = job.StateFailed, reason, v.Class.String(), &now, nil
			}
			return true
		})
		c.log.Warn("chunk failed for good: dead-lettering it; the job fails with its reason", zap.String("reason", reason),
			zap.String("class", v.Class.String()))
		c.failPlan(reason)
	default: // ActRetry, ActWait
		w.m.Chunks.WithLabelValues(ChunkRetried).Inc()
		c.change(c.active(job.StateRetrying, 0))
		c.log.Warn("chunk failed; it will be retried", zap.Error(err), zap.String("class", v.Class.String()),
			zap.Stringer("action", v.Action), zap.Duration("delay", v.Delay))
		if v.Class == fault.Crashed {
			w.m.Jobs.WithLabelValues(OutcomeCrashed).Inc()
		}
	}
}

// failPlan records the chunk failed in its plan (ChunkPlans), so that the
// job's resubmission or the chunk's redrive re-opens it.
func (c *chunkRun) failPlan(reason string) {
	cp, ok := c.w.out.(ChunkPlans)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.l.ctx), opTimeout)
	defer cancel()
	if err := cp.MarkChunkFailed(ctx, c.j, reason); err != nil {
		c.log.Warn("recording the chunk's failure in its plan failed; resubmitting the job will not resume it, redriving the chunk will", zap.Error(err))
	}
}

// chunkListed reports whether chunk i is among fs.
func chunkListed(fs []job.ChunkFailure, i int) bool {
	for _, f := range fs {
		if f.Index == i {
			return true
		}
	}
	return false
}

// chunkProgress turns a chunk's runner progress into the chunk's entry in
// the parent's job.json, at most every chunkProgressInterval or
// chunkProgressStep percent.
type chunkProgress struct {
	c *chunkRun

	mu      sync.Mutex
	closed  bool
	last    time.Time
	lastPct float64
}

func (p *chunkProgress) update(pr Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	pct := min(max(pr.Percent, 0), 100)
	now := p.c.w.now()
	if now.Sub(p.last) < chunkProgressInterval && pct-p.lastPct < chunkProgressStep {
		return
	}
	p.last, p.lastPct = now, pct
	p.c.change(p.c.active(job.StateRunning, pct))
}

func (p *chunkProgress) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
}
