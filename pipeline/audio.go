package pipeline

import (
	"errors"
	"fmt"
	"math"

	"github.com/asticode/go-astiav"

	"github.com/hlsfleet/hlsfleet/ladders"
)

// audioTarget is a segmenter that receives an audio chain's packets.
type audioTarget struct {
	seg     *segmenter
	primary bool  // audio-only playlist: the audio drives the cuts
	keep    *span // a chunk's share of the packets, by pts (nil: all)
}

// audioChain decodes one audio track once, resamples it to the ladder's rate
// and layout, encodes AAC once and shares the packets with every target.
type audioChain struct {
	stream  *astiav.Stream
	dec     *astiav.CodecContext
	g       *graph
	enc     *astiav.CodecContext
	cp      *astiav.CodecParameters
	targets []audioTarget
	startTS int64 // input start in the stream's time base
	spec    string
	layout  string // channel layout name of the output
	frame   *astiav.Frame
	filt    *astiav.Frame
	end     float64 // seconds of decoded audio, from the input's start

	// Live segments (live.go): copy passes the source's packets through
	// untouched; dropPriming drops encoder packets that end at or before 0
	// (the AAC encoder's priming frame), so a re-encoded segment's audio
	// starts where its source span does.
	copy        bool
	dropPriming bool

	// gridFrom, in a chunk (chunk.go), is the chunk's start: the resampler's
	// output starts on the single pass's AAC frame grid a little before it
	// (audioGridStart) instead of at 0, so the encoder is warm by then.
	gridFrom float64
	// srcShift, in a chunk, is what onSourceGrid moved the first decoded
	// frame by (in input samples), applied to every later frame too.
	srcShift    int64
	srcShiftSet bool
	srcNext     int64 // where the next frame is counted to start (samples)
}

