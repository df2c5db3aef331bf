package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/asticode/go-astiav"
	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline/hls"
)

// Options configure one transcode.
type Options struct {
	Input       string          // local path of the source (or its name, with Reader)
	Reader      io.ReadSeeker   // when set, the source is read from here (e.g. storage range reads)
	InputSize   int64           // bytes behind Reader
	Ladder      *ladders.Ladder // validated ladder; SegmentSeconds already overridden by the caller
	SegmentType SegmentType     // ts (default) or fmp4
	Accel       Accel           // "" = cpu; auto resolves against Caps
	// Caps is the capability probe the accel is resolved against; nil:
	// AccelCaps() (probed once per process).
	Caps *Caps
	// GPUSessions caps how many renditions use the device's encoders; the
	// rest are encoded on the CPU (spill). 0: no cap.
	GPUSessions int
	Limits      Limits
	Cores       int // cores to plan threads for; 0 = runtime.NumCPU()
	// Progress, when set, is called from the demux goroutine as media is
	// decoded; it must return quickly.
	Progress func(Progress)
	Logger   *zap.Logger
	// Extras (extras.go and extras_*.go).
	Storyboard StoryboardOptions
	Quality    QualityOptions
	MP4        string // rendition name ("720p") or height ("720") for a progressive MP4; "" = none
}

// Progress reports how far a transcode is.
type Progress struct {
	Seconds  float64 // media time decoded so far
	Duration float64 // input duration, 0 when unknown
	Frames   int64   // video frames decoded
}

// Result summarises a finished presentation.
type Result struct {
	Master         string            `json:"master"`
	Duration       float64           `json:"duration_seconds"`
	SegmentType    SegmentType       `json:"segment_type"`
	SegmentSeconds float64           `json:"segment_seconds"`
	Renditions     []RenditionResult `json:"renditions"`
	Audio          []RenditionResult `json:"audio,omitempty"`
	Poster         string            `json:"poster,omitempty"`
	Storyboard     *StoryboardResult `json:"storyboard,omitempty"`
	MP4            *MP4Result        `json:"mp4,omitempty"`
	Quality        []Quality         `json:"quality,omitempty"`
	Input          *Info             `json:"input"`
	Elapsed        float64           `json:"elapsed_seconds"`
	Speed          float64           `json:"speed_x_realtime"`
	Accel          *Route            `json:"accel,omitempty"`
}

// RenditionResult describes one media playlist of the presentation.
type RenditionResult struct {
	Name             string   `json:"name"`
	Playlist         string   `json:"playlist"`
	Width            int      `json:"width,omitempty"`
	Height           int      `json:"height,omitempty"`
	FrameRate        float64  `json:"frame_rate,omitempty"`
	Codecs           []string `json:"codecs"`
	Bandwidth        int64    `json:"bandwidth_bps"`
	AverageBandwidth int64    `json:"average_bandwidth_bps"`
	Segments         int      `json:"segments"`
	Bytes            int64    `json:"bytes"`
	Duration         float64  `json:"duration_seconds"`
}

// PosterName is the poster image written with every presentation that has video.
const PosterName = "poster.jpg"

// posterAt is where in the input the poster frame is taken.
const posterAt = 0.10

// openInput fills the defaults every transcode shares (logger, accel,
// cores), checks the ladder and opens the input; the caller closes it.
func openInput(opt *Options) (*input, error) {
	if opt.Logger == nil {
		opt.Logger = zap.NewNop()
	}
	setLibavLogger(opt.Logger)
	if opt.Accel == "" {
		opt.Accel = AccelCPU
	}
	if opt.Cores <= 0 {
		opt.Cores = runtime.NumCPU()
	}
	if opt.Ladder == nil {
		return nil, errors.New("no ladder given")
	}
	if err := opt.Ladder.Validate(); err != nil {
		return nil, err
	}
	src := Source{Path: opt.Input}
	if opt.Reader != nil {
		src = Source{Reader: opt.Reader, Size: opt.InputSize, Name: opt.Input}
	}
	return openSource(src, opt.Limits)
}

