package pipeline

// A chunk of a long VOD job: the single pass's plan, decode, renditions and
// segmenters run over a window of the input's timeline, so that the
// chunks' segments, put side by side, are the single pass's.
//
//   - Seek: the demuxer starts at the video keyframe at or before
//     chunkPreroll seconds ahead of the chunk (seekWindow), so the decoder,
//     the prep graph and the fps filters are warm at its first frame; the
//     renditions are fed from chunkFeed seconds ahead (feedWindow).
//   - Video: each rung's fps filter runs on the single pass's grid
//     (fpsFilter), only frames in the span are encoded (renditionWorker.
//     keep); the first gets the IDR that starts a segment, and the
//     segmenter numbers segments from the chunk's first global one.
//   - Audio: the resampler starts on the single pass's AAC frame grid a
//     little before the chunk (audioChain.gridStart), and each segmenter
//     gets only the packets the single pass would put in the chunk's
//     segments (audioTarget.keep).
//   - Joins: TS segments carry a discontinuity-indicator packet before each
//     PID's first packet of the chunk (tscc.go); fMP4 fragments carry
//     global sequence numbers (fragment_index) and decode times.
//   - Reading stops once video and audio are past the chunk's end
//     (pastWindow).

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/asticode/go-astiav"
	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline/hls"
)

const (
	// chunkPreroll is how far ahead of a chunk's start decoding begins (at
	// the keyframe at or before it).
	chunkPreroll = 2.0
	// chunkFeed is how far ahead of the start the renditions' filters get
	// frames; the latest frame before it is held and sent first.
	chunkFeed = 0.5
	// chunkAudioPreroll is about how much audio the AAC encoder gets before
	// the start; chunkAudioWarm is what the audio decoder decodes, after
	// the seek, before the first sample kept.
	chunkAudioPreroll = 0.5
	chunkAudioWarm    = 0.05
	// chunkTail is how far past a chunk's end the input is read, so the
	// fps filters, the deinterlacer and the audio encoder see what follows
	// the last frame and packet kept.
	chunkTail = 0.5
	// chunkAudioSlack: an audio track still short of the end once the video
	// is this far past it has ended (or is sparse); reading stops anyway.
	chunkAudioSlack = 10.0
)

// chunkStoryboardName is a chunk's storyboard strip, by chunk index.
const chunkStoryboardName = "storyboard-chunk-%05d.png"

// span is the stretch [from, to) of the single pass's timeline, in
// seconds, that a chunk keeps; a nil span keeps everything.
type span struct{ from, to float64 }

func (s *span) has(t float64) bool {
	return s == nil || (t >= s.from-eps && t < s.to-eps)
}

// window is a chunk's part of the timeline and what the run learns of it.
// span.from is -Inf for the first chunk (which keeps the audio priming)
// and span.to +Inf for the last.
type window struct {
	span
	start    float64 // the chunk's start (Span.Start)
	index    int
	first    int     // its first segment's global number
	duration float64 // the presentation's, to plan the extras' instants
	feedFrom float64
	held     *astiav.Frame // the latest frame before feedFrom
	frames   int64         // decoded frames in the span
	mp4      string        // the rung the finish remuxes into the MP4
}

func (w *window) free() {
	if w.held != nil {
		w.held.Free()
		w.held = nil
	}
}

func (w *window) last() bool { return math.IsInf(w.to, 1) }

// end is the chunk's end, the presentation's duration for the last chunk.
func (w *window) end(duration float64) float64 {
	if w.last() {
		return duration
	}
	return w.to
}

