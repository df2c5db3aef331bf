package jobexec

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/attempt"
	"github.com/hlsfleet/hlsfleet/jobexec/protocol"
	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/storage"
)

// execVOD transcodes a VOD job from its source into its output, the master
// playlist last as the conditional publish point. Each run is an attempt
// with names of its own (jobexec/attempt), so that a master, once created,
// reaches only bytes its own attempt wrote. An output someone else already
// published is a done event with Published false.
func execVOD(ctx context.Context, cfg Config, j *job.Job, progress func(pipeline.Progress)) (protocol.Event, error) {
	done := protocol.Event{Event: protocol.EventDone}
	log := cfg.Logger
	ladder, out, err := openJobOutput(ctx, cfg, j)
	if err != nil {
		return done, err
	}
	defer out.Close()
	if by, ok := publishedBy(ctx, out, log); ok {
		log.Info("already published", zap.String("output", j.Output))
		done.AttemptID = by
		return done, nil
	}
	src, err := OpenSource(ctx, j.Source)
	if err != nil {
		return done, err
	}
	defer src.Close()
	if ev, planned, err := planVOD(ctx, cfg, j, ladder, out, src); err != nil || planned {
		return ev, err
	}
	att := attempt.NewID()
	log = log.With(zap.String("attempt", att))
	opt := pipelineOptions(cfg, j, ladder, att, log)
	opt.Input, opt.Reader, opt.InputSize, opt.Progress = src.Path, src.Reader, src.Size, progress
	sink := &StorageSink{Ctx: ctx, Bucket: out}
	res, err := pipeline.Transcode(ctx, opt, sink)
	if err != nil {
		if ev, ok := settle(ctx, out, sink, att, log); ok {
			return ev, nil
		}
		return done, permanentIfInput(err)
	}
	published(&done, res, att)
	tidy(ctx, out, log)
	return done, nil
}

// pipelineOptions are the pipeline options of job j's attempt att, less
// the source and progress: its ladder and segment type, the worker's
// accelerator, names in the attempt's folders.
func pipelineOptions(cfg Config, j *job.Job, ladder *ladders.Ladder, att string, log *zap.Logger) pipeline.Options {
	accel := cfg.Accel
	if accel == "" {
		accel = pipeline.AccelCPU
	}
	return pipeline.Options{
		Ladder: ladder, SegmentType: pipeline.SegmentType(j.SegmentType), Logger: log,
		Accel: accel, GPUSessions: cfg.GPUSessions, Caps: cfg.Caps,
		ObjectName: attempt.ObjectName(att),
	}
}

// permanentIfInput marks a pipeline error that is the input's fault
// permanent (job.ErrPermanent), for the worker to dead-letter at once.
func permanentIfInput(err error) error {
	if errors.Is(err, pipeline.ErrInput) && !errors.Is(err, job.ErrPermanent) {
		return fmt.Errorf("%w: %w", job.ErrPermanent, err)
	}
	return err
}

// published fills done with what attempt att published: the result's
// figures and extras.
func published(done *protocol.Event, res *pipeline.Result, att string) {
	done.Published, done.AttemptID = true, att
	done.Duration, done.Speed, done.Renditions = res.Duration, res.Speed, len(res.Renditions)+len(res.Audio)
	for _, r := range append(res.Renditions, res.Audio...) {
		done.BytesOut += r.Bytes
	}
	done.Extras = extrasOf(res)
}

// openJobOutput resolves j's ladder (a bad one is the job's fault) and
// opens its output; the caller closes it.
func openJobOutput(ctx context.Context, cfg Config, j *job.Job) (*ladders.Ladder, *storage.Bucket, error) {
	ladder, err := ladders.ResolveJob(j.LadderName(), cfg.LadderDir, j.SegmentSeconds)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", job.ErrPermanent, err)
	}
	out, err := storage.Open(ctx, j.Output)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the output %s: %w", j.Output, err)
	}
	return ladder, out, nil
}

// publishedBy reports whether out holds a master already and, if so,
// tidies it and returns the attempt that published it.
func publishedBy(ctx context.Context, out *storage.Bucket, log *zap.Logger) (string, bool) {
	if ok, err := out.Exists(ctx, job.MasterName); err != nil || !ok {
		return "", false
	}
	return tidy(ctx, out, log), true
}

// settle deletes what a run that did not publish wrote, when nothing can
// reach it: the run never tried the master's create, or another attempt's
// master is there. If the output turns out published (by another attempt,
// or by this one when its create was answered with an error after taking
// effect, a retried request), it returns the done event to report in
// place of the error. When the master's create was tried and no master is
// readable, the run's objects stay (a create that failed on our side may
// still have taken effect); the attempt that publishes deletes them.
func settle(ctx context.Context, out *storage.Bucket, sink *StorageSink, att string, log *zap.Logger) (protocol.Event, bool) {
	done := protocol.Event{Event: protocol.EventDone}
	names, tried := sink.Written()
	if !tried {
		removeOwn(ctx, out, names, log)
		return done, false
	}
	master, err := out.ReadAll(ctx, job.MasterName)
	if err != nil {
		log.Info("not published; this attempt's objects are left for the attempt that publishes", zap.Error(err))
		return done, false
	}
	done.AttemptID = attempt.PublishedBy(master)
	if done.AttemptID == att {
		log.Warn("the master's create reported an error, but the master is this attempt's")
		done.Published = true
		tidy(ctx, out, log)
		return done, true
	}
	log.Info("another attempt published first", zap.String("published_by", done.AttemptID))
	removeOwn(ctx, out, names, log)
	tidy(ctx, out, log)
	return done, true
}

// removeOwn deletes the objects this attempt wrote; a failure (or a run
// already cancelled) leaves them to the next attempt's cleanup.
func removeOwn(ctx context.Context, out *storage.Bucket, names []string, log *zap.Logger) {
	if len(names) == 0 {
		return
	}
	if ctx.Err() != nil {
		log.Info("cancelled: this attempt's objects are left for the next attempt's cleanup", zap.Int("objects", len(names)))
		return
	}
	if err := attempt.Delete(ctx, out, names); err != nil {
		log.Warn("deleting this attempt's objects", zap.Int("objects", len(names)), zap.Error(err))
		return
	}
	log.Info("deleted this attempt's objects", zap.Int("objects", len(names)))
}

// tidy deletes what other attempts left in a published output and returns
// the attempt that published it. A failure is only logged: leftovers are
// unreachable, and the next run's tidy tries again.
func tidy(ctx context.Context, out *storage.Bucket, log *zap.Logger) string {
	by, n, err := attempt.Clean(ctx, out)
	if err != nil {
		log.Warn("deleting other attempts' objects", zap.Error(err))
	} else if n > 0 {
		log.Info("deleted other attempts' objects", zap.Int("objects", n), zap.String("published_by", by))
	}
	return by
}

// extrasOf is what job.json reports of a result besides the playlists.
func extrasOf(res *pipeline.Result) job.Extras {
	e := job.Extras{Quality: res.Quality, Poster: res.Poster}
	for _, r := range append(res.Renditions, res.Audio...) {
		e.Playlists = append(e.Playlists, r.Playlist)
	}
	if res.Storyboard != nil {
		e.Storyboard = res.Storyboard.VTT
	}
	if res.MP4 != nil {
		e.MP4 = res.MP4.Name
	}
	return e
}