// Transcode decodes the input once and writes an HLS ladder into sink:
// segments as they are produced, then the media playlists, the poster, and
// master.m3u8 last. Errors wrapping ErrInput are the input's fault.
func Transcode(ctx context.Context, opt Options, sink Sink) (*Result, error) {
	began := time.Now()
	if opt.SegmentType == "" {
		opt.SegmentType = SegmentTS
	}
	if opt.SegmentType != SegmentTS && opt.SegmentType != SegmentFMP4 {
		return nil, fmt.Errorf("segment type %q: want ts or fmp4", opt.SegmentType)
	}
	in, err := openInput(&opt)
	if err != nil {
		return nil, err
	}
	defer in.close()

	t := &transcode{opt: opt, in: in, sink: sink, log: opt.Logger}
	defer t.free()
	if err := t.plan(); err != nil {
		return nil, err
	}
	if err := t.run(ctx); err != nil {
		return nil, err
	}
	res, err := t.publish()
	if err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(began).Seconds()
	if res.Elapsed > 0 {
		res.Speed = res.Duration / res.Elapsed
	}
	return res, nil
}

// transcode is the state of one run.
type transcode struct {
	opt  Options
	in   *input
	sink Sink
	log  *zap.Logger

	outs     []ladders.Output
	videos   []*renditionWorker
	audios   []*audioChain
	audioSeg []*segmenter // audio-only playlists (group mode or audio-only input)
	vdec     *astiav.CodecContext
	prep     *graph
	prepSpec string
	prepTB   astiav.Rational

	poster      *astiav.Frame
	posterTB    astiav.Rational
	posterDone  bool
	posterBytes []byte

	sb      *storyboard
	qrefs   *qualityRefs
	mp4     *mp4Writer
	dropped []*renditionWorker // rungs the quality gate removed

	videoEnd, audioEnd float64
	frames             int64
	decodeErrors       int
	videoPackets       int

	// accelerated paths (hw_path.go)
	accel     Accel // resolved
	route     Route
	hw        *hwDevice
	hwDecoder bool
	needSW    bool
	swFrame   *astiav.Frame
}

func (t *transcode) free() {
	t.freeExtras()
	for _, w := range t.videos {
		w.free()
	}
	for _, a := range t.audios {
		a.free()
	}
	for _, s := range t.audioSeg {
		s.close()
	}
	t.freeHW()
	if t.vdec != nil {
		t.vdec.Free()
	}
	if t.prep != nil {
		t.prep.free()
	}
	if t.poster != nil {
		t.poster.Free()
	}
	t.freeHWDevice()
}

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

// prepFilter is the shared pre-processing done once before the ladder fans
// out: deinterlacing (only frames flagged interlaced are touched), rotation
// per the display matrix, and HDR to SDR tone mapping.
func prepFilter(vi *VideoInfo) string {
	var parts []string
	switch vi.Rotation {
	case 90:
		parts = append(parts, "transpose=clock")
	case 180:
		parts = append(parts, "hflip,vflip")
	case 270:
		parts = append(parts, "transpose=cclock")
	}
	if vi.HDR {
		parts = append(parts, "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p")
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ",")
}

type failer struct {
	once   sync.Once
	err    error
	cancel context.CancelFunc
}

func (f *failer) fail(err error) {
	f.once.Do(func() {
		f.err = err
		f.cancel()
	})
}

// run demuxes and decodes once, feeding every rendition worker concurrently.
func (t *transcode) run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	fl := &failer{cancel: cancel}
	var wg sync.WaitGroup
	for _, w := range t.videos {
		wg.Add(1)
		go func(w *renditionWorker) {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					fl.fail(fmt.Errorf("rendition %s: internal error: %v", w.out.Name, r))
				}
			}()
			if err := w.run(ctx); err != nil {
				fl.fail(err)
			}
		}(w)
	}
	demuxErr := t.demux(ctx)
	for _, w := range t.videos {
		if w.parent == nil {
			close(w.frames) // a child's input is closed by its parent
		}
	}
	if demuxErr != nil {
		fl.fail(demuxErr)
	}
	wg.Wait()
	for _, w := range t.videos {
		for f := range w.frames {
			f.Free()
		}
	}
	if fl.err != nil {
		if parent.Err() != nil {
			return fmt.Errorf("%w: %v", ErrCanceled, parent.Err())
		}
		return fl.err
	}
	return t.checkComplete()
}

