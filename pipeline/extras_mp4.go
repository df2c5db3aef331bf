package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/asticode/go-astiav"

	"github.com/hlsfleet/hlsfleet/ladders"
)

// ErrNoMP4Rendition rejects an MP4 choice that names no rung of the ladder
// (a request fault: it wraps ladders.ErrInvalid).
var ErrNoMP4Rendition = fmt.Errorf("%w: no such rendition for the MP4", ladders.ErrInvalid)

// MP4Result describes the progressive MP4 download.
type MP4Result struct {
	Name      string `json:"name"`
	Rendition string `json:"rendition"`
	Bytes     int64  `json:"bytes"`
}

// pickMP4Rung chooses the rung for the MP4: by name ("720p") or height
// ("720"); a height above every selected rung (the source is smaller than
// the ladder's top) picks the highest rung at or below it, then the top.
func pickMP4Rung(choice string, l *ladders.Ladder, outs []ladders.Output) (int, error) {
	choice = strings.TrimSpace(choice)
	for i, o := range outs {
		if o.Name == choice {
			return i, nil
		}
	}
	h, err := strconv.Atoi(strings.TrimSuffix(choice, "p"))
	if err != nil || h <= 0 {
		return 0, fmt.Errorf("%w: %q (want a rendition name such as 720p or a height such as 720)", ErrNoMP4Rendition, choice)
	}
	if !l.HasRung(choice) {
		return 0, fmt.Errorf("%w: the ladder has no %dp rung", ErrNoMP4Rendition, h)
	}
	for i, o := range outs {
		if min(o.Width, o.Height) <= h {
			return i, nil
		}
	}
	return len(outs) - 1, nil
}

// mp4Writer remuxes one rung's encoded packets (video and its muxed audio,
// as the segmenter cuts them) into a progressive MP4: no second encode. The
// MP4 muxer writes a temporary file, which faststart rewrites with the moov
// box first; publish copies it through the sink.
type mp4Writer struct {
	rung    string
	path    string
	fc      *astiav.FormatContext
	ioc     *astiav.IOContext
	streams []*astiav.Stream
	header  bool
}

func newMP4Writer(rung string) (*mp4Writer, error) {
	f, err := os.CreateTemp("", "hlsfleet-*.mp4")
	if err != nil {
		return nil, fmt.Errorf("mp4 temporary file: %w", err)
	}
	path := f.Name()
	f.Close()
	return &mp4Writer{rung: rung, path: path}, nil
}

// open starts the muxer on the segmenter's tracks. first is the first video
// packet: an encoder without global headers (TS segments) puts its
// parameter sets in band, and MP4 needs them in the sample description.
func (m *mp4Writer) open(tracks []*track, pkts []pkt) error {
	fc, err := astiav.AllocOutputFormatContext(nil, "mp4", m.path)
	if err != nil {
		return fmt.Errorf("mp4 muxer: %w", err)
	}
	m.fc = fc
	if m.ioc, err = astiav.OpenIOContext(m.path, astiav.NewIOContextFlags(astiav.IOContextFlagWrite)); err != nil {
		return fmt.Errorf("mp4 output: %w", err)
	}
	fc.SetPb(m.ioc)
	// Video first, as players and editors expect; m.streams stays indexed
	// by track.
	order := make([]*track, 0, len(tracks))
	for _, video := range []bool{true, false} {
		for _, t := range tracks {
			if (t.cp.MediaType() == astiav.MediaTypeVideo) == video {
				order = append(order, t)
			}
		}
	}
	ordered, err := addStreams(fc, order, func(t *track) astiav.Rational {
		if t.cp.MediaType() == astiav.MediaTypeAudio {
			return astiav.NewRational(1, t.cp.SampleRate())
		}
		return astiav.NewRational(1, 90000)
	})
	if err != nil {
		return err
	}
	m.streams = make([]*astiav.Stream, len(tracks))
	for i, t := range tracks {
		for j, o := range order {
			if o == t {
				m.streams[i] = ordered[j]
			}
		}
	}
	for i, t := range tracks {
		cp := m.streams[i].CodecParameters()
		if t.cp.MediaType() != astiav.MediaTypeVideo || len(cp.ExtraData()) > 0 {
			continue
		}
		for _, k := range pkts {
			if k.track == i && k.p.Flags().Has(astiav.PacketFlagKey) {
				if ps := annexBParameterSets(cp.CodecID(), k.p.Data()); len(ps) > 0 {
					if err := cp.SetExtraData(ps); err != nil {
						return fmt.Errorf("mp4 parameter sets: %w", err)
					}
				}
				break
			}
		}
	}
	opts := astiav.NewDictionary()
	defer opts.Free()
	_ = opts.Set("movflags", "+faststart", 0)
	if err := fc.WriteHeader(opts); err != nil {
		return fmt.Errorf("mp4 header: %w", err)
	}
	m.header = true
	return nil
}

