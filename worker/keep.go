package worker

import (
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/queue"
)

// Outages cost time, not receives.
//
// A step that fails because storage or the queue is unavailable
// (fault.Infra) is tried again in the same delivery, after a wait of
// InfraBackoff, while the message stays leased: the heartbeat goes on
// extending its visibility, so no other worker receives it and its receive
// count stays where it is. Releasing it with a visibility delay instead
// would spend one receive per try: three 5-20 s backoffs fit in a 60 s
// outage, and a queue with maxReceiveCount 3 would dead-letter a good job
// (issue P saw it with 10 s outages). Waiting in the delivery spends none,
// as long as the lease outlives the outage: storage outages do not touch
// the lease, and in a queue outage the heartbeat's extensions fail too,
// but the lease keeps the two thirds of the visibility the last extension
// left (Visibility/3 between extensions), so a queue outage shorter than
// that costs no receive either. Past InfraHold the message is released with
// the next wait's delay; on the queue's last receive it is dead-lettered
// with the last error (Decide).

// decide is Decide with the worker's policy.
func (w *Worker) decide(err error, a Attempt) Verdict { return Decide(err, a, w.policy) }

// keep runs step until it succeeds or fails in a way that waiting in this
// delivery cannot help, and returns the verdict on the last try and its
// error (nil: ActAck). Decide's ActWait is carried out here: wait, then
// try again. onFail, when not nil, sees every failed try with its verdict,
// also the shutdown or lost lease that ends a wait.
func (w *Worker) keep(l *lease, m queue.Message, log *zap.Logger, step func() error, onFail func(error, Verdict)) (Verdict, error) {
	a := Attempt{Receive: m.ReceiveCount}
	for {
		err := step()
		v := w.decide(err, a)
		if err != nil && onFail != nil {
			onFail(err, v)
		}
		if v.Action != ActWait {
			return v, err
		}
		w.m.InfraWaits.Inc()
		log.Warn("storage or queue unavailable: keeping the message and trying again", zap.Error(err),
			zap.Int("wait", a.Waits+1), zap.Duration("delay", v.Delay), zap.Duration("waited", a.Held))
		if err := w.pause(l, v.Delay, log); err != nil {
			v := w.decide(err, a)
			if onFail != nil {
				onFail(err, v)
			}
			return v, err
		}
		a.Waits++
		a.Held += v.Delay
	}
}

// pause waits d with l's message held. A lost lease or the worker's stop
// ends it early, with the error that says which (a stop releases the
// message at once, for a worker that is not stopping).
func (w *Worker) pause(l *lease, d time.Duration, log *zap.Logger) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-l.ctx.Done():
		return w.interrupted(l, log)
	case <-w.stopCh:
		log.Warn("stopping while waiting out an outage; releasing the message")
		return errShutdown
	}
}