// checkComplete refuses output that ends well before the input says it does.
func (t *transcode) checkComplete() error {
	got := math.Max(t.videoEnd, t.audioEnd)
	want := t.in.info.Duration
	if t.in.video != nil && t.frames == 0 {
		return inputErr(ErrCorrupt, "no video frame could be decoded")
	}
	if want > 0 && got < want*0.9 && want-got > 1 {
		return inputErr(ErrTruncated, "media ends at %.2f s but the container says %.2f s", got, want)
	}
	return nil
}

func (t *transcode) demux(ctx context.Context) error {
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	frame := astiav.AllocFrame()
	defer frame.Free()
	audioBy := map[int]*audioChain{}
	for _, a := range t.audios {
		audioBy[a.stream.Index()] = a
	}
	vidx := -1
	if t.in.video != nil {
		vidx = t.in.video.Index()
	}
	readErrors := 0
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err := t.in.fc.ReadFrame(pkt)
		if errors.Is(err, astiav.ErrEof) {
			break
		}
		if err != nil {
			if t.in.ioErr != nil {
				return fmt.Errorf("reading the input: %w", t.in.ioErr)
			}
			readErrors++
			if readErrors > 100 || errors.Is(err, astiav.ErrEio) {
				return inputErr(ErrCorrupt, "reading the input: %v", err)
			}
			continue
		}
		switch idx := pkt.StreamIndex(); {
		case idx == vidx:
			t.videoPackets++
			err = t.decodeVideo(ctx, pkt, frame)
		case audioBy[idx] != nil:
			a := audioBy[idx]
			err = a.decode(pkt)
			t.audioEnd = math.Max(t.audioEnd, a.end)
		}
		pkt.Unref()
		if err != nil {
			return err
		}
	}
	if t.vdec != nil {
		if err := t.decodeVideo(ctx, nil, frame); err != nil {
			return err
		}
		if err := t.flushPrep(ctx, frame); err != nil {
			return err
		}
		if err := t.encodePoster(); err != nil {
			return err
		}
	}
	for _, a := range t.audios {
		if err := a.decode(nil); err != nil {
			return err
		}
		t.audioEnd = math.Max(t.audioEnd, a.end)
		if err := a.finish(); err != nil {
			return err
		}
	}
	if t.videoPackets > 20 && t.decodeErrors*2 > t.videoPackets {
		return inputErr(ErrCorrupt, "%d of %d video packets failed to decode", t.decodeErrors, t.videoPackets)
	}
	return nil
}

// decodeVideo sends one packet (nil = flush) and handles every frame out.
func (t *transcode) decodeVideo(ctx context.Context, p *astiav.Packet, f *astiav.Frame) error {
	if err := t.vdec.SendPacket(p); err != nil && !errors.Is(err, astiav.ErrEagain) && !errors.Is(err, astiav.ErrEof) {
		t.decodeErrors++
		if p == nil {
			return nil
		}
	}
	for {
		err := t.vdec.ReceiveFrame(f)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			t.decodeErrors++
			if errors.Is(err, astiav.ErrInvaliddata) {
				continue
			}
			if t.hwDecoder { // e.g. no decoder surface left: the device's fault, retried
				return fmt.Errorf("hardware video decoder (%s): %w", t.hw.name, err)
			}
			return inputErr(ErrCorrupt, "decoding video: %v", err)
		}
		err = t.onDecoded(ctx, f)
		f.Unref()
		if err != nil {
			return err
		}
	}
}