// newWindow checks the chunk's span against its plan and ladder.
func newWindow(opt ChunkOptions) (*window, error) {
	sp, seg := opt.Span, opt.Plan.SegmentSeconds
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: chunk %d: %s", job.ErrInvalid, sp.Index, fmt.Sprintf(format, args...))
	}
	switch {
	case seg <= 0:
		return nil, bad("segment length %v s", seg)
	case sp.Start < 0 || (sp.End != 0 && sp.End <= sp.Start):
		return nil, bad("span [%v, %v) s", sp.Start, sp.End)
	case math.Abs(sp.Start/seg-float64(sp.FirstSegment)) > 1e-6:
		return nil, bad("starts at %v s, not at segment %d of %v s", sp.Start, sp.FirstSegment, seg)
	case opt.Ladder != nil && math.Abs(opt.Ladder.SegmentSeconds-seg) > 1e-9:
		return nil, bad("planned for %v s segments, the ladder cuts %v s", seg, opt.Ladder.SegmentSeconds)
	}
	w := &window{span: span{from: sp.Start, to: sp.End}, start: sp.Start, index: sp.Index,
		first: sp.FirstSegment, duration: opt.Plan.Duration, feedFrom: sp.Start - chunkFeed}
	if sp.Start == 0 {
		w.from, w.feedFrom = math.Inf(-1), math.Inf(-1)
	}
	if sp.End == 0 {
		w.to = math.Inf(1)
	}
	return w, nil
}

// TranscodeChunk transcodes chunk opt.Span of a long VOD input: the
// segments of every rendition whose start falls in the span, with the
// global segment numbers, timestamps and frame grid a single pass
// (Transcode) gives them. Errors wrapping ErrInput are the input's fault.
func TranscodeChunk(ctx context.Context, opt ChunkOptions, sink Sink) (*ChunkResult, error) {
	began := time.Now()
	if opt.SegmentType == "" {
		opt.SegmentType = SegmentTS
	}
	if opt.SegmentType != SegmentTS && opt.SegmentType != SegmentFMP4 {
		return nil, fmt.Errorf("segment type %q: want ts or fmp4", opt.SegmentType)
	}
	win, err := newWindow(opt)
	if err != nil {
		return nil, err
	}
	in, err := openInput(&opt.Options)
	if err != nil {
		return nil, err
	}
	defer in.close()
	if in.video == nil {
		return nil, inputErr(ErrUnsupported, "%s has no video stream: chunked transcoding needs one (transcode audio-only inputs in one pass)", opt.Input)
	}
	t := &transcode{opt: opt.Options, in: in, sink: renamingSink(sink, opt.ObjectName), log: opt.Logger, win: win}
	defer t.free()
	t.posterDone = !win.has(posterAt * t.duration()) // the poster is the chunk's that holds its instant
	if err := t.plan(); err != nil {
		return nil, err
	}
	t.windowRenditions()
	if err := t.seekWindow(); err != nil {
		return nil, err
	}
	if err := t.run(ctx); err != nil {
		return nil, err
	}
	res, err := t.chunkResult()
	if err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(began).Seconds()
	return res, nil
}

// windowRenditions sets the planned renditions to the chunk: global
// segment numbers, the frames and audio packets of its span, the fps grid
// from the first frame fed, and continuity marks at the join.
func (t *transcode) windowRenditions() {
	win := t.win
	join := func(s *segmenter) {
		s.first = win.first
		if win.start > 0 && t.opt.SegmentType == SegmentTS {
			s.tscc = newTSContinuity()
			s.tscc.join = true
		}
	}
	rungOf := map[*segmenter]*renditionWorker{}
	for _, w := range t.videos {
		w.keep = &win.span
		w.fpsFromFirst = win.start > 0
		join(w.seg)
		rungOf[w.seg] = w
	}
	for _, s := range t.audioSeg {
		join(s)
	}
	for _, a := range t.audios {
		if win.start > 0 {
			a.gridFrom = win.start
			a.startTS += a.singlePassLag()
		}
		for i := range a.targets {
			tg := &a.targets[i]
			if w := rungOf[tg.seg]; w != nil && !tg.primary {
				tg.keep = win.slots(w.out.FPS) // muxed audio: cut where the rung's video is
			} else {
				tg.keep = &win.span // audio-only playlists cut by time
			}
		}
	}
}

