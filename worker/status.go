package worker

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/fault"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
)

// StatusRepairer is implemented by Outputs that can correct the status
// document of an output found published (StorageOutputs).
type StatusRepairer interface {
	// RepairStatus makes j's status document say published when the
	// master exists and the document says otherwise (a publisher died
	// between its master and its status write), by compare-and-swap. by
	// names who repairs it (JobID, Attempt, Worker, UpdatedAt). It returns
	// the document written and true when this call wrote it; false when
	// there was nothing to repair or another write came first.
	RepairStatus(ctx context.Context, j *job.Job, by job.Status) (job.Status, bool, error)
}

// writeStatus writes st, logging a failure (a status document is
// advisory), and returns the error. A write dropped because job.json
// already says published (ErrStatusFinal) is counted and logged as such.
func (w *Worker) writeStatus(ctx context.Context, j *job.Job, st job.Status, log *zap.Logger) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	err := w.out.WriteStatus(ctx, j, st)
	switch {
	case errors.Is(err, ErrStatusFinal):
		w.m.StatusWrites.WithLabelValues("dropped").Inc()
		log.Info("status write dropped: job.json already says published", zap.String("state", st.State))
	case err != nil:
		log.Warn("writing the job status failed", zap.String("state", st.State), zap.Error(err))
	}
	return err
}

// publishStatus writes the published status st of j, waiting out an
// unavailable storage as long as the policy allows, and sends the published
// event when the write won. A write dropped because job.json already says
// published (a repair or another attempt came first) sends nothing: that
// writer sent it. A write that failed otherwise sends the event anyway: the
// output is published.
func (w *Worker) publishStatus(l *lease, m queue.Message, j *job.Job, st job.Status, log *zap.Logger) {
	_, err := w.keep(l, m, log, func() error { return w.writeStatus(l.ctx, j, st, log) }, nil)
	if errors.Is(err, ErrStatusFinal) {
		log.Info("another attempt or a repair recorded the publish first: no published event from this attempt")
		return
	}
	if err != nil {
		log.Error("job.json does not say published; a later delivery or submission of this output repairs it", zap.Error(err))
	}
	w.emit(job.EventPublished, j, st, "")
}

// repairStatus corrects the status document of j's output, found
// published: a publisher that died between its master and its status write
// left "running" there, and no published event was sent. The delivery whose
// compare-and-swap corrects it sends the event, so it goes out once. An
// infrastructure fault is returned (the try is repeated); other failures
// are logged.
func (w *Worker) repairStatus(ctx context.Context, m queue.Message, j *job.Job, log *zap.Logger) error {
	r, ok := w.out.(StatusRepairer)
	if !ok {
		return nil
	}
	by := job.Status{JobID: j.ID, Attempt: m.ReceiveCount, Worker: w.id, UpdatedAt: w.now()}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	st, wrote, err := r.RepairStatus(wctx, j, by)
	switch {
	case err != nil && fault.Is(err, fault.Infra):
		return fmt.Errorf("repairing the status of the published output: %w", err)
	case err != nil:
		log.Warn("repairing the status of the published output failed", zap.Error(err))
		return nil
	case !wrote:
		return nil
	}
	w.m.StatusWrites.WithLabelValues("repaired").Inc()
	log.Warn("job.json did not say published on a published output: repaired, sending the published event",
		zap.String("status_job_id", st.JobID), zap.String("attempt_id", st.AttemptID))
	w.emit(job.EventPublished, j, st, "")
	return nil
}