// onDecoded normalises a decoded frame's timestamp to the input's start and
// runs it through the shared pre-processing.
func (t *transcode) onDecoded(ctx context.Context, f *astiav.Frame) error {
	st := t.in.video
	ts := frameBestEffortTS(f.UnsafePointer())
	if ts == noPTS {
		return nil
	}
	ts -= astiav.RescaleQ(t.in.start, microTB, st.TimeBase())
	f.SetPts(ts)
	f.SetPictureType(astiav.PictureTypeNone)
	sec := float64(ts) * st.TimeBase().Float64()
	if d := frameDuration(f.UnsafePointer()); d > 0 {
		t.videoEnd = math.Max(t.videoEnd, sec+float64(d)*st.TimeBase().Float64())
	} else {
		t.videoEnd = math.Max(t.videoEnd, sec)
	}
	t.frames++
	if t.opt.Progress != nil {
		t.opt.Progress(Progress{Seconds: sec, Duration: t.in.info.Duration, Frames: t.frames})
	}
	if t.prepTB.Den() == 0 {
		t.needSW = t.prepSpec != "" || frameInterlaced(f.UnsafePointer())
	}
	f, err := t.toSystemMemory(f, t.needSW)
	if err != nil {
		return err
	}
	if t.prep == nil && t.prepTB.Den() == 0 {
		spec := t.prepSpec
		if frameInterlaced(f.UnsafePointer()) {
			deint := "bwdif=mode=send_frame:parity=auto:deint=interlaced"
			if spec == "" {
				spec = deint
			} else {
				spec = deint + "," + spec
			}
		}
		t.prepTB = st.TimeBase()
		if spec != "" {
			g, err := newVideoGraph(spec, videoSrc{
				width: f.Width(), height: f.Height(), pixFmt: f.PixelFormat(),
				timeBase: st.TimeBase(), sar: f.SampleAspectRatio(), frameRate: t.in.info.Video.fps,
			}, 1)
			if err != nil {
				return fmt.Errorf("video pre-processing: %w", err)
			}
			t.prep = g
			t.prepTB = g.timeBase()
			t.log.Debug("video pre-processing", zap.String("filter", spec))
		}
		for _, w := range t.videos {
			if w.parent == nil {
				w.srcTB = t.prepTB
				w.srcRate = t.in.info.Video.fps
				w.pktTB = st.TimeBase()
			}
		}
	}
	if t.prep == nil {
		return t.fanOut(ctx, f)
	}
	if err := t.prep.push(f); err != nil {
		return err
	}
	out := astiav.AllocFrame()
	defer out.Free()
	return t.prep.drain(out, func(o *astiav.Frame) error { return t.fanOut(ctx, o) })
}

func (t *transcode) flushPrep(ctx context.Context, f *astiav.Frame) error {
	if t.prep == nil {
		return nil
	}
	if err := t.prep.push(nil); err != nil {
		return err
	}
	return t.prep.drain(f, func(o *astiav.Frame) error { return t.fanOut(ctx, o) })
}

// fanOut gives each rendition worker its own reference to the frame.
func (t *transcode) fanOut(ctx context.Context, f *astiav.Frame) error {
	sec := float64(f.Pts()) * t.prepTB.Float64()
	if !t.posterDone {
		if t.poster == nil {
			t.poster = astiav.AllocFrame()
		}
		t.poster.Unref()
		if err := t.poster.Ref(f); err != nil {
			return fmt.Errorf("poster frame: %w", err)
		}
		t.posterTB = t.prepTB
		if sec >= posterAt*t.in.info.Duration {
			t.posterDone = true
		}
	}
	if err := t.tapExtras(f, sec); err != nil {
		return err
	}
	for _, w := range t.videos {
		if w.parent == nil {
			if err := sendRef(ctx, w.frames, f); err != nil {
				return err
			}
		}
	}
	return nil
}

// sendRef sends a new reference to f's data on ch.
func sendRef(ctx context.Context, ch chan<- *astiav.Frame, f *astiav.Frame) error {
	nf := astiav.AllocFrame()
	if err := nf.Ref(f); err != nil {
		nf.Free()
		return fmt.Errorf("frame reference: %w", err)
	}
	select {
	case ch <- nf:
		return nil
	case <-ctx.Done():
		nf.Free()
		return ctx.Err()
	}
}

