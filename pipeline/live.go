package pipeline

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"strings"
	"time"

	"github.com/asticode/go-astiav"
	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline/hls"
)

// LiveOptions configure the transcode of one source segment of a live
// stream (TranscodeLiveSegment).
type LiveOptions struct {
	Input     string        // local path of the source segment (or its name, with Reader)
	Reader    io.ReadSeeker // when set, the segment is read from here
	InputSize int64         // bytes behind Reader
	Ladder    *ladders.Ladder
	Accel     Accel // "" = cpu
	Limits    Limits
	Cores     int // cores to plan threads for; 0 = runtime.NumCPU()
	// SegmentName is the file name of the output segment in every
	// rendition's folder: "<rendition>/<SegmentName>", e.g. "720p/17.ts".
	SegmentName string
	// Continuity is, per rendition name, the MPEG-TS continuity counter the
	// previous segment of the stream ended with on each PID (its
	// LiveRendition.Continuity). The segment's counters run on from there,
	// so a reader joining the segments byte-wise sees no continuity error;
	// without it they start as a fresh muxer's do.
	Continuity map[string]map[uint16]uint8
	Logger     *zap.Logger
}

// LiveRendition is one rendition's output segment.
type LiveRendition struct {
	Name      string   `json:"name"`
	URI       string   `json:"uri"` // the sink name written, "<rendition>/<SegmentName>"
	Width     int      `json:"width"`
	Height    int      `json:"height"`
	FrameRate float64  `json:"frame_rate"`
	Codecs    []string `json:"codecs"`
	// Bandwidth is what a live master can declare before the stream is
	// over: the larger of the rung's maxrate and this segment's measured
	// rate, plus audio. AverageBandwidth is the rung's bitrate plus audio.
	Bandwidth        int64   `json:"bandwidth_bps"`
	AverageBandwidth int64   `json:"average_bandwidth_bps"`
	Bytes            int64   `json:"bytes"`
	Duration         float64 `json:"duration_seconds"`
	// Continuity is the last continuity counter written on each PID: what
	// the stream's next segment continues from (LiveOptions.Continuity).
	Continuity map[uint16]uint8 `json:"continuity,omitempty"`
}

// LiveResult describes one transcoded live segment.
type LiveResult struct {
	// Start is the segment's first video timestamp on the source timeline
	// (seconds); the output segments carry the same timestamps.
	Start float64 `json:"start_seconds"`
	// Duration is the source segment's video span, first frame to the end
	// of the last one.
	Duration    float64         `json:"duration_seconds"`
	AudioCopied bool            `json:"audio_copied"`
	Renditions  []LiveRendition `json:"renditions"`
	Elapsed     float64         `json:"elapsed_seconds"`
	// RealtimeFactor is wall seconds per media second (Elapsed / Duration):
	// below 1 keeps up with the stream.
	RealtimeFactor float64 `json:"realtime_factor"`
}

// liveNoCut is the segment duration given to live segmenters and renditions:
// longer than any segment, so the whole source segment becomes one output
// segment and only the GOP rule forces keyframes after the first frame.
const liveNoCut = 1e9

