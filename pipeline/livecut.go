package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/ladders"
)

// CutOptions configure CutLive.
type CutOptions struct {
	Input          string  // local path of the input
	SegmentSeconds float64 // source segment duration (> 0)
	// Pace, when set, is called with the media time decoded so far; it
	// blocks to hold the cut to real time (see live/ingest's pacer).
	Pace   func(mediaSeconds float64)
	Limits Limits
	Cores  int
	Logger *zap.Logger
}

// CutSegment is one source segment made by CutLive.
type CutSegment struct {
	Index int    // 0, 1, ... in stream order
	Data  []byte // a self-contained MPEG-TS segment
}

// LiveSourceRendition is the name of CutLive's one rung.
const LiveSourceRendition = "source"

// CutLive is a live encoder stand-in: it encodes the input once at its own
// size (H.264 veryfast, AAC) with an IDR at every SegmentSeconds boundary
// and hands each MPEG-TS source segment to emit as soon as it is complete,
// in order. Timestamps run on from segment to segment with the engine's
// +10 s offset, like a live encoder's. With Pace set the input is consumed
// at real-time speed.
func CutLive(ctx context.Context, opt CutOptions, emit func(CutSegment) error) error {
	if why := job.SegmentSecondsProblem(opt.SegmentSeconds); why != "" {
		return fmt.Errorf("segment seconds %s", why)
	}
	info, err := Probe(opt.Input, opt.Limits)
	if err != nil {
		return err
	}
	if info.Video == nil {
		return inputErr(ErrNoStream, "live push needs a video stream")
	}
	h := info.Video.Height
	if info.Video.Rotation == 90 || info.Video.Rotation == 270 {
		h = info.Video.Width
	}
	h = max(16, h&^1)
	fps := info.Video.fps.Float64()
	if fps <= 0 || math.IsNaN(fps) {
		fps = 30
	}
	// A mezzanine rate: about 0.15 bit per pixel at the source size.
	bps := int64(math.Max(500_000, 0.15*float64(info.Video.Width*info.Video.Height)*math.Min(fps, 60)))
	doc := fmt.Sprintf(`{"name":"live-source","segment_seconds":%s,"gop_seconds":%s,
		"video":{"codec":"h264","preset":"veryfast","profile":"high"},
		"audio":{"codec":"aac","bitrate_bps":128000,"channels":2,"sample_rate":48000},
		"renditions":[{"name":%q,"height":%d,"bitrate_bps":%d,"maxrate_bps":%d,"bufsize_bits":%d}]}`,
		strconv.FormatFloat(opt.SegmentSeconds, 'g', -1, 64), strconv.FormatFloat(opt.SegmentSeconds, 'g', -1, 64),
		LiveSourceRendition, h, bps, bps*3/2, bps*2)
	l, err := ladders.Parse([]byte(doc))
	if err != nil {
		return fmt.Errorf("live source ladder: %w", err)
	}
	sink := &cutSink{emit: emit}
	topt := Options{Input: opt.Input, Ladder: l, SegmentType: SegmentTS, Limits: opt.Limits, Cores: opt.Cores, Logger: opt.Logger}
	if opt.Pace != nil {
		topt.Progress = func(p Progress) { opt.Pace(p.Seconds) }
	}
	_, err = Transcode(ctx, topt, sink)
	return err
}

// cutSink passes the source rung's segments to emit and drops the rest
// (playlists, poster).
type cutSink struct {
	emit func(CutSegment) error
}

func (s *cutSink) Create(name string) (io.WriteCloser, error) {
	rest, ok := strings.CutPrefix(name, LiveSourceRendition+"/seg_")
	if !ok || !strings.HasSuffix(rest, ".ts") {
		return discard{}, nil
	}
	i, err := strconv.Atoi(strings.TrimSuffix(rest, ".ts"))
	if err != nil {
		return nil, fmt.Errorf("live source segment name %q", name)
	}
	return &cutWriter{s: s, index: i}, nil
}

type cutWriter struct {
	s     *cutSink
	index int
	buf   bytes.Buffer
}

func (w *cutWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }
func (w *cutWriter) Close() error {
	return w.s.emit(CutSegment{Index: w.index, Data: w.buf.Bytes()})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) Close() error                { return nil }
