package pipeline

// The progressive MP4 of a chunked presentation: one rung's segments, read
// back in order through FinishOptions.Open (MPEG-TS: one demuxer over all
// of them; fMP4: one per initialization section, over it and its
// fragments), remuxed by the single pass's mp4Writer.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/asticode/go-astiav"
)

// remuxMP4 writes rung r's segments as a progressive MP4 named as a single
// pass names it (RUNG.mp4).
func (f *finish) remuxMP4(ctx context.Context, r *finishRung) (*MP4Result, error) {
	m, err := newMP4Writer(r.name)
	if err != nil {
		return nil, err
	}
	defer m.free()
	x := &remux{m: m, fps: r.parts[0].FrameRate}
	defer x.free()
	for _, run := range r.runs {
		if len(run.segments) == 0 {
			continue
		}
		names := run.segments
		if run.init != "" {
			names = append([]string{run.init}, names...)
		}
		what := fmt.Sprintf("rendition %s's segments (%s ...)", r.name, names[0])
		if err := x.run(ctx, f.opt.Open, names, what); err != nil {
			return nil, err
		}
	}
	if !x.started {
		return nil, fmt.Errorf("mp4: rendition %s has no video key packet", r.name)
	}
	res, err := m.finish(f.sink, r.name+".mp4")
	if err != nil {
		return nil, err
	}
	res.Name = storedName(f.sink, res.Name)
	return res, nil
}

// remux feeds demuxed segment packets to an mp4Writer on the timeline a
// single pass's tap gives it (the segments' timelineOffsetMicros taken off).
type remux struct {
	m       *mp4Writer
	fps     float64  // the rung's frame rate, for video packets without a duration
	tracks  []*track // from the first demuxer's video and audio streams; cp owned
	held    []pkt    // clones, until the first video key packet (its parameter sets open the MP4)
	started bool
}

func (x *remux) free() {
	for _, k := range x.held {
		k.p.Free()
	}
	x.held = nil
	for _, t := range x.tracks {
		t.cp.Free()
	}
	x.tracks = nil
}

// run demuxes the stored objects names, read one after the other as one
// stream, and remuxes their packets.
func (x *remux) run(ctx context.Context, open func(string) (ReadSeekCloser, int64, error), names []string, what string) error {
	if open == nil {
		return fmt.Errorf("reading %s: FinishOptions.Open is not set", what)
	}
	r := &objectsReader{open: open, names: names}
	defer r.Close()
	in := &input{}
	if err := in.open("", r, nil, what); err != nil {
		if errors.Is(err, ErrInput) {
			// Our own segments, not the user's input: unreadable ones are
			// a fault of this run (retried), never the input's.
			return fmt.Errorf("mp4: reading back %s: %v", what, err)
		}
		return fmt.Errorf("mp4: %w", err)
	}
	defer in.close()
	streams := in.fc.Streams()
	idx, err := x.mapStreams(streams)
	if err != nil {
		return fmt.Errorf("mp4: %s: %w", what, err)
	}
	p := astiav.AllocPacket()
	defer p.Free()
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %v", ErrCanceled, err)
		}
		if err := in.fc.ReadFrame(p); err != nil {
			if errors.Is(err, astiav.ErrEof) && in.ioErr == nil {
				return nil
			}
			return in.readFault(what, fmt.Errorf("mp4: demuxing %s: %v", what, err))
		}
		ti, ok := idx[p.StreamIndex()]
		if ok {
			err = x.packet(p, streams[p.StreamIndex()].TimeBase(), ti)
		}
		p.Unref()
		if err != nil {
			return err
		}
	}
}

// mapStreams maps the demuxer's video and audio streams to tracks: the
// first demuxer's become the tracks; a later one's n-th stream of a kind is
// the n-th track of that kind.
func (x *remux) mapStreams(streams []*astiav.Stream) (map[int]int, error) {
	idx := map[int]int{}
	first := x.tracks == nil
	seen := map[astiav.MediaType]int{}
	for _, st := range streams {
		mt := st.CodecParameters().MediaType()
		if mt != astiav.MediaTypeVideo && mt != astiav.MediaTypeAudio {
			continue
		}
		if first {
			cp := astiav.AllocCodecParameters()
			if err := st.CodecParameters().Copy(cp); err != nil {
				cp.Free()
				return nil, fmt.Errorf("codec parameters: %w", err)
			}
			x.tracks = append(x.tracks, &track{cp: cp, tb: st.TimeBase()})
			idx[st.Index()] = len(x.tracks) - 1
			continue
		}
		n := seen[mt]
		seen[mt]++
		for ti, t := range x.tracks {
			if t.cp.MediaType() != mt {
				continue
			}
			if n == 0 {
				idx[st.Index()] = ti
				break
			}
			n--
		}
		if _, ok := idx[st.Index()]; !ok {
			return nil, fmt.Errorf("a %s stream the first segments did not have", mt)
		}
	}
	if len(idx) == 0 {
		return nil, errors.New("no video or audio stream")
	}
	return idx, nil
}

// packet moves p (of time base tb) onto track ti's single-pass timeline
// and writes it, holding packets until the first video key packet.
func (x *remux) packet(p *astiav.Packet, tb astiav.Rational, ti int) error {
	t := x.tracks[ti]
	p.RescaleTs(tb, t.tb)
	off := astiav.RescaleQ(timelineOffsetMicros, microTB, t.tb)
	if p.Pts() != noPTS {
		p.SetPts(p.Pts() - off)
	}
	if p.Dts() != noPTS {
		p.SetDts(p.Dts() - off)
	}
	video := t.cp.MediaType() == astiav.MediaTypeVideo
	if video && p.Duration() <= 0 && x.fps > 0 {
		p.SetDuration(int64(math.Round(1 / (x.fps * t.tb.Float64()))))
	}
	if x.started {
		return x.m.write(x.tracks, []pkt{{p: p, track: ti}})
	}
	c := p.Clone()
	if c == nil {
		return errors.New("mp4: packet reference failed")
	}
	x.held = append(x.held, pkt{p: c, track: ti})
	if !video || !p.Flags().Has(astiav.PacketFlagKey) {
		return nil
	}
	x.started = true
	err := x.m.write(x.tracks, x.held)
	for _, k := range x.held {
		k.p.Free()
	}
	x.held = nil
	return err
}

// objectsReader reads stored objects one after the other as one stream,
// opening each when the one before it has been read to its end.
type objectsReader struct {
	open  func(string) (ReadSeekCloser, int64, error)
	names []string
	cur   ReadSeekCloser
}

func (r *objectsReader) Read(b []byte) (int, error) {
	for {
		if r.cur == nil {
			if len(r.names) == 0 {
				return 0, io.EOF
			}
			c, _, err := r.open(r.names[0])
			if err != nil {
				return 0, fmt.Errorf("opening %s: %w", r.names[0], err)
			}
			r.cur, r.names = c, r.names[1:]
		}
		n, err := r.cur.Read(b)
		if !errors.Is(err, io.EOF) {
			return n, err
		}
		r.Close()
		if n > 0 {
			return n, nil
		}
	}
}

// Close closes the object being read; a reader read to its end has nothing
// left to report, so the error is dropped.
func (r *objectsReader) Close() error {
	if r.cur != nil {
		_ = r.cur.Close()
		r.cur = nil
	}
	return nil
}
