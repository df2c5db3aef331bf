package pipeline

// Decode once: the demux loop reads every packet of the input once; video
// frames are timed against the input's start, pre-processed (prep.go) and
// handed by reference to every rendition worker (rendition.go) and to the
// extras taps (extras.go); audio packets go to their chains (audio.go).

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/asticode/go-astiav"
)

// demux reads every packet of the input and decodes it on this goroutine;
// at the end it flushes the video decoder and the prep graph, encodes the
// poster and finishes the audio chains.
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
		if t.pastWindow() {
			break // a chunk: everything its span needs has been read
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
	if t.win != nil && t.win.has(sec) {
		t.win.frames++
	}
	if t.opt.Progress != nil {
		t.opt.Progress(t.progress(sec))
	}
	if t.prepTB.Den() == 0 {
		t.needSW = t.prepSpec != "" || frameInterlaced(f.UnsafePointer())
	}
	f, err := t.toSystemMemory(f, t.needSW)
	if err != nil {
		return err
	}
	if t.prep == nil && t.prepTB.Den() == 0 {
		if err := t.openPrep(f); err != nil {
			return err
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
		if sec >= posterAt*t.duration() {
			t.posterDone = true
		}
	}
	if err := t.tapExtras(f, sec); err != nil {
		return err
	}
	if send, err := t.feedWindow(ctx, f, sec); !send || err != nil {
		return err
	}
	return t.sendRenditions(ctx, f)
}

// sendRenditions gives f to every rendition that takes the decoded frames.
func (t *transcode) sendRenditions(ctx context.Context, f *astiav.Frame) error {
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

// allocDecoder finds the decoder for cp and returns a context set up from
// cp and tb, not yet opened; the caller frees it.
func allocDecoder(cp *astiav.CodecParameters, tb astiav.Rational) (*astiav.Codec, *astiav.CodecContext, error) {
	codec := astiav.FindDecoder(cp.CodecID())
	if codec == nil {
		return nil, nil, inputErr(ErrUnsupported, "no decoder for %s", cp.CodecID().Name())
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, nil, errors.New("allocating decoder context failed")
	}
	if err := cp.ToCodecContext(cc); err != nil {
		cc.Free()
		return nil, nil, fmt.Errorf("decoder parameters: %w", err)
	}
	cc.SetTimeBase(tb)
	return codec, cc, nil
}

// openDecoder opens a decoder for a stream with bounded frame size.
func openDecoder(s *astiav.Stream, threads int) (*astiav.CodecContext, error) {
	codec, cc, err := allocDecoder(s.CodecParameters(), s.TimeBase())
	if err != nil {
		return nil, err
	}
	cc.SetThreadCount(threads)
	if threads != 1 {
		cc.SetThreadType(astiav.ThreadTypeFrame | astiav.ThreadTypeSlice)
	}
	opts := astiav.NewDictionary()
	defer opts.Free()
	_ = opts.Set("max_pixels", fmt.Sprint(MaxDimension*MaxDimension), 0)
	if err := cc.Open(codec, opts); err != nil {
		cc.Free()
		return nil, inputErr(ErrUnsupported, "cannot open the %s decoder: %v", codec.Name(), err)
	}
	return cc, nil
}
