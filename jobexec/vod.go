package jobexec

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/protocol"
	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/storage"
)

// execVOD transcodes a VOD job from its source into its output, the master
// playlist last as the conditional publish point. An output someone else
// already published is a done event with Published false.
func execVOD(ctx context.Context, cfg Config, j *job.Job, progress func(pipeline.Progress)) (protocol.Event, error) {
	done := protocol.Event{Event: protocol.EventDone}
	log := cfg.Logger
	ladder, err := ladders.Resolve(j.LadderName(), j.SegmentSeconds)
	if err != nil {
		return done, fmt.Errorf("%w: %w", job.ErrPermanent, err)
	}
	out, err := storage.Open(ctx, j.Output)
	if err != nil {
		return done, fmt.Errorf("opening the output %s: %w", j.Output, err)
	}
	defer out.Close()
	if ok, err := out.Exists(ctx, job.MasterName); err == nil && ok {
		log.Info("already published", zap.String("output", j.Output))
		return done, nil
	}
	src, err := OpenSource(ctx, j.Source)
	if err != nil {
		return done, err
	}
	defer src.Close()
	accel := cfg.Accel
	if accel == "" {
		accel = pipeline.AccelCPU
	}
	opt := pipeline.Options{
		Input: src.Path, Reader: src.Reader, InputSize: src.Size,
		Ladder: ladder, SegmentType: pipeline.SegmentType(j.SegmentType),
		Progress: progress, Logger: log,
		Accel: accel, GPUSessions: cfg.GPUSessions, Caps: cfg.Caps,
	}
	res, err := pipeline.Transcode(ctx, opt, &StorageSink{Ctx: ctx, Bucket: out})
	if errors.Is(err, storage.ErrExists) {
		log.Info("another worker published first", zap.String("output", j.Output))
		return done, nil
	}
	if err != nil {
		if errors.Is(err, pipeline.ErrInput) {
			err = fmt.Errorf("%w: %w", job.ErrPermanent, err)
		}
		return done, err
	}
	done.Published = true
	done.Duration, done.Speed, done.Renditions = res.Duration, res.Speed, len(res.Renditions)+len(res.Audio)
	for _, r := range append(res.Renditions, res.Audio...) {
		done.BytesOut += r.Bytes
	}
	done.Extras = extrasOf(res)
	return done, nil
}

// extrasOf is what job.json reports of a result besides the playlists.
func extrasOf(res *pipeline.Result) job.Extras {
	e := job.Extras{Quality: res.Quality, Poster: res.Poster}
	if res.Storyboard != nil {
		e.Storyboard = res.Storyboard.VTT
	}
	if res.MP4 != nil {
		e.MP4 = res.MP4.Name
	}
	return e
}
