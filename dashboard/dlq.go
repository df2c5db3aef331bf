package dashboard

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
)

// deadLetters lists and redrives Config.DeadLetters, reusing a listing for
// Config.DeadLetterCache.
type deadLetters struct {
	store    queue.DeadLetterStore
	max      int
	cacheFor time.Duration

	mu     sync.Mutex
	cached []queue.DeadLetter
	at     time.Time
}

func (d *deadLetters) list(ctx context.Context) ([]queue.DeadLetter, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cached != nil && time.Since(d.at) < d.cacheFor {
		return d.cached, nil
	}
	dl, err := d.store.ListDeadLetters(ctx, d.max)
	if err != nil {
		return nil, err
	}
	if d.cacheFor > 0 {
		d.cached, d.at = dl, time.Now()
	}
	return dl, nil
}

// redrive moves the dead letter with message id back to its queue;
// queue.ErrNotFound if there is none. The cached listing is dropped before
// and after (a listing that ran meanwhile may still show the letter).
func (d *deadLetters) redrive(ctx context.Context, id string) error {
	d.drop()
	defer d.drop()
	_, err := d.store.Redrive(ctx, id)
	return err
}

func (d *deadLetters) drop() {
	d.mu.Lock()
	d.cached = nil
	d.mu.Unlock()
}

// handleRetry redrives one dead letter (?id=) and shows its job as queued.
func (s *Server) handleRetry(w http.ResponseWriter, r *http.Request) {
	if s.dead == nil {
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
	if err := s.dead.redrive(r.Context(), id); err != nil {
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
