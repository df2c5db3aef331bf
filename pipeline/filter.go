package pipeline

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/asticode/go-astiav"
)

// graph is one configured libavfilter chain with a single input and output.
type graph struct {
	g    *astiav.FilterGraph
	src  *astiav.FilterContext
	sink *astiav.FilterContext
}

// videoSrc describes frames entering a video graph.
type videoSrc struct {
	width, height int
	pixFmt        astiav.PixelFormat
	timeBase      astiav.Rational
	sar           astiav.Rational
	frameRate     astiav.Rational
	hw            *graphHW // device frames in, or a device for hwupload; nil for the CPU path
}

func newVideoGraph(spec string, in videoSrc, threads int) (*graph, error) {
	sar := in.sar
	if sar.Num() <= 0 || sar.Den() <= 0 {
		sar = astiav.NewRational(1, 1)
	}
	args := astiav.FilterArgs{
		"video_size":   fmt.Sprintf("%dx%d", in.width, in.height),
		"pix_fmt":      strconv.Itoa(int(in.pixFmt)),
		"time_base":    in.timeBase.String(),
		"pixel_aspect": sar.String(),
	}
	if in.frameRate.Num() > 0 && in.frameRate.Den() > 0 {
		args["frame_rate"] = in.frameRate.String()
	}
	return newGraph("buffer", "buffersink", args, spec, threads, in.hw)
}

// audioSrc describes frames entering an audio graph.
type audioSrc struct {
	sampleRate int
	sampleFmt  astiav.SampleFormat
	layout     astiav.ChannelLayout
	channels   int
	timeBase   astiav.Rational
}

func newAudioGraph(spec string, in audioSrc) (*graph, error) {
	args := astiav.FilterArgs{
		"sample_rate": strconv.Itoa(in.sampleRate),
		"sample_fmt":  in.sampleFmt.Name(),
		"time_base":   in.timeBase.String(),
	}
	if in.layout.Valid() && in.layout.NbChannels() > 0 {
		args["channel_layout"] = in.layout.String()
	} else {
		args["channels"] = strconv.Itoa(in.channels)
	}
	return newGraph("abuffer", "abuffersink", args, spec, 1, nil)
}

func newGraph(srcName, sinkName string, args astiav.FilterArgs, spec string, threads int, hw *graphHW) (_ *graph, err error) {
	g := &graph{g: astiav.AllocFilterGraph()}
	if g.g == nil {
		return nil, errors.New("allocating filter graph failed")
	}
	defer func() {
		if err != nil {
			g.free()
		}
	}()
	g.g.SetThreadCount(threads)
	if g.src, err = g.g.NewFilterContext(astiav.FindFilterByName(srcName), "in", args); err != nil {
		return nil, fmt.Errorf("filter source %v: %w", args, err)
	}
	if err = hw.source(g.src); err != nil {
		return nil, err
	}
	if g.sink, err = g.g.NewFilterContext(astiav.FindFilterByName(sinkName), "out", nil); err != nil {
		return nil, fmt.Errorf("filter sink: %w", err)
	}
	outputs := astiav.AllocFilterInOut()
	defer outputs.Free()
	outputs.SetName("in")
	outputs.SetFilterContext(g.src)
	outputs.SetPadIdx(0)
	outputs.SetNext(nil)
	inputs := astiav.AllocFilterInOut()
	defer inputs.Free()
	inputs.SetName("out")
	inputs.SetFilterContext(g.sink)
	inputs.SetPadIdx(0)
	inputs.SetNext(nil)
	if err = g.g.Parse(spec, inputs, outputs); err != nil {
		return nil, fmt.Errorf("filter %q: %w", spec, err)
	}
	if err = hw.parsed(g.g); err != nil {
		return nil, err
	}
	if err = g.g.Configure(); err != nil {
		return nil, fmt.Errorf("configuring filter %q: %w", spec, err)
	}
	return g, nil
}

// push hands a frame to the graph, taking its reference; nil signals the end.
func (g *graph) push(f *astiav.Frame) error {
	if err := g.src.BuffersrcAddFrame(f, 0); err != nil {
		return fmt.Errorf("filter input: %w", err)
	}
	return nil
}

// pull gets the next filtered frame; astiav.ErrEagain and astiav.ErrEof
// say none is ready or the graph is drained.
func (g *graph) pull(f *astiav.Frame) error {
	return g.sink.BuffersinkGetFrame(f, 0)
}

// timeBase is the time base of frames leaving the graph.
func (g *graph) timeBase() astiav.Rational {
	return g.sink.Inputs()[0].TimeBase()
}

func (g *graph) free() {
	if g.g != nil {
		g.g.Free()
		g.g = nil
	}
}

// drain pulls every frame that is ready and hands each to fn, which must not
// keep the frame. It returns nil once the graph wants more input or is done.
func (g *graph) drain(f *astiav.Frame, fn func(*astiav.Frame) error) error {
	for {
		err := g.pull(f)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("filter output: %w", err)
		}
		err = fn(f)
		f.Unref()
		if err != nil {
			return err
		}
	}
}
