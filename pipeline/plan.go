package pipeline

// Planning, the step after the probe: which renditions the ladder selects,
// on which encoders, with which decoder, segmenters and audio chains. Nothing
// is decoded yet.

import (
	"fmt"

	"github.com/asticode/go-astiav"
	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/ladders"
)

// plan chooses renditions, opens decoders and encoders and wires segmenters.
func (t *transcode) plan() error {
	l := t.opt.Ladder
	globalHeader := t.opt.SegmentType == SegmentFMP4
	vi := t.in.info.Video
	var audioStreams []*astiav.Stream
	if len(t.in.audios) > 0 {
		audioStreams = t.in.audios[:1]
		if t.opt.Limits.AllAudioTracks {
			audioStreams = t.in.audios
		}
	}
	// Separate audio playlists when there is no video to mux into, or when
	// several tracks form an EXT-X-MEDIA group.
	audioPlaylists := len(audioStreams) > 1 || (vi == nil && len(audioStreams) > 0)

	if vi != nil {
		outs, err := l.Select(LadderSource(vi))
		if err != nil {
			return fmt.Errorf("selecting renditions: %w", err)
		}
		t.outs = outs
		if err := t.planAccel(); err != nil {
			return err
		}
		threads := encoderThreads(outs, t.opt.Cores)
		for i, o := range outs {
			acc := t.route.Encoders[i]
			if _, err := lookupEncoder(acc, o.Codec); err != nil {
				return err
			}
			w := &renditionWorker{
				out: o, accel: acc, threads: threads[i], globalHeader: globalHeader,
				dev: t.hw, gpuScale: t.route.GPUScale && acc != AccelCPU,
				gopDur: l.GOPSeconds, segDur: l.SegmentSeconds,
				seg:    newSegmenter(o.Name, t.opt.SegmentType, t.sink, l.SegmentSeconds),
				frames: make(chan *astiav.Frame, 2),
			}
			t.videos = append(t.videos, w)
		}
		cascade(t.videos)
		dec, err := t.openVideoDecoder(hwExtraFrames(t.videos))
		if err != nil {
			return err
		}
		t.vdec = dec
		t.prepSpec = prepFilter(vi)
		if err := t.planExtras(); err != nil {
			return err
		}
	}

	for i, s := range audioStreams {
		a, err := newAudioChain(s, l.Audio, t.in.start, globalHeader)
		if err != nil {
			return err
		}
		t.audios = append(t.audios, a)
		if audioPlaylists {
			name := "audio"
			if len(audioStreams) > 1 {
				name = fmt.Sprintf("audio_%d", i)
			}
			seg := newSegmenter(name, t.opt.SegmentType, t.sink, l.SegmentSeconds)
			if _, err := seg.addTrack(a.cp, a.enc.TimeBase(), true); err != nil {
				return err
			}
			t.audioSeg = append(t.audioSeg, seg)
			a.targets = append(a.targets, audioTarget{seg: seg, primary: true})
			continue
		}
		for _, w := range t.videos {
			if _, err := w.seg.addTrack(a.cp, a.enc.TimeBase(), false); err != nil {
				return err
			}
			a.targets = append(a.targets, audioTarget{seg: w.seg})
		}
	}
	fields := []zap.Field{zap.String("input", t.opt.Input), zap.Int("renditions", len(t.outs)), zap.Int("audio_tracks", len(t.audios))}
	if vi != nil {
		fields = append(fields, zap.String("video", fmt.Sprintf("%s %dx%d %s", vi.Codec, vi.Width, vi.Height, vi.PixelFormat)), zap.Int("rotation", vi.Rotation))
	}
	t.log.Info("transcode planned", fields...)
	return nil
}

// LadderSource is what ladder selection needs to know of a probed video.
func LadderSource(vi *VideoInfo) ladders.Source {
	return ladders.Source{
		Width: vi.Width, Height: vi.Height, Rotation: vi.Rotation,
		SAR: ladders.Rational{Num: vi.sar.Num(), Den: vi.sar.Den()},
		FPS: ladders.Rational{Num: vi.fps.Num(), Den: vi.fps.Den()},
	}
}