// slots is the part of a rung's frame grid (k/fps seconds) the chunk
// encodes: from the first slot at or after its start to the first at or
// after its end, i.e. from its first segment's start to the next chunk's.
// The single pass puts exactly the audio packets in it into these
// segments.
func (w *window) slots(fps ladders.Rational) *span {
	d := astiav.NewRational(fps.Den, fps.Num).Float64()
	at := func(t float64) float64 {
		if math.IsInf(t, 0) {
			return t
		}
		return float64(int64(math.Ceil((t-eps)/d))) * d
	}
	return &span{from: at(w.from), to: at(w.to)}
}

// seekWindow moves the demuxer to the video keyframe at or before
// chunkPreroll seconds ahead of the chunk's start. A chunk that starts
// sooner, or an input that cannot seek there, is decoded from the start:
// slower, but the same frames.
func (t *transcode) seekWindow() error {
	target := t.win.start - chunkPreroll
	if target <= 0 {
		return nil
	}
	st := t.in.video
	ts := astiav.RescaleQ(int64(target*1e6)+t.in.start, microTB, st.TimeBase())
	if err := t.in.fc.SeekFrame(st.Index(), ts, astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
		if t.in.ioErr != nil {
			return fmt.Errorf("reading %s: %w", t.opt.Input, t.in.ioErr)
		}
		t.log.Warn("seeking failed; decoding the chunk from the input's start",
			zap.Float64("seconds", target), zap.Error(err))
	}
	return nil
}

// feedWindow says whether the renditions get frame f (sec) now. A chunk
// holds frames before feedFrom and sends only the latest of them, ahead of
// the first later frame: the fps filters then pick the single pass's frame
// for the chunk's first slots without scaling the whole pre-roll.
func (t *transcode) feedWindow(ctx context.Context, f *astiav.Frame, sec float64) (bool, error) {
	w := t.win
	if w == nil {
		return true, nil
	}
	if sec < w.feedFrom {
		if w.held == nil {
			w.held = astiav.AllocFrame()
		}
		w.held.Unref()
		if err := w.held.Ref(f); err != nil {
			return false, fmt.Errorf("frame reference: %w", err)
		}
		return false, nil
	}
	if w.held != nil {
		err := t.sendRenditions(ctx, w.held)
		w.free()
		if err != nil {
			return false, err
		}
	}
	return true, nil
}

// pastWindow reports whether a chunk has read all its span needs: video
// and every audio track decoded chunkTail past its end.
func (t *transcode) pastWindow() bool {
	if t.win == nil || t.win.last() {
		return false
	}
	stop := t.win.to + chunkTail
	if t.videoEnd < stop {
		return false
	}
	for _, a := range t.audios {
		if a.end < stop && t.videoEnd < stop+chunkAudioSlack {
			return false
		}
	}
	return true
}

// gridStart is aresample's first_pts, in samples of the input rate inRate,
// for a chunk whose first decoded audio is at first seconds: an output
// sample on the single pass's grid of encoder frames (a multiple of the
// frame size that is also a whole number of input samples), at least
// chunkAudioWarm after first and about chunkAudioPreroll before the
// chunk's start, but never within two frames of it. The resampler trims
// (or pads) the input to it by timestamp, so every sample from there on
// sits where the single pass puts it.
func (c *audioChain) gridStart(inRate int, first float64) int64 {
	return audioGridStart(int64(c.enc.SampleRate()), int64(c.enc.FrameSize()), int64(inRate), c.gridFrom, first)
}

// audioGridStart is gridStart for output rate out, frames of n samples,
// input rate in and a chunk starting at from seconds.
func audioGridStart(out, n, in int64, from, first float64) int64 {
	if n <= 0 {
		n = 1024
	}
	q := out / gcd(in, out) // output samples that are whole input samples: multiples of q
	step := n / gcd(n, q) * q
	at := math.Max(first+chunkAudioWarm, from-chunkAudioPreroll)
	g := int64(math.Ceil(at*float64(out)/float64(step))) * step
	if limit := int64(math.Floor((from*float64(out)-float64(2*n))/float64(step))) * step; g > limit {
		g = limit
	}
	return max(g, 0) * in / out
}

