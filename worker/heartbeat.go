package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hlsfleet/hlsfleet/fault"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/queue"
)

// lease is one received message whose visibility the heartbeat keeps
// extending while a job works on it.
type lease struct {
	msg    queue.Message
	ctx    context.Context // canceled when the lease is lost or on forced shutdown
	cancel context.CancelCauseFunc
	log    *zap.Logger

	mu    sync.Mutex
	lost  bool
	until time.Time // when the lease runs out, as far as this worker knows
}

// extended records that the lease now runs until t.
func (l *lease) extended(t time.Time) {
	l.mu.Lock()
	l.until = t
	l.mu.Unlock()
}

// expiry returns when the lease runs out, as far as this worker knows.
func (l *lease) expiry() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until
}

// errLeaseLost is the cancel cause of a job whose lease was lost.
var errLeaseLost = fault.New(fault.LeaseLost, "lease lost: the message was delivered to someone else")

// markLost records that the lease is lost and cancels the job.
func (l *lease) markLost() {
	l.mu.Lock()
	l.lost = true
	l.mu.Unlock()
	l.cancel(errLeaseLost)
}

// isLost reports whether the heartbeat found the lease lost.
func (l *lease) isLost() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// heartbeat is the one goroutine that owns every live lease (asynq's
// heartbeater): jobs register and deregister through channels, and every
// interval it extends the leases that are still registered. A lease found
// lost is canceled and dropped; after a deregistration returns, the lease is
// never extended again, so the job may then ack or release its message.
type heartbeat struct {
	q          queue.Queue
	visibility time.Duration
	interval   time.Duration
	log        *zap.Logger
	metrics    *Metrics

	add    chan *lease
	remove chan *lease
}

func newHeartbeat(q queue.Queue, visibility time.Duration, log *zap.Logger, m *Metrics) *heartbeat {
	return &heartbeat{
		q: q, visibility: visibility, interval: max(visibility/3, time.Millisecond),
		log: log, metrics: m,
		add: make(chan *lease), remove: make(chan *lease),
	}
}

// register hands l to the heartbeat. The heartbeat must be running.
func (h *heartbeat) register(l *lease) { h.add <- l }

// deregister takes l back; once it returns, l is not extended any more.
func (h *heartbeat) deregister(l *lease) { h.remove <- l }

// run extends the registered leases until ctx is done. Callers stop it only
// after every registered lease has been deregistered.
func (h *heartbeat) run(ctx context.Context) {
	leases := map[*lease]struct{}{}
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case l := <-h.add:
			leases[l] = struct{}{}
		case l := <-h.remove:
			delete(leases, l)
		case <-t.C:
			for l := range leases {
				if l.ctx.Err() != nil {
					continue // canceled by shutdown; its job releases it soon
				}
				ectx, cancel := context.WithTimeout(ctx, min(max(h.interval, 2*time.Second), 30*time.Second))
				asked := time.Now()
				err := h.q.Extend(ectx, l.msg, h.visibility)
				cancel()
				switch {
				case err == nil:
					l.extended(asked.Add(h.visibility))
					h.metrics.LeaseExtensions.WithLabelValues("ok").Inc()
				case errors.Is(err, queue.ErrLeaseLost):
					h.metrics.LeaseExtensions.WithLabelValues("lost").Inc()
					l.log.Warn("lease lost: canceling the job; the message now belongs to another delivery")
					l.markLost()
					delete(leases, l)
				default:
					// The lease still has two thirds of its time: try again
					// next tick.
					l.log.Warn("lease extension failed; will try again", zap.Error(err))
				}
			}
		}
	}
}
