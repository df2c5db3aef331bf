package worker

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/hlsfleet/hlsfleet/fault"

	"github.com/hlsfleet/hlsfleet/job"
)

// errInterrupted is the cancel cause of a job released because the
// instance is going away (a spot interruption) and the job would not finish
// in time. Its message is released with no delay, as on a forced shutdown.
var errInterrupted = fault.New(fault.Shutdown, "released: the instance is being interrupted and the job would not finish in time")

// running is one job in runJob, for Interrupt to judge.
type running struct {
	l       *lease
	j       *job.Job
	started time.Time

	mu   sync.Mutex
	last Progress
}

// wrap returns a progress callback that records the latest progress and
// passes it on to next.
func (r *running) wrap(next func(Progress)) func(Progress) {
	return func(p Progress) {
		r.mu.Lock()
		r.last = p
		r.mu.Unlock()
		next(p)
	}
}

func (r *running) progress() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// track records that lease l runs job j; untrack forgets it. After an
// Interrupt no job starts: track cancels the lease at once, so runJob
// releases the message (a later job of a message whose earlier job was kept
// to finish; a published earlier job is acknowledged as a duplicate on the
// next delivery).
func (w *Worker) track(l *lease, j *job.Job) *running {
	r := &running{l: l, j: j, started: w.now()}
	w.tracked.Store(l, r)
	if w.interrupting.Load() {
		l.cancel(errInterrupted)
	}
	return r
}

func (w *Worker) untrack(l *lease) { w.tracked.Delete(l) }

// Running returns the number of messages being worked on now.
func (w *Worker) Running() int { return int(w.running.Load()) }

// Decision is what Interrupt decided for one running job.
type Decision struct {
	JobID     string
	MessageID string
	Progress  Progress
	// Remaining is the estimated time left; Known is false when the job has
	// reported no progress yet (it is then released).
	Remaining time.Duration
	Known     bool
	// Finish: the job is expected to finish before the deadline with the
	// margin to spare and keeps running; otherwise it is released now.
	Finish bool
}

// EstimateRemaining estimates how long a job still runs from its latest
// progress and the time it has run. With a speed (media seconds per wall
// second) and media time done, it is the media time left divided by the
// speed; without a speed, the elapsed time scaled by the fraction left. ok is
// false when the job has reported no progress (nothing to go by).
func EstimateRemaining(p Progress, elapsed time.Duration) (d time.Duration, ok bool) {
	pct := min(p.Percent, 100)
	if pct <= 0 {
		return 0, false
	}
	if pct >= 100 {
		return 0, true
	}
	var secs float64
	if p.Speed > 0 && p.MediaSeconds > 0 {
		total := p.MediaSeconds * 100 / pct
		secs = (total - p.MediaSeconds) / p.Speed
	} else {
		if elapsed <= 0 {
			return 0, false
		}
		secs = elapsed.Seconds() * (100 - pct) / pct
	}
	if math.IsInf(secs, 0) || math.IsNaN(secs) || secs > 1e9 {
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)), true
}

// Interrupt handles a notice that the instance goes away at deadline (a spot
// interruption): receiving stops at once (as Stop's first stage); each
// running job whose estimated remaining time plus margin fits before the
// deadline keeps running, the others are canceled now and their messages
// released with no delay so another worker starts them at once. At
// deadline-margin every job still running is canceled and released (Stop's
// second stage). Interrupt returns its decisions, in job-start order; Run
// returns once the kept jobs are done or released.
func (w *Worker) Interrupt(deadline time.Time, margin time.Duration) []Decision {
	w.interrupting.Store(true)
	w.mu.Lock()
	first := !w.stopping
	w.mu.Unlock()
	if first {
		w.Stop() // stop receiving now
	}
	now := w.now()
	var rs []*running
	w.tracked.Range(func(_, v any) bool {
		rs = append(rs, v.(*running))
		return true
	})
	sort.Slice(rs, func(i, k int) bool { return rs[i].started.Before(rs[k].started) })
	left := deadline.Sub(now) - margin
	var out []Decision
	for _, r := range rs {
		p := r.progress()
		rem, ok := EstimateRemaining(p, now.Sub(r.started))
		d := Decision{JobID: r.j.ID, MessageID: r.l.msg.ID, Progress: p, Remaining: rem, Known: ok,
			Finish: ok && rem <= left}
		if !d.Finish {
			r.l.cancel(errInterrupted)
		}
		out = append(out, d)
	}
	// Whatever still runs at deadline-margin is released then.
	time.AfterFunc(max(left, 0), w.Stop)
	return out
}
