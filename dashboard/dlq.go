package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
)

// LocalDeadLetters is the dead-letter store of the embedded local queue.
type LocalDeadLetters struct{ Q *queue.Local }

// List implements DeadLetters.
func (l LocalDeadLetters) List(ctx context.Context) ([]queue.DeadLetter, error) {
	return l.Q.DeadLetters(ctx)
}

// Redrive implements DeadLetters.
func (l LocalDeadLetters) Redrive(ctx context.Context, id string) error { return l.Q.Redrive(ctx, id) }

// QueueDeadLetters is a dead-letter queue (SQS) next to its source queue.
// Listing receives the dead letters with a short lease and releases them at
// once, so it never consumes one; Redrive sends the dead letter's body (and
// its own attributes, less the dead-letter ones) back to Source and then
// deletes it from DLQ. Listings are cached for CacheFor, since each one costs
// receive calls.
type QueueDeadLetters struct {
	Source, DLQ queue.Queue
	// Max is the most dead letters listed (0: 100).
	Max int
	// CacheFor is how long a listing is reused (0: 10 s).
	CacheFor time.Duration

	mu     sync.Mutex
	cached []queue.DeadLetter
	at     time.Time
}

// List implements DeadLetters.
func (d *QueueDeadLetters) List(ctx context.Context) ([]queue.DeadLetter, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cache := d.CacheFor
	if cache <= 0 {
		cache = 10 * time.Second
	}
	if d.cached != nil && time.Since(d.at) < cache {
		return d.cached, nil
	}
	max := d.Max
	if max <= 0 {
		max = 100
	}
	var held []queue.Message
	defer func() {
		for _, m := range held {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_ = d.DLQ.Release(rctx, m, 0)
			cancel()
		}
	}()
	out := []queue.DeadLetter{}
	seen := map[string]bool{}
	for len(held) < max {
		ms, err := d.DLQ.Receive(ctx, queue.MaxBatch, 0, 30*time.Second)
		if err != nil {
			return nil, err
		}
		if len(ms) == 0 {
			break
		}
		fresh := 0
		for _, m := range ms {
			held = append(held, m)
			dl := queue.DeadLetterOf(m)
			if seen[m.ID] {
				continue
			}
			seen[m.ID] = true
			fresh++
			out = append(out, dl)
		}
		if fresh == 0 {
			break
		}
	}
	d.cached, d.at = out, time.Now()
	return out, nil
}

// Redrive implements DeadLetters. id is the dead letter's id as List shows it
// (the original message id when the dead letter carries one).
func (d *QueueDeadLetters) Redrive(ctx context.Context, id string) error {
	d.mu.Lock()
	d.cached = nil
	d.mu.Unlock()
	var held []queue.Message
	defer func() {
		for _, m := range held {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_ = d.DLQ.Release(rctx, m, 0)
			cancel()
		}
	}()
	seen := map[string]bool{}
	for tries := 0; tries < 20; tries++ {
		ms, err := d.DLQ.Receive(ctx, queue.MaxBatch, time.Second, 30*time.Second)
		if err != nil {
			return err
		}
		if len(ms) == 0 {
			break
		}
		fresh := 0
		var target *queue.Message
		for i, m := range ms {
			if target == nil && (queue.DeadLetterOf(m).ID == id || m.ID == id) {
				target = &ms[i]
				continue
			}
			if !seen[m.ID] {
				fresh++
			}
			seen[m.ID] = true
			held = append(held, m) // released by the deferred loop
		}
		if target != nil {
			m := *target
			if err := queue.SendBack(ctx, d.Source, d.DLQ, m); err != nil {
				held = append(held, m) // visible again at once
				return err
			}
			return nil
		}
		if fresh == 0 {
			break
		}
	}
	return fmt.Errorf("%w: dead letter %q", queue.ErrNotFound, id)
}

// handleRetry redrives one dead letter (?id=) and shows its job as queued.
func (s *Server) handleRetry(w http.ResponseWriter, r *http.Request) {
	if s.cfg.DeadLetters == nil {
		httpError(w, http.StatusServiceUnavailable, "no dead-letter queue is configured here")
		return
	}
	id := r.URL.Query().Get("id")
	if id == "" {
		httpError(w, http.StatusBadRequest, "which dead letter? (?id=)")
		return
	}
	var jobID string
	var dv DeadLetter
	for _, d := range s.hub.state().DeadLetters {
		if d.ID == id {
			dv, jobID = d, d.JobID
		}
	}
	if err := s.cfg.DeadLetters.Redrive(r.Context(), id); err != nil {
		if errors.Is(err, queue.ErrNotFound) {
			httpError(w, http.StatusNotFound, "no dead letter %s (already retried?)", id)
			return
		}
		httpError(w, http.StatusBadGateway, "retrying %s: %v", id, err)
		return
	}
	s.log.Info("dashboard: dead letter retried", zap.String("message_id", id), zap.String("job_id", jobID))
	if jobID != "" {
		cur, _ := s.hub.job(jobID)
		s.hub.update(Job{
			ID: jobID, State: job.StateQueued, Source: dv.Source, Output: dv.Output,
			Path: s.relPath(dv.Output), Attempt: cur.Attempt, UpdatedAt: s.cfg.Now(),
		}, false)
	}
	// Show the shorter list now rather than at the next scan.
	s.Scan(r.Context())
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(mustJSON(map[string]string{"retried": id, "job_id": jobID}))
	_, _ = w.Write([]byte("\n"))
}
