package jobexec

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/protocol"
	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/live"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/storage"
)

// execLive runs one live-segment job: the END marker closes the stream;
// a segment is transcoded into every rendition and published into the
// stream's playlists, or recorded as skipped when the segment is at fault.
func execLive(ctx context.Context, cfg Config, j *job.Job, log *zap.Logger) (protocol.Event, error) {
	ev := protocol.Event{Event: protocol.EventDone}
	if j.SegmentType != "" && j.SegmentType != job.SegmentTS {
		return ev, fmt.Errorf("%w: live segments are written as MPEG-TS only, not %q", job.ErrPermanent, j.SegmentType)
	}
	ladder, err := ladders.ResolveJob(j.LadderName(), cfg.LadderDir, j.SegmentSeconds)
	if err != nil {
		return ev, fmt.Errorf("%w: %w", job.ErrPermanent, err)
	}
	out, err := storage.Open(ctx, j.Output)
	if err != nil {
		return ev, fmt.Errorf("opening the output %s: %w", j.Output, err)
	}
	defer out.Close()
	s := live.Open(out, live.Config{Window: j.Live.Window, Event: j.Live.Event, SegmentSeconds: j.SegmentSeconds})
	log = log.With(zap.String("stream", j.Live.Stream))
	if j.Live.End {
		res, err := s.End(ctx)
		if err != nil {
			return ev, fmt.Errorf("ending stream %s: %w", j.Live.Stream, err)
		}
		log.Info("live stream ended", zap.Int64("version", res.Version), zap.Int("segments", res.Published), zap.Int("skipped", res.Skipped))
		ev.Published, ev.LiveSkipped = true, res.Skipped
		return ev, nil
	}
	seq := j.Live.Sequence
	log = log.With(zap.Int64("seq", seq))
	dup, cont, err := s.Check(ctx, seq)
	switch {
	case dup:
		log.Info("live segment already recorded: nothing to do")
		return ev, nil
	case errors.Is(err, live.ErrEnded), errors.Is(err, live.ErrLate):
		return ev, fmt.Errorf("%w: segment %d of %s: %w", job.ErrPermanent, seq, j.Live.Stream, err)
	case err != nil:
		return ev, err
	}
	src, err := OpenSource(ctx, j.Source)
	if err != nil {
		return ev, skipOnInput(ctx, s, seq, err, log)
	}
	defer src.Close()
	name := strconv.FormatInt(seq, 10) + ".ts"
	res, err := pipeline.TranscodeLiveSegment(ctx, pipeline.LiveOptions{
		Input: src.Path, Reader: src.Reader, InputSize: src.Size, Ladder: ladder,
		SegmentName: name, Continuity: cont, Logger: log,
	}, &StorageSink{Ctx: ctx, Bucket: out})
	if err != nil {
		return ev, skipOnInput(ctx, s, seq, err, log)
	}
	seg := live.Segment{Seq: seq, URI: name, Duration: res.Duration, Start: res.Start}
	var rends []live.Rendition
	for _, r := range res.Renditions {
		rends = append(rends, live.Rendition{Name: r.Name, Width: r.Width, Height: r.Height, FrameRate: r.FrameRate,
			Codecs: r.Codecs, Bandwidth: r.Bandwidth, AverageBandwidth: r.AverageBandwidth})
		seg.Bytes = append(seg.Bytes, r.Bytes)
		seg.CC = append(seg.CC, r.Continuity)
		ev.BytesOut += r.Bytes
	}
	pub, err := s.Publish(ctx, seg, rends)
	if errors.Is(err, live.ErrEnded) || errors.Is(err, live.ErrLate) || errors.Is(err, live.ErrMismatch) {
		return ev, fmt.Errorf("%w: segment %d of %s: %w", job.ErrPermanent, seq, j.Live.Stream, err)
	}
	if err != nil {
		return ev, fmt.Errorf("publishing segment %d of %s: %w", seq, j.Live.Stream, err)
	}
	ev.Published = !pub.Duplicate
	ev.Duration, ev.Renditions = res.Duration, len(res.Renditions)
	ev.LiveRealtimeFactor, ev.LiveSkipped = res.RealtimeFactor, pub.Skipped
	if res.Elapsed > 0 {
		ev.Speed = res.Duration / res.Elapsed
	}
	if !j.SubmittedAt.IsZero() {
		ev.LiveLatency = max(0, time.Since(j.SubmittedAt).Seconds())
	}
	log.Info("live segment published", zap.Float64("duration", res.Duration), zap.Float64("start", res.Start),
		zap.Float64("realtime_factor", res.RealtimeFactor), zap.Float64("latency_seconds", ev.LiveLatency),
		zap.Int("playlist_segments", pub.Published), zap.Int("skipped", pub.Skipped), zap.Bool("audio_copied", res.AudioCopied))
	return ev, nil
}

// skipOnInput records segment seq as skipped when err is the segment's
// fault, so the stream goes on past it, and returns err as permanent;
// other errors are returned as they are (retried).
func skipOnInput(ctx context.Context, s *live.Stream, seq int64, err error, log *zap.Logger) error {
	if !errors.Is(err, pipeline.ErrInput) {
		return err
	}
	if _, serr := s.Skip(context.WithoutCancel(ctx), seq, err.Error()); serr != nil {
		log.Warn("recording the skipped live segment failed; the gap timeout will skip it", zap.Error(serr))
	} else {
		log.Warn("live segment skipped: the segment is at fault", zap.Error(err))
	}
	return fmt.Errorf("%w: %w", job.ErrPermanent, err)
}
