package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/asticode/go-astiav"
	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/ladders"
)

// renditionWorker scales and encodes one rung in its own goroutine and hands
// the packets to the rung's segmenter.
type renditionWorker struct {
	out          ladders.Output
	accel        Accel
	threads      int
	globalHeader bool
	gopDur       float64
	segDur       float64
	seg          *segmenter
	frames       chan *astiav.Frame
	dev          *hwDevice // the job's device (VAAPI hwupload); nil on the CPU path
	gpuScale     bool      // scale device frames on the device
	fallback     string    // why a device encoder was replaced by the CPU one

	// A chunk (chunk.go): keep is the stretch of the timeline whose frames
	// are encoded (nil: all; a cascaded child still gets every frame);
	// fpsFromFirst starts the fps filter's grid at the first frame fed
	// instead of padding from 0. encoded counts the frames sent to the
	// encoder.
	keep         *span
	fpsFromFirst bool
	encoded      int64

	// Cascade: a rung whose input is another rung's scaled frames instead
	// of the decoded ones (see cascade).
	parent   *renditionWorker
	children []*renditionWorker

	// Set by the demuxer before the first frame is sent.
	srcTB   astiav.Rational
	srcRate astiav.Rational
	pktTB   astiav.Rational // time base of frame packet durations; zero for a cascaded rung

	ctx     context.Context
	graph   *graph
	last    *astiav.Frame // reference to the newest input frame, for the end marker
	enc     *astiav.CodecContext
	tb      astiav.Rational
	frameD  int64
	nextGOP float64
	nextSeg float64

	// Quality report (extras_quality.go): the sampled references, this rung's probe.
	qrefs *qualityRefs
	q     *qualityProbe
	log   *zap.Logger
}

func (w *renditionWorker) free() {
	if w.graph != nil {
		w.graph.free()
		w.graph = nil
	}
	if w.enc != nil {
		w.enc.Free()
		w.enc = nil
	}
	if w.last != nil {
		w.last.Free()
		w.last = nil
	}
	if w.q != nil {
		w.q.free()
		w.q = nil
	}
	w.seg.close()
}

// renditionFilter scales to the rung: constant frame rate first (fewer
// frames to scale), then size, square pixels and 8-bit 4:2:0.
func renditionFilter(o ladders.Output) string {
	return fpsFilter(o, false) + "," + scaleFilter(o)
}

// fpsFilter is the rung's constant frame rate on the grid k/fps seconds
// from the input's start. From 0 it pads the first frame back to 0 (a
// single pass); fromFirst (a chunk, whose decoding starts late) starts at
// the first frame's slot instead: without start_time the filter rounds
// every input timestamp exactly as with start_time=0, so each slot gets
// the same source frame as in the single pass.
func fpsFilter(o ladders.Output, fromFirst bool) string {
	if fromFirst {
		return fmt.Sprintf("fps=fps=%d/%d", o.FPS.Num, o.FPS.Den)
	}
	return fmt.Sprintf("fps=fps=%d/%d:start_time=0", o.FPS.Num, o.FPS.Den)
}

// scaleFilter is the rung's size, square pixels and 8-bit 4:2:0.
func scaleFilter(o ladders.Output) string {
	return fmt.Sprintf("scale=w=%d:h=%d:flags=bicubic,setsar=1,format=yuv420p", o.Width, o.Height)
}

// cascadeRatio is how much larger (on both sides) a rung must be to feed a
// smaller one: scaling 720 lines to 480 reads 56% fewer pixels than scaling
// 1080 to 480, and swscale's cost follows the input size.
const cascadeRatio = 1.5

// cascade makes each rung (highest first) scale from the smallest larger rung
// with the same frame rate that is at least cascadeRatio times its size, or
// from the decoded frames when there is none.
func cascade(ws []*renditionWorker) {
	for i, w := range ws {
		for j := i - 1; j >= 0; j-- {
			p := ws[j]
			if p.out.FPS == w.out.FPS &&
				float64(p.out.Width) >= cascadeRatio*float64(w.out.Width) &&
				float64(p.out.Height) >= cascadeRatio*float64(w.out.Height) {
				w.parent = p
				p.children = append(p.children, w)
				break
			}
		}
	}
}