// singlePassLag is, in the stream's time base, how far the single pass's
// audio output sits from the input's timestamps: its resampler (async=1,
// first_pts=0) moves the first frame to 0 only when it is more than 1 ms
// (swr's min_compensation) off; nearer, the samples just start at 0, all
// that much early. A chunk, which aligns its first output sample by
// timestamp exactly, takes the same lag off its frames' timestamps.
func (c *audioChain) singlePassLag() int64 {
	s := c.stream.StartTime()
	if s == noPTS {
		return 0
	}
	d := s - c.startTS
	if math.Abs(float64(d)*c.stream.TimeBase().Float64()) > 0.001 {
		return 0
	}
	return d
}

// onSourceGrid returns the timestamp of decoded frame f, at ts in the
// stream's time base from the chunk's origin, in input samples. The first
// frame of the chunk is put where the single pass, which counts samples
// from the stream's start, has it: on the grid of the source's frames
// (frame_size samples each, from the stream's start), the nearest grid
// point to its timestamp. A container's coarse timestamps (Matroska's
// milliseconds, truncated: up to 48 samples at 48 kHz off) would
// otherwise move a chunk's audio against the single pass's by that much.
// Later frames are counted on from it (the resampler of the single pass
// ignores the timestamps' jitter, but a chunk's shifted jitter could reach
// its 1 ms threshold and be stretched away, a sample a second); a jump of
// a tenth of a second or more (a gap) keeps its timestamp. Without a constant frame size the timestamp is taken
// as it is, and so it is when the nearest grid point is further from it
// than the time base's rounding.
func (c *audioChain) onSourceGrid(f *astiav.Frame, ts int64) int64 {
	rate := astiav.NewRational(1, f.SampleRate())
	at := astiav.RescaleQ(ts, c.stream.TimeBase(), rate)
	if !c.srcShiftSet {
		c.srcShiftSet = true
		if n := int64(c.stream.CodecParameters().FrameSize()); n > 0 {
			origin := int64(0)
			if s := c.stream.StartTime(); s != noPTS {
				origin = astiav.RescaleQ(s-c.startTS, c.stream.TimeBase(), rate)
			}
			k := int64(math.Round(float64(at-origin) / float64(n)))
			// Only within the timestamps' own rounding: a grid that
			// disagrees by more is not the source's (an edit list, a gap).
			tb := c.stream.TimeBase()
			limit := int64(math.Ceil(float64(f.SampleRate())*tb.Float64())) + 1 // rounded or truncated
			if d := origin + k*n - at; d >= -limit && d <= limit {
				c.srcShift = d
			}
		}
	}
	at += c.srcShift
	if c.srcNext != 0 && abs64(at-c.srcNext) < int64(f.SampleRate())/10 {
		// Timestamp jitter (a tenth of a second is the resampler's own
		// threshold for a gap): counted, as the single pass counts it.
		at = c.srcNext
	}
	c.srcNext = at + int64(f.NbSamples())
	return at
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// duration is the presentation's duration the extras plan their instants
// over: a chunk's plan's (the single pass's), else the input's.
func (t *transcode) duration() float64 {
	if t.win != nil && t.win.duration > 0 {
		return t.win.duration
	}
	return t.in.info.Duration
}

// progress is what Options.Progress is told at a decoded frame of sec
// seconds: for a chunk, the seconds into its span and the span's length.
func (t *transcode) progress(sec float64) Progress {
	w := t.win
	if w == nil {
		return Progress{Seconds: sec, Duration: t.in.info.Duration, Frames: t.frames}
	}
	length := math.Max(w.end(t.duration())-w.start, 0)
	return Progress{Seconds: math.Min(math.Max(sec-w.start, 0), length), Duration: length, Frames: w.frames}
}

// checkWindow refuses a chunk without video in its span, or one before the
// last that the input ends inside of.
func (t *transcode) checkWindow() error {
	w := t.win
	if w.frames == 0 {
		return inputErr(ErrCorrupt, "no video frame could be decoded in chunk %d, from %.3f s", w.index, w.start)
	}
	if !w.last() && t.videoEnd < w.to-chunkTail {
		return inputErr(ErrTruncated, "video ends at %.2f s, inside chunk %d which runs to %.2f s", t.videoEnd, w.index, w.to)
	}
	return nil
}

// chunkResult describes what the chunk wrote and writes its poster and
// storyboard strip.
func (t *transcode) chunkResult() (*ChunkResult, error) {
	w := t.win
	res := &ChunkResult{Index: w.index, Frames: w.frames, Input: t.in.info, MP4: w.mp4}
	for i, v := range t.videos {
		r, err := t.chunkRendition(v.seg)
		if err != nil {
			return nil, err
		}
		if v.seg.videoCodec == "" {
			return nil, fmt.Errorf("rendition %s: could not read the encoder's codec parameters", v.out.Name)
		}
		r.Codecs = []string{v.seg.videoCodec}
		if len(t.audios) > 0 {
			r.Codecs = append(r.Codecs, hls.AACLC)
		}
		r.Width, r.Height, r.FrameRate, r.Frames = v.out.Width, v.out.Height, v.out.FPS.Float(), v.encoded
		res.Renditions = append(res.Renditions, r)
		if i == 0 {
			res.Start, res.End = v.seg.start, v.seg.start
			for _, s := range r.Segments {
				res.End += s.Duration
			}
		}
	}
	if w.last() {
		res.End = math.Max(res.End, t.audioEnd) // the audio may run on past the video
	}
	for i, s := range t.audioSeg {
		r, err := t.chunkRendition(s)
		if err != nil {
			return nil, err
		}
		r.Codecs = []string{hls.AACLC}
		if lang := t.in.info.Audio[i].Language; lang != "und" {
			r.Language = lang
		}
		res.Audio = append(res.Audio, r)
	}
	if err := t.chunkExtras(res); err != nil {
		return nil, err
	}
	return res, nil
}

// chunkRendition lists the segments (and fMP4 init) one segmenter wrote,
// by their stored names.
func (t *transcode) chunkRendition(s *segmenter) (ChunkRendition, error) {
	r := ChunkRendition{Name: s.dir}
	if len(s.segments) == 0 {
		return r, inputErr(ErrCorrupt, "rendition %s: no segment in chunk %d", s.dir, t.win.index)
	}
	if s.initSize > 0 {
		r.Init, r.InitSize = t.objectName(s.dir+"/init.mp4"), s.initSize
	}
	for i, seg := range s.segments {
		r.Segments = append(r.Segments, ChunkSegment{Name: t.objectName(s.dir + "/" + seg.URI), Duration: seg.Duration, Bytes: s.sizes[i]})
	}
	return r, nil
}

// chunkExtras writes the poster (when its instant fell in the chunk) and
// the storyboard strip, and gathers the quality figures per rung.
func (t *transcode) chunkExtras(res *ChunkResult) error {
	if t.posterBytes != nil {
		if err := writeFile(t.sink, PosterName, t.posterBytes); err != nil {
			return err
		}
		res.Poster = t.objectName(PosterName)
	}
	if s := t.sb; s != nil && s.n > s.first {
		if err := s.writeSheet(); err != nil {
			return err
		}
		res.Storyboard = &ChunkStoryboard{Image: t.objectName(s.strip), First: s.first, Tiles: s.n - s.first,
			TileWidth: s.tileW, TileHeight: s.tileH, Interval: s.opt.Interval}
	}
	if t.qrefs == nil {
		return nil
	}
	for _, v := range t.videos {
		q := Quality{Rendition: v.out.Name, Width: v.out.Width, Height: v.out.Height}
		if v.q != nil {
			q.SSIM, q.PSNR, q.Frames = v.q.result()
		}
		res.Quality = append(res.Quality, q)
	}
	return nil
}
