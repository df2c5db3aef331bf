package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/asticode/go-astiav"
	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/ladders"
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
	// ObjectName, when set, maps the name of every file the pipeline
	// creates or removes through the sink, except master.m3u8, to the name
	// it is stored under ("720p/seg_00001.ts" -> "720p/<attempt>/seg_00001.ts"
	// in the fleet); the master's URIs and the Result's names follow it.
	// It must keep the files of one folder together in one folder: media
	// playlists and the storyboard refer to their files by relative URIs.
	// nil keeps every name as it is.
	ObjectName func(name string) string
}

// Progress reports how far a transcode is.
type Progress struct {
	Seconds  float64 // media time decoded so far
	Duration float64 // input duration, 0 when unknown
	Frames   int64   // video frames decoded
}

// Result summarises a finished presentation. Its file names (playlists,
// poster, storyboard, MP4) are the names stored (Options.ObjectName).
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
const PosterName = job.PosterName

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

	t := &transcode{opt: opt, in: in, sink: renamingSink(sink, opt.ObjectName), log: opt.Logger}
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

	win *window // a chunk's span of the timeline (chunk.go); nil: the whole input

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
	if t.win != nil {
		t.win.free()
	}
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
	if t.win != nil {
		if err := t.checkWindow(); err != nil || !t.win.last() {
			return err
		}
	}
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