func (w *renditionWorker) run(ctx context.Context) error {
	w.ctx = ctx
	defer func() {
		for _, c := range w.children {
			close(c.frames)
		}
	}()
	filtered := astiav.AllocFrame()
	defer filtered.Free()
	w.last = astiav.AllocFrame()
	for f := range w.frames {
		if w.graph == nil {
			if err := w.open(f); err != nil {
				f.Free()
				return err
			}
		}
		w.last.Unref()
		if err := w.last.Ref(f); err != nil {
			f.Free()
			return fmt.Errorf("rendition %s: frame reference: %w", w.out.Name, err)
		}
		err := w.graph.push(f)
		f.Free()
		if err != nil {
			return fmt.Errorf("rendition %s: %w", w.out.Name, err)
		}
		if err := w.graph.drain(filtered, w.encode); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if w.graph == nil {
		return inputErr(ErrCorrupt, "no video frame reached rendition %s", w.out.Name)
	}
	if err := w.pushEnd(); err != nil {
		return err
	}
	if err := w.graph.drain(filtered, w.encode); err != nil {
		return err
	}
	if err := w.enc.SendFrame(nil); err != nil {
		return fmt.Errorf("rendition %s: flushing encoder: %w", w.out.Name, err)
	}
	if err := w.receive(); err != nil {
		return err
	}
	if w.q != nil {
		w.q.finish()
	}
	return w.seg.finishPrimary()
}

// pushEnd ends the input at the end of the last frame, not at its start:
// libavfilter 8 closes a buffer source at the last pts it saw, which would
// make the fps filter drop the final frame. A copy of the last frame stamped
// one frame later marks the end; fps emits nothing at or past it.
func (w *renditionWorker) pushEnd() error {
	var d int64
	if w.pktTB.Num() > 0 { // decoded frames: the packet duration, in the stream's time base
		if pd := frameDuration(w.last.UnsafePointer()); pd > 0 {
			d = astiav.RescaleQ(pd, w.pktTB, w.srcTB)
		}
	}
	if d <= 0 && w.srcRate.Num() > 0 {
		d = astiav.RescaleQ(1, astiav.NewRational(w.srcRate.Den(), w.srcRate.Num()), w.srcTB)
	}
	if d > 0 {
		w.last.SetPts(w.last.Pts() + max(d, 1))
		if err := w.graph.push(w.last); err != nil {
			return err
		}
	}
	return w.graph.push(nil)
}

// buildGraph builds the rendition's filter graph for frames like f.
func (w *renditionWorker) buildGraph(f *astiav.Frame) error {
	g, err := newVideoGraph(w.filterSpec(f), videoSrc{
		width: f.Width(), height: f.Height(), pixFmt: f.PixelFormat(),
		timeBase: w.srcTB, sar: f.SampleAspectRatio(), frameRate: w.srcRate, hw: w.graphHW(f),
	}, 1)
	if err != nil {
		return fmt.Errorf("rendition %s: %w", w.out.Name, err)
	}
	w.graph = g
	w.tb = g.timeBase()
	return nil
}

// open builds the filter graph from the first frame and opens the encoder.
func (w *renditionWorker) open(f *astiav.Frame) error {
	err := w.buildGraph(f)
	if err != nil {
		return err
	}
	for _, c := range w.children {
		c.srcTB = w.tb
		c.srcRate = astiav.NewRational(w.out.FPS.Num, w.out.FPS.Den)
	}
	fps := astiav.NewRational(w.out.FPS.Num, w.out.FPS.Den)
	w.frameD = max(1, astiav.RescaleQ(1, astiav.NewRational(fps.Den(), fps.Num()), w.tb))
	w.enc, err = openVideoEncoder(w.accel, encodeParams{out: w.out, gop: gopFrames(w.gopDur, w.out.FPS), threads: w.threads, hw: encoderInput(w.graph)}, w.tb, w.globalHeader)
	if err != nil && w.accel != AccelCPU {
		if err = w.reopenOnCPU(f, err); err == nil {
			w.enc, err = openVideoEncoder(w.accel, encodeParams{out: w.out, gop: gopFrames(w.gopDur, w.out.FPS), threads: w.threads}, w.tb, w.globalHeader)
		}
	}
	if err != nil {
		return err
	}
	cp := astiav.AllocCodecParameters()
	defer cp.Free()
	if err := cp.FromCodecContext(w.enc); err != nil {
		return fmt.Errorf("rendition %s: encoder parameters: %w", w.out.Name, err)
	}
	if _, err = w.seg.addTrack(cp, w.tb, true); err != nil {
		return err
	}
	if w.qrefs != nil {
		w.q, err = newQualityProbe(w.qrefs, w.out.Name, cp, w.tb, w.out.FPS.Float(), w.log)
	}
	return err
}

// encode forces an IDR on the first frame at or after every GOP and segment
// boundary, and lets the encoder choose nothing else as a keyframe.
func (w *renditionWorker) encode(f *astiav.Frame) error {
	for _, c := range w.children {
		if err := sendRef(w.ctx, c.frames, f); err != nil {
			return err
		}
	}
	t := float64(f.Pts()) * w.tb.Float64()
	if !w.keep.has(t) {
		return nil // outside the chunk: fed for warm-up (or to a child) only
	}
	w.encoded++
	key := false
	if t >= w.nextGOP-eps {
		key = true
		for w.nextGOP <= t+eps {
			w.nextGOP += w.gopDur
		}
	}
	if t >= w.nextSeg-eps {
		key = true
		for w.nextSeg <= t+eps {
			w.nextSeg += w.segDur
		}
	}
	if key {
		f.SetPictureType(astiav.PictureTypeI)
	} else {
		f.SetPictureType(astiav.PictureTypeNone)
	}
	if err := w.enc.SendFrame(f); err != nil {
		return fmt.Errorf("rendition %s: encoding: %w", w.out.Name, err)
	}
	return w.receive()
}

func (w *renditionWorker) receive() error {
	for {
		p := astiav.AllocPacket()
		err := w.enc.ReceivePacket(p)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			p.Free()
			return nil
		}
		if err != nil {
			p.Free()
			return fmt.Errorf("rendition %s: encoder output: %w", w.out.Name, err)
		}
		if p.Duration() <= 0 {
			p.SetDuration(w.frameD)
		}
		if w.q != nil {
			w.q.packet(p)
		}
		if err := w.seg.pushPrimary(p); err != nil {
			return err
		}
	}
}