// write muxes copies of one segment's packets (in DTS order).
func (m *mp4Writer) write(tracks []*track, pkts []pkt) error {
	if m.fc == nil {
		if err := m.open(tracks, pkts); err != nil {
			return err
		}
	}
	for _, k := range pkts {
		c := k.p.Clone()
		if c == nil {
			return errors.New("mp4: packet reference failed")
		}
		st := m.streams[k.track]
		c.SetStreamIndex(st.Index())
		c.RescaleTs(tracks[k.track].tb, st.TimeBase())
		err := m.fc.WriteInterleavedFrame(c)
		c.Free()
		if err != nil {
			return fmt.Errorf("mp4: muxing packet: %w", err)
		}
	}
	return nil
}

// finish writes the trailer (faststart moves the moov box to the front)
// and copies the file through the sink as name.
func (m *mp4Writer) finish(sink Sink, name string) (*MP4Result, error) {
	if m.fc == nil {
		return nil, fmt.Errorf("mp4: rendition %s produced no packets", m.rung)
	}
	if err := m.fc.WriteTrailer(); err != nil {
		return nil, fmt.Errorf("mp4 trailer: %w", err)
	}
	m.header = false
	if err := m.ioc.Close(); err != nil {
		return nil, fmt.Errorf("mp4 output: %w", err)
	}
	m.ioc = nil
	f, err := os.Open(m.path)
	if err != nil {
		return nil, fmt.Errorf("mp4: %w", err)
	}
	defer f.Close()
	w, err := sink.Create(name)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", name, err)
	}
	n, err := io.Copy(w, f)
	if cerr := w.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", name, err)
	}
	return &MP4Result{Name: name, Rendition: m.rung, Bytes: n}, nil
}

func (m *mp4Writer) free() {
	if m.fc != nil {
		if m.header {
			_ = m.fc.WriteTrailer()
		}
		m.fc.Free()
		m.fc = nil
	}
	if m.ioc != nil {
		_ = m.ioc.Close()
		m.ioc = nil
	}
	if m.path != "" {
		os.Remove(m.path)
		m.path = ""
	}
}

// annexBParameterSets returns the parameter-set NAL units (H.264 SPS/PPS,
// HEVC VPS/SPS/PPS) of an Annex B access unit, each with a start code: the
// MP4 muxer turns such extradata into an avcC/hvcC box.
func annexBParameterSets(id astiav.CodecID, au []byte) []byte {
	var out []byte
	for _, nal := range splitAnnexB(au) {
		if len(nal) == 0 {
			continue
		}
		var ps bool
		switch id {
		case astiav.CodecIDH264:
			t := nal[0] & 0x1f
			ps = t == 7 || t == 8
		case astiav.CodecIDHevc:
			t := (nal[0] >> 1) & 0x3f
			ps = t >= 32 && t <= 34
		}
		if ps {
			out = append(out, 0, 0, 0, 1)
			out = append(out, nal...)
		}
	}
	return out
}

// splitAnnexB splits a byte stream at its 3- and 4-byte start codes.
func splitAnnexB(b []byte) [][]byte {
	var nals [][]byte
	start := -1
	for i := 0; i+3 <= len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				nals = append(nals, bytes.TrimRight(b[start:i], "\x00"))
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 {
		nals = append(nals, b[start:])
	}
	return nals
}