// TranscodeLiveSegment transcodes one self-contained source segment of a live
// stream (MPEG-TS, or an MP4 with its own moov) into one MPEG-TS segment per
// rendition, named "<rendition>/<SegmentName>" in sink.
//
// Timestamps are the source's: the video's first timestamp anchors the
// segment, and every output packet is written at its source time (the
// segmenter's offset is the source start instead of the VOD +10 s), so the
// segments of consecutive jobs splice. Every rendition's segment starts with
// an IDR at that first timestamp and spans exactly the source video's span
// (the fps filter's grid starts at the segment's first frame and ends at the
// end of its last one). AAC-LC audio is copied through untouched, so audio
// splices sample-exact; other audio is re-encoded from the segment's start,
// dropping the encoder's priming frame so no segment's audio starts before
// its span. Errors wrapping ErrInput are the segment's fault.
func TranscodeLiveSegment(ctx context.Context, opt LiveOptions, sink Sink) (*LiveResult, error) {
	began := time.Now()
	if opt.SegmentName == "" || strings.ContainsAny(opt.SegmentName, "/\\") || strings.HasPrefix(opt.SegmentName, ".") {
		return nil, fmt.Errorf("live segment name %q: want a plain file name", opt.SegmentName)
	}
	topt := Options{Input: opt.Input, Reader: opt.Reader, InputSize: opt.InputSize, Ladder: opt.Ladder,
		SegmentType: SegmentTS, Accel: opt.Accel, Limits: opt.Limits, Cores: opt.Cores, Logger: opt.Logger}
	in, err := openInput(&topt)
	if err != nil {
		return nil, err
	}
	defer in.close()
	if in.video == nil {
		return nil, inputErr(ErrNoStream, "a live segment needs a video stream")
	}
	// Anchor on the video's own first timestamp (the container start may be
	// an audio packet a little earlier).
	if s := in.video.StartTime(); s != noPTS {
		in.start = astiav.RescaleQ(s, in.video.TimeBase(), microTB)
	}
	ls := &liveSink{sink: sink, name: opt.SegmentName}
	t := &transcode{
		opt: topt, in: in, sink: ls, log: topt.Logger,
		posterDone: true, // no poster per live segment
	}
	defer t.free()
	copied, err := t.planLive(opt.Continuity)
	if err != nil {
		return nil, err
	}
	if err := t.run(ctx); err != nil {
		return nil, err
	}
	res := &LiveResult{Start: float64(in.start) / 1e6, AudioCopied: copied}
	if err := t.liveRenditions(res, opt.SegmentName); err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(began).Seconds()
	if res.Duration > 0 {
		res.RealtimeFactor = res.Elapsed / res.Duration
	}
	return res, nil
}

// liveRenditions describes the one segment each rung cut, in
// res.Renditions and res.Duration. Bandwidths are the rung's bitrate and
// maxrate from the ladder plus the audio's bit rate (the copied audio's own
// when it is known), the peak raised to what the segment measured.
func (t *transcode) liveRenditions(res *LiveResult, segmentName string) error {
	audioBPS := int64(0)
	if len(t.audios) > 0 {
		audioBPS = t.opt.Ladder.Audio.BitrateBPS
		if res.AudioCopied {
			if b := t.audios[0].cp.BitRate(); b > 0 {
				audioBPS = b
			}
		}
	}
	for _, w := range t.videos {
		s := w.seg
		if len(s.segments) != 1 {
			return fmt.Errorf("rendition %s: %d segments from one live segment, want 1", w.out.Name, len(s.segments))
		}
		if s.videoCodec == "" {
			return fmt.Errorf("rendition %s: could not read the encoder's codec parameters", w.out.Name)
		}
		codecs := []string{s.videoCodec}
		if len(t.audios) > 0 {
			codecs = append(codecs, hls.AACLC)
		}
		d := s.segments[0].Duration
		lr := LiveRendition{
			Name: w.out.Name, URI: w.out.Name + "/" + segmentName, Width: w.out.Width, Height: w.out.Height,
			FrameRate: math.Round(w.out.FPS.Float()*1000) / 1000, Codecs: codecs,
			Bytes: s.sizes[0], Duration: d,
			AverageBandwidth: w.out.BitrateBPS + audioBPS,
		}
		if s.tscc != nil {
			lr.Continuity = maps.Clone(s.tscc.last)
		}
		measured := int64(0)
		if d > 0 {
			measured = int64(math.Ceil(float64(s.sizes[0]*8) / d))
		}
		lr.Bandwidth = max(w.out.MaxrateBPS+audioBPS, measured)
		res.Renditions = append(res.Renditions, lr)
		res.Duration = math.Max(res.Duration, d)
	}
	return nil
}

