package pipeline

// Muxers: the containers a segmenter (segmenter.go) writes its cut packets
// into, over custom IO whose write callback feeds the sink. MPEG-TS gets a
// fresh muxer per segment (its continuity counters carried on by tscc.go);
// fragmented MP4 one muxer per rendition, one fragment per segment.

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/asticode/go-astiav"
)

// muxWrite adapts an io.Writer to go-astiav's IO write callback.
func muxWrite(w *io.Writer) astiav.IOContextWriteFunc {
	return func(b []byte) (int, error) {
		if *w == nil {
			return len(b), nil
		}
		n, err := (*w).Write(b)
		if err != nil {
			return n, astiav.ErrEio
		}
		return n, nil
	}
}

// addStreams creates one output stream per track and returns them.
func addStreams(fc *astiav.FormatContext, tracks []*track, tbFor func(*track) astiav.Rational) ([]*astiav.Stream, error) {
	out := make([]*astiav.Stream, len(tracks))
	for i, t := range tracks {
		st := fc.NewStream(nil)
		if st == nil {
			return nil, errors.New("allocating output stream failed")
		}
		if err := t.cp.Copy(st.CodecParameters()); err != nil {
			return nil, fmt.Errorf("stream parameters: %w", err)
		}
		st.CodecParameters().SetCodecTag(0)
		st.SetTimeBase(tbFor(t))
		out[i] = st
	}
	return out, nil
}

// writePackets rescales each packet to its stream, adds the timeline offset
// (offsetMicros) and writes it in the given (DTS) order.
func writePackets(fc *astiav.FormatContext, streams []*astiav.Stream, tracks []*track, pkts []pkt, offsetMicros int64) error {
	for _, k := range pkts {
		st := streams[k.track]
		p := k.p
		p.SetStreamIndex(st.Index())
		p.RescaleTs(tracks[k.track].tb, st.TimeBase())
		off := astiav.RescaleQ(offsetMicros, microTB, st.TimeBase())
		if p.Pts() != noPTS {
			p.SetPts(p.Pts() + off)
		}
		if p.Dts() != noPTS {
			p.SetDts(p.Dts() + off)
		}
		if err := fc.WriteFrame(p); err != nil {
			return fmt.Errorf("muxing packet: %w", err)
		}
	}
	return nil
}

// writeTS writes one self-contained MPEG-TS segment: a fresh muxer per
// segment, no mux delay, timestamps never shifted by the muxer.
func writeTS(w io.Writer, tracks []*track, pkts []pkt, offsetMicros int64) error {
	fc, err := astiav.AllocOutputFormatContext(nil, "mpegts", "")
	if err != nil {
		return fmt.Errorf("mpegts muxer: %w", err)
	}
	defer fc.Free()
	ioc, err := astiav.AllocIOContext(64<<10, true, nil, nil, muxWrite(&w))
	if err != nil {
		return fmt.Errorf("mpegts io: %w", err)
	}
	defer ioc.Free()
	fc.SetPb(ioc)
	streams, err := addStreams(fc, tracks, func(*track) astiav.Rational { return astiav.NewRational(1, 90000) })
	if err != nil {
		return err
	}
	opts := astiav.NewDictionary()
	defer opts.Free()
	_ = opts.Set("max_delay", "0", 0)
	_ = opts.Set("avoid_negative_ts", "disabled", 0)
	if err := fc.WriteHeader(opts); err != nil {
		return fmt.Errorf("mpegts header: %w", err)
	}
	if err := writePackets(fc, streams, tracks, pkts, offsetMicros); err != nil {
		return err
	}
	if err := fc.WriteTrailer(); err != nil {
		return fmt.Errorf("mpegts trailer: %w", err)
	}
	ioc.Flush()
	return nil
}

// fmp4Muxer is one fragmented-MP4 muxer per rendition for the whole job: the
// header becomes init.mp4, each flushed fragment one segment, so decode times
// (tfdt) run on without reset.
type fmp4Muxer struct {
	fc      *astiav.FormatContext
	ioc     *astiav.IOContext
	w       io.Writer
	streams []*astiav.Stream
	tracks  []*track
	header  bool

	offsetMicros int64
}

// newFMP4Muxer writes the header (init.mp4) into init; the fragments it
// writes then carry sequence numbers (mfhd) from fragment on.
func newFMP4Muxer(tracks []*track, init io.Writer, fragment int) (_ *fmp4Muxer, err error) {
	m := &fmp4Muxer{tracks: tracks, w: init}
	defer func() {
		if err != nil {
			m.free()
		}
	}()
	if m.fc, err = astiav.AllocOutputFormatContext(nil, "mp4", ""); err != nil {
		return nil, fmt.Errorf("mp4 muxer: %w", err)
	}
	if m.ioc, err = astiav.AllocIOContext(64<<10, true, nil, nil, muxWrite(&m.w)); err != nil {
		return nil, fmt.Errorf("mp4 io: %w", err)
	}
	m.fc.SetPb(m.ioc)
	m.streams, err = addStreams(m.fc, tracks, func(t *track) astiav.Rational {
		if t.cp.MediaType() == astiav.MediaTypeAudio {
			return astiav.NewRational(1, t.cp.SampleRate())
		}
		return astiav.NewRational(1, 90000)
	})
	if err != nil {
		return nil, err
	}
	opts := astiav.NewDictionary()
	defer opts.Free()
	_ = opts.Set("movflags", "frag_custom+empty_moov+default_base_moof+skip_trailer+frag_discont", 0)
	_ = opts.Set("avoid_negative_ts", "disabled", 0)
	_ = opts.Set("use_editlist", "0", 0)
	_ = opts.Set("fragment_index", strconv.Itoa(fragment), 0)
	if err = m.fc.WriteHeader(opts); err != nil {
		return nil, fmt.Errorf("mp4 header: %w", err)
	}
	m.header = true
	m.ioc.Flush()
	m.w = nil
	return m, nil
}

// fragment writes pkts as one fragment into w.
func (m *fmp4Muxer) fragment(w io.Writer, pkts []pkt) error {
	m.w = w
	defer func() { m.w = nil }()
	if err := writePackets(m.fc, m.streams, m.tracks, pkts, m.offsetMicros); err != nil {
		return err
	}
	if err := m.fc.WriteFrame(nil); err != nil {
		return fmt.Errorf("flushing fragment: %w", err)
	}
	m.ioc.Flush()
	return nil
}

func (m *fmp4Muxer) free() {
	if m.fc != nil {
		m.w = nil
		if m.header {
			_ = m.fc.WriteTrailer()
		}
		m.fc.Free()
		m.fc = nil
	}
	if m.ioc != nil {
		m.ioc.Free()
		m.ioc = nil
	}
}