// publish writes the media playlists, the poster and then the master.
func (t *transcode) publish() (*Result, error) {
	l := t.opt.Ladder
	res := &Result{
		Master: MasterName, SegmentType: t.opt.SegmentType, SegmentSeconds: l.SegmentSeconds,
		Input: t.in.info, Duration: math.Max(t.videoEnd, t.audioEnd),
	}
	if t.route.Name != "" {
		t.noteFallbacks()
		res.Accel = &t.route
	}
	version := 3
	if t.opt.SegmentType == SegmentFMP4 {
		version = 6
	}
	master := &hls.Master{Version: version, IndependentSegments: true}

	var audioPeak, audioAvg int64
	for i, s := range t.audioSeg {
		rr, err := t.writePlaylist(s, []string{hls.AACLC})
		if err != nil {
			return nil, err
		}
		res.Audio = append(res.Audio, rr)
		audioPeak = max(audioPeak, rr.Bandwidth)
		audioAvg = max(audioAvg, rr.AverageBandwidth)
		if len(t.audioSeg) == 1 {
			continue // a lone audio playlist is the variant itself
		}
		info := t.in.info.Audio[i]
		name := info.Language
		if name == "" || name == "und" {
			name = fmt.Sprintf("Track %d", i+1)
		}
		lang := info.Language
		if lang == "und" {
			lang = ""
		}
		master.Media = append(master.Media, hls.Media{
			Type: "AUDIO", GroupID: "audio", Name: name, Language: lang, URI: rr.Playlist,
			Channels: fmt.Sprint(t.opt.Ladder.Audio.Channels), Default: i == 0, AutoSelect: true,
		})
	}
	kept, err := t.qualityGate(res)
	if err != nil {
		return nil, err
	}
	for _, w := range kept {
		codecs := []string{w.seg.videoCodec}
		if w.seg.videoCodec == "" {
			return nil, fmt.Errorf("rendition %s: could not read the encoder's codec parameters", w.out.Name)
		}
		if len(t.audios) > 0 {
			codecs = append(codecs, hls.AACLC)
		}
		rr, err := t.writePlaylist(w.seg, codecs)
		if err != nil {
			return nil, err
		}
		rr.Width, rr.Height, rr.FrameRate = w.out.Width, w.out.Height, w.out.FPS.Float()
		res.Renditions = append(res.Renditions, rr)
		v := hls.Variant{
			URI: rr.Playlist, Bandwidth: rr.Bandwidth, AverageBandwidth: rr.AverageBandwidth, Codecs: codecs,
			Width: rr.Width, Height: rr.Height, FrameRate: math.Round(rr.FrameRate*1000) / 1000,
		}
		if len(master.Media) > 0 {
			v.Audio = "audio"
			v.Bandwidth += audioPeak
			v.AverageBandwidth += audioAvg
		}
		master.Variants = append(master.Variants, v)
	}
	if len(t.videos) == 0 && len(res.Audio) > 0 {
		a := res.Audio[0]
		master.Variants = append(master.Variants, hls.Variant{
			URI: a.Playlist, Bandwidth: a.Bandwidth, AverageBandwidth: a.AverageBandwidth,
			Codecs: a.Codecs,
		})
		if len(master.Media) > 0 {
			master.Variants[0].Audio = "audio"
		}
	}
	if len(master.Variants) == 0 {
		return nil, inputErr(ErrNoStream, "nothing could be encoded")
	}
	if err := t.finishExtras(res); err != nil {
		return nil, err
	}
	if t.posterBytes != nil {
		if err := writeFile(t.sink, PosterName, t.posterBytes); err != nil {
			return nil, err
		}
		res.Poster = PosterName
	}
	if err := writeFile(t.sink, MasterName, master.Encode()); err != nil {
		return nil, err
	}
	t.removeDropped()
	return res, nil
}

func (t *transcode) writePlaylist(s *segmenter, codecs []string) (RenditionResult, error) {
	pl := s.playlist()
	name := s.dir + "/index.m3u8"
	if len(pl.Segments) == 0 {
		return RenditionResult{}, fmt.Errorf("rendition %s produced no segments", s.dir)
	}
	if err := writeFile(t.sink, name, pl.Encode()); err != nil {
		return RenditionResult{}, err
	}
	peak, avg := s.bandwidth()
	rr := RenditionResult{Name: s.dir, Playlist: name, Codecs: codecs, Bandwidth: peak, AverageBandwidth: avg, Segments: len(pl.Segments), Bytes: s.initSize}
	for i, seg := range pl.Segments {
		rr.Bytes += s.sizes[i]
		rr.Duration += seg.Duration
	}
	return rr, nil
}

func writeFile(sink Sink, name string, data []byte) error {
	w, err := sink.Create(name)
	if err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", name, err)
	}
	return nil
}
