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
	vi := t.in.info.Video
	if vi != nil {
		if err := t.planVideo(vi); err != nil {
			return err
		}
	}
	if err := t.planAudio(t.audioStreams()); err != nil {
		return err
	}
	fields := []zap.Field{zap.String("input", t.opt.Input), zap.Int("renditions", len(t.outs)), zap.Int("audio_tracks", len(t.audios))}
	if vi != nil {
		fields = append(fields, zap.String("video", fmt.Sprintf("%s %dx%d %s", vi.Codec, vi.Width, vi.Height, vi.PixelFormat)), zap.Int("rotation", vi.Rotation))
	}
	t.log.Info("transcode planned", fields...)
	return nil
}

// globalHeader says whether encoders put their parameter sets in extradata
// (fMP4's init segment) rather than in the key packets.
func (t *transcode) globalHeader() bool { return t.opt.SegmentType == SegmentFMP4 }

// planVideo selects the renditions for the video, plans the accelerator,
// creates one rendition worker (encoder settings and segmenter) per rung,
// opens the video decoder and plans the extras.
func (t *transcode) planVideo(vi *VideoInfo) error {
	l := t.opt.Ladder
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
			out: o, accel: acc, threads: threads[i], globalHeader: t.globalHeader(),
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
	return t.planExtras()
}

// audioStreams are the audio tracks to encode: the first, or every one with
// Limits.AllAudioTracks.
func (t *transcode) audioStreams() []*astiav.Stream {
	if len(t.in.audios) == 0 {
		return nil
	}
	if t.opt.Limits.AllAudioTracks {
		return t.in.audios
	}
	return t.in.audios[:1]
}

// planAudio opens an audio chain per stream. Each is muxed into every video
// rendition's segments, or gets playlists of its own when there is no video
// to mux into or when several tracks form an EXT-X-MEDIA group.
func (t *transcode) planAudio(streams []*astiav.Stream) error {
	ownPlaylists := len(streams) > 1 || (t.in.info.Video == nil && len(streams) > 0)
	for i, s := range streams {
		a, err := newAudioChain(s, t.opt.Ladder.Audio, t.in.start, t.globalHeader())
		if err != nil {
			return err
		}
		t.audios = append(t.audios, a)
		if !ownPlaylists {
			if err := t.muxAudio(a); err != nil {
				return err
			}
			continue
		}
		name := "audio"
		if len(streams) > 1 {
			name = fmt.Sprintf("audio_%d", i)
		}
		if err := t.audioPlaylist(a, name); err != nil {
			return err
		}
	}
	return nil
}

// audioPlaylist gives the audio chain a segmenter of its own, named name,
// whose playlist is an audio-only rendition.
func (t *transcode) audioPlaylist(a *audioChain, name string) error {
	seg := newSegmenter(name, t.opt.SegmentType, t.sink, t.opt.Ladder.SegmentSeconds)
	if _, err := seg.addTrack(a.cp, a.enc.TimeBase(), true); err != nil {
		return err
	}
	t.audioSeg = append(t.audioSeg, seg)
	a.targets = append(a.targets, audioTarget{seg: seg, primary: true})
	return nil
}

// muxAudio adds the audio chain as a track to every video rendition's
// segmenter.
func (t *transcode) muxAudio(a *audioChain) error {
	for _, w := range t.videos {
		if _, err := w.seg.addTrack(a.cp, a.enc.TimeBase(), false); err != nil {
			return err
		}
		a.targets = append(a.targets, audioTarget{seg: w.seg})
	}
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