// planLive is plan for one live segment: every rung cuts exactly one
// segment whose timestamps are written at the source's start, and AAC-LC
// audio is copied, each rendition's continuity counters running on from
// cont. It reports whether audio is copied.
func (t *transcode) planLive(cont map[string]map[uint16]uint8) (bool, error) {
	l := t.opt.Ladder
	vi := t.in.info.Video
	outs, err := l.Select(LadderSource(vi))
	if err != nil {
		return false, fmt.Errorf("selecting renditions: %w", err)
	}
	t.outs = outs
	threads := encoderThreads(outs, t.opt.Cores)
	for i, o := range outs {
		if _, err := lookupEncoder(t.opt.Accel, o.Codec); err != nil {
			return false, err
		}
		seg := newSegmenter(o.Name, SegmentTS, t.sink, liveNoCut)
		seg.offsetMicros = t.in.start
		if c := cont[o.Name]; len(c) > 0 {
			seg.tscc = &tsContinuity{last: maps.Clone(c)}
		}
		t.videos = append(t.videos, &renditionWorker{
			out: o, accel: t.opt.Accel, threads: threads[i],
			gopDur: l.GOPSeconds, segDur: liveNoCut, seg: seg,
			frames: make(chan *astiav.Frame, 2),
		})
	}
	cascade(t.videos)
	if t.vdec, err = openDecoder(t.in.video, 1); err != nil {
		return false, err
	}
	t.prepSpec = prepFilter(vi)
	if len(t.in.audios) == 0 {
		return false, nil
	}
	s := t.in.audios[0]
	cp := s.CodecParameters()
	copied := cp.CodecID() == astiav.CodecIDAac && (cp.Profile() == astiav.ProfileAacLow || cp.Profile() == astiav.ProfileUnknown)
	var a *audioChain
	tb := s.TimeBase()
	if copied {
		a = &audioChain{stream: s, startTS: astiav.RescaleQ(t.in.start, microTB, tb), copy: true, cp: astiav.AllocCodecParameters()}
		if err := cp.Copy(a.cp); err != nil {
			a.free()
			return false, fmt.Errorf("audio parameters: %w", err)
		}
	} else {
		if a, err = newAudioChain(s, l.Audio, t.in.start, false); err != nil {
			return false, err
		}
		a.dropPriming = true
		tb = a.enc.TimeBase()
	}
	t.audios = append(t.audios, a)
	for _, w := range t.videos {
		if _, err := w.seg.addTrack(a.cp, tb, false); err != nil {
			return false, err
		}
		a.targets = append(a.targets, audioTarget{seg: w.seg})
	}
	return copied, nil
}

// copyPacket passes one source audio packet through to every target, its
// timestamps moved to the segment's origin like every other packet.
func (c *audioChain) copyPacket(p *astiav.Packet) error {
	if p == nil || p.Pts() == noPTS {
		return nil
	}
	tb := c.stream.TimeBase()
	p.SetPts(p.Pts() - c.startTS)
	if p.Dts() != noPTS {
		p.SetDts(p.Dts() - c.startTS)
	}
	if p.Duration() <= 0 && c.cp.SampleRate() > 0 {
		n := int64(c.cp.FrameSize())
		if n <= 0 {
			n = 1024
		}
		p.SetDuration(astiav.RescaleQ(n, astiav.NewRational(1, c.cp.SampleRate()), tb))
	}
	c.end = math.Max(c.end, float64(p.Pts()+p.Duration())*tb.Float64())
	return c.deliver(p)
}

// liveSink names each rendition's only segment "<rendition>/<name>".
type liveSink struct {
	sink Sink
	name string
}

func (s *liveSink) Create(name string) (io.WriteCloser, error) {
	dir, file, ok := strings.Cut(name, "/")
	if !ok || !strings.HasPrefix(file, "seg_") {
		return nil, fmt.Errorf("live segment: unexpected output %q", name)
	}
	if file != "seg_00000.ts" {
		return nil, fmt.Errorf("live segment: a second segment %q was cut", name)
	}
	return s.sink.Create(dir + "/" + s.name)
}