func newAudioChain(s *astiav.Stream, a ladders.Audio, startMicros int64, globalHeader bool) (_ *audioChain, err error) {
	c := &audioChain{stream: s, startTS: astiav.RescaleQ(startMicros, microTB, s.TimeBase())}
	defer func() {
		if err != nil {
			c.free()
		}
	}()
	if c.dec, err = openDecoder(s, 1); err != nil {
		return nil, err
	}
	rate := a.SampleRate
	if rate <= 0 {
		rate = 48000
	}
	layout, layoutName := astiav.ChannelLayoutStereo, "stereo"
	if a.Channels == 1 {
		layout, layoutName = astiav.ChannelLayoutMono, "mono"
	}
	codec := astiav.FindEncoderByName("aac")
	if codec == nil {
		return nil, fmt.Errorf("%w: aac", ErrNoEncoder)
	}
	c.enc = astiav.AllocCodecContext(codec)
	c.enc.SetSampleRate(rate)
	c.enc.SetChannelLayout(layout)
	c.enc.SetSampleFormat(astiav.SampleFormatFltp)
	c.enc.SetBitRate(a.BitrateBPS)
	c.enc.SetTimeBase(astiav.NewRational(1, rate))
	if globalHeader {
		c.enc.SetFlags(c.enc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	}
	if err = c.enc.Open(codec, nil); err != nil {
		return nil, fmt.Errorf("opening the aac encoder: %w", err)
	}
	c.cp = astiav.AllocCodecParameters()
	if err = c.cp.FromCodecContext(c.enc); err != nil {
		return nil, fmt.Errorf("aac parameters: %w", err)
	}
	c.layout = layoutName
	c.spec = audioFilter(rate, layoutName, c.enc.FrameSize(), 0)
	c.frame = astiav.AllocFrame()
	c.filt = astiav.AllocFrame()
	return c, nil
}

// audioFilter resamples to rate and layout, the output's first sample
// being input sample firstPTS (aresample's first_pts is in the input's
// sample rate), and cuts frameSize-sample frames: with firstPTS 0 the
// output runs on the grid of frameSize samples from the input's start.
func audioFilter(rate int, layout string, frameSize int, firstPTS int64) string {
	return fmt.Sprintf("aresample=%d:async=1:first_pts=%d,aformat=sample_fmts=fltp:sample_rates=%d:channel_layouts=%s,asetnsamples=n=%d:p=0",
		rate, firstPTS, rate, layout, frameSize)
}

func (c *audioChain) free() {
	for _, p := range []*astiav.Frame{c.frame, c.filt} {
		if p != nil {
			p.Free()
		}
	}
	c.frame, c.filt = nil, nil
	if c.g != nil {
		c.g.free()
		c.g = nil
	}
	if c.dec != nil {
		c.dec.Free()
		c.dec = nil
	}
	if c.enc != nil {
		c.enc.Free()
		c.enc = nil
	}
	if c.cp != nil {
		c.cp.Free()
		c.cp = nil
	}
}

// decode takes one packet of the track (nil = end of input).
func (c *audioChain) decode(p *astiav.Packet) error {
	if c.copy {
		return c.copyPacket(p)
	}
	if err := c.dec.SendPacket(p); err != nil && !errors.Is(err, astiav.ErrEagain) && !errors.Is(err, astiav.ErrEof) {
		if errors.Is(err, astiav.ErrInvaliddata) {
			return nil // a damaged audio packet is dropped; aresample fills the gap
		}
		return inputErr(ErrCorrupt, "decoding audio: %v", err)
	}
	for {
		err := c.dec.ReceiveFrame(c.frame)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			break
		}
		if err != nil {
			if errors.Is(err, astiav.ErrInvaliddata) {
				continue
			}
			return inputErr(ErrCorrupt, "decoding audio: %v", err)
		}
		err = c.filterFrame(c.frame)
		c.frame.Unref()
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *audioChain) filterFrame(f *astiav.Frame) error {
	ts := frameBestEffortTS(f.UnsafePointer())
	if ts == noPTS {
		return nil
	}
	ts -= c.startTS
	tb := c.stream.TimeBase()
	if f.SampleRate() > 0 {
		c.end = math.Max(c.end, float64(ts)*tb.Float64()+float64(f.NbSamples())/float64(f.SampleRate()))
	}
	if c.gridFrom > 0 && f.SampleRate() > 0 {
		// A chunk's audio is timed in input samples, its first frame put
		// where the single pass counts it (chunk.go, onSourceGrid).
		ts, tb = c.onSourceGrid(f, ts), astiav.NewRational(1, f.SampleRate())
	}
	f.SetPts(ts)
	if c.g == nil {
		spec := c.spec
		if c.gridFrom > 0 {
			spec = audioFilter(c.enc.SampleRate(), c.layout, c.enc.FrameSize(), c.gridStart(f.SampleRate(), float64(ts)*tb.Float64()))
		}
		g, err := newAudioGraph(spec, audioSrc{
			sampleRate: f.SampleRate(), sampleFmt: f.SampleFormat(), layout: f.ChannelLayout(),
			channels: f.ChannelLayout().NbChannels(), timeBase: tb,
		})
		if err != nil {
			return fmt.Errorf("audio filter: %w", err)
		}
		c.g = g
	}
	if err := c.g.push(f); err != nil {
		return err
	}
	return c.g.drain(c.filt, c.encode)
}

func (c *audioChain) encode(f *astiav.Frame) error {
	if f != nil {
		f.SetPts(astiav.RescaleQ(f.Pts(), c.g.timeBase(), c.enc.TimeBase()))
	}
	if err := c.enc.SendFrame(f); err != nil && !errors.Is(err, astiav.ErrEof) {
		return fmt.Errorf("encoding audio: %w", err)
	}
	for {
		p := astiav.AllocPacket()
		err := c.enc.ReceivePacket(p)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			p.Free()
			return nil
		}
		if err != nil {
			p.Free()
			return fmt.Errorf("audio encoder output: %w", err)
		}
		err = c.deliver(p)
		p.Free()
		if err != nil {
			return err
		}
	}
}

func (c *audioChain) deliver(p *astiav.Packet) error {
	if c.dropPriming && p.Pts() != noPTS && p.Pts()+p.Duration() <= 0 {
		return nil
	}
	tb := c.stream.TimeBase()
	if !c.copy {
		tb = c.enc.TimeBase()
	}
	sec := float64(p.Pts()) * tb.Float64()
	for _, t := range c.targets {
		if !t.keep.has(sec) {
			continue
		}
		cl := p.Clone()
		if cl == nil {
			return errors.New("packet reference failed")
		}
		var err error
		if t.primary {
			err = t.seg.pushPrimary(cl)
		} else {
			err = t.seg.pushAudio(cl)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// finish drains the filter and encoder and tells every target audio is done.
func (c *audioChain) finish() error {
	if c.g != nil {
		if err := c.g.push(nil); err != nil {
			return err
		}
		if err := c.g.drain(c.filt, c.encode); err != nil {
			return err
		}
		if err := c.encode(nil); err != nil {
			return err
		}
	}
	for _, t := range c.targets {
		var err error
		if t.primary {
			err = t.seg.finishPrimary()
		} else {
			err = t.seg.finishAudio()
		}
		if err != nil {
			return err
		}
	}
	return nil
}
