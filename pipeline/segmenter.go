package pipeline

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"

	"github.com/asticode/go-astiav"

	"github.com/hlsfleet/hlsfleet/pipeline/hls"
)

// SegmentType is the container of HLS media segments.
type SegmentType string

// The segment types a presentation can use.
const (
	SegmentTS   SegmentType = "ts"
	SegmentFMP4 SegmentType = "fmp4"
)

func (t SegmentType) ext() string {
	if t == SegmentFMP4 {
		return "m4s"
	}
	return "ts"
}

// timelineOffset is added to every output timestamp, the same for every
// segment and rendition: MPEG-TS then never sees a negative DTS (B-frames,
// AAC priming), and no muxer shifts only the first segment.
const timelineOffsetMicros = 10_000_000

const eps = 1e-6

var microTB = astiav.NewRational(1, 1_000_000)

// track is one elementary stream of a rendition's segments.
type track struct {
	cp *astiav.CodecParameters // owned by the segmenter
	tb astiav.Rational         // time base of the packets pushed
}

// pkt is an encoded packet bound to a track of the segmenter.
type pkt struct {
	p     *astiav.Packet
	track int
}

func (k pkt) dtsSeconds(tracks []*track) float64 {
	d := k.p.Dts()
	if d == noPTS {
		d = k.p.Pts()
	}
	return float64(d) * tracks[k.track].tb.Float64()
}

// pending is a segment whose primary-track packets are complete.
type pending struct {
	pkts       []pkt
	start, end float64
	last       bool
}

// segmenter cuts one rendition's packets into HLS segments and writes them
// through the sink as soon as each is complete. Video packets drive the cuts
// (a key packet at or past the next boundary starts a new segment); audio
// packets are assigned by timestamp, so every rendition cuts at the same
// instants. With no video, audio packets drive the cuts by time alone.
type segmenter struct {
	mu      sync.Mutex
	dir     string
	typ     SegmentType
	sink    Sink
	segDur  float64
	tracks  []*track // index 0 is the primary (video if any)
	primary int      // -1 until the primary track is known
	audioT  int      // track index of muxed audio, -1 if none

	started     bool
	cur         []pkt
	curStart    float64
	nextCut     float64
	primaryEnd  float64
	primaryDone bool
	closed      []pending

	aq        []pkt
	audioHigh float64
	audioDone bool

	videoCodec string // RFC 6381 string from the first key packet's SPS
	fm         *fmp4Muxer
	tscc       *tsContinuity // TS continuity counters across this rendition's segments
	// tap, when set, sees each segment's packets (DTS order) before they
	// are muxed, e.g. the progressive MP4 (extras_mp4.go); it must not keep them.
	tap func(tracks []*track, pkts []pkt) error
	// offsetMicros is added to every timestamp written: timelineOffsetMicros
	// for VOD; a live segment sets its source start, so the output keeps the
	// source timeline (see live.go).
	offsetMicros int64
	// first is the number of the first segment, in names and for fMP4's
	// fragment sequence numbers: 0, or a chunk's first global segment
	// (chunk.go). start is the first segment's start.
	first int
	start float64

	segments []hls.Segment
	sizes    []int64
	initSize int64
	err      error
}

func newSegmenter(dir string, typ SegmentType, sink Sink, segDur float64) *segmenter {
	return &segmenter{dir: dir, typ: typ, sink: sink, segDur: segDur, primary: -1, audioT: -1, offsetMicros: timelineOffsetMicros}
}

// addTrack registers a stream before its first packet; it copies cp.
func (s *segmenter) addTrack(cp *astiav.CodecParameters, tb astiav.Rational, primary bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := astiav.AllocCodecParameters()
	if err := cp.Copy(c); err != nil {
		c.Free()
		return 0, fmt.Errorf("codec parameters: %w", err)
	}
	s.tracks = append(s.tracks, &track{cp: c, tb: tb})
	i := len(s.tracks) - 1
	if primary {
		s.primary = i
	} else {
		s.audioT = i
	}
	return i, nil
}

func (s *segmenter) sec(k pkt) float64 {
	return float64(k.p.Pts()) * s.tracks[k.track].tb.Float64()
}

func (s *segmenter) dur(k pkt) float64 {
	return float64(k.p.Duration()) * s.tracks[k.track].tb.Float64()
}

// pushPrimary takes ownership of p, a packet of the primary track.
func (s *segmenter) pushPrimary(p *astiav.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		p.Free()
		return s.err
	}
	k := pkt{p: p, track: s.primary}
	t := s.sec(k)
	key := p.Flags().Has(astiav.PacketFlagKey)
	isVideo := s.tracks[s.primary].cp.MediaType() == astiav.MediaTypeVideo
	if isVideo && key && s.videoCodec == "" {
		s.videoCodec = videoCodecString(s.tracks[s.primary].cp, p.Data())
	}
	switch {
	case !s.started:
		s.started = true
		s.curStart, s.start = t, t
		s.nextCut = s.segDur * (math.Floor(math.Max(t, 0)/s.segDur+eps) + 1)
	case (key || !isVideo) && t >= s.nextCut-eps:
		s.closed = append(s.closed, pending{pkts: s.cur, start: s.curStart, end: t})
		s.cur = nil
		s.curStart = t
		for s.nextCut <= t+eps {
			s.nextCut += s.segDur
		}
	}
	s.cur = append(s.cur, k)
	s.primaryEnd = math.Max(s.primaryEnd, t+s.dur(k))
	return s.flush()
}

// finishPrimary closes the last segment.
func (s *segmenter) finishPrimary() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.primaryDone = true
	if len(s.cur) > 0 {
		s.closed = append(s.closed, pending{pkts: s.cur, start: s.curStart, end: s.primaryEnd, last: true})
		s.cur = nil
	}
	return s.flush()
}

// pushAudio takes ownership of p, an audio packet muxed next to video.
func (s *segmenter) pushAudio(p *astiav.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		p.Free()
		return s.err
	}
	k := pkt{p: p, track: s.audioT}
	s.aq = append(s.aq, k)
	s.audioHigh = math.Max(s.audioHigh, s.sec(k))
	return s.flush()
}

func (s *segmenter) finishAudio() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.audioDone = true
	return s.flush()
}

// flush writes every closed segment whose audio is complete. Called locked.
func (s *segmenter) flush() error {
	for len(s.closed) > 0 {
		ps := s.closed[0]
		if s.audioT >= 0 && !s.audioDone && (ps.last || s.audioHigh < ps.end-eps) {
			return nil
		}
		var audio []pkt
		n := 0
		for n < len(s.aq) && (ps.last || s.sec(s.aq[n]) < ps.end-eps) {
			n++
		}
		audio, s.aq = s.aq[:n], s.aq[n:]
		s.closed = s.closed[1:]
		if err := s.write(ps, audio); err != nil {
			s.err = err
			return err
		}
	}
	return nil
}

func (s *segmenter) write(ps pending, audio []pkt) (err error) {
	all := append(ps.pkts, audio...)
	defer func() {
		for _, k := range all {
			k.p.Free()
		}
	}()
	sort.SliceStable(all, func(i, j int) bool { return all[i].dtsSeconds(s.tracks) < all[j].dtsSeconds(s.tracks) })
	if s.tap != nil {
		if err := s.tap(s.tracks, all); err != nil {
			return err
		}
	}

	if s.typ == SegmentFMP4 && s.fm == nil {
		if err := s.openFMP4(); err != nil {
			return err
		}
	}
	uri := fmt.Sprintf("seg_%05d.%s", s.first+len(s.segments), s.typ.ext())
	name := s.dir + "/" + uri
	w, err := s.sink.Create(name)
	if err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	cw := &countingWriter{w: w}
	if s.typ == SegmentFMP4 {
		err = s.fm.fragment(cw, all)
	} else {
		if s.tscc == nil {
			s.tscc = newTSContinuity()
		}
		ccw := s.tscc.writer(cw)
		if err = writeTS(ccw, s.tracks, all, s.offsetMicros); err == nil {
			err = ccw.Close()
		}
	}
	if cerr := w.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing %s: %w", name, cerr)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	s.segments = append(s.segments, hls.Segment{URI: uri, Duration: ps.end - ps.start})
	s.sizes = append(s.sizes, cw.n)
	return nil
}

func (s *segmenter) openFMP4() error {
	name := s.dir + "/init.mp4"
	w, err := s.sink.Create(name)
	if err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	cw := &countingWriter{w: w}
	fm, err := newFMP4Muxer(s.tracks, cw, s.first+1)
	if fm != nil {
		fm.offsetMicros = s.offsetMicros
	}
	if cerr := w.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		if fm != nil {
			fm.free()
		}
		return fmt.Errorf("writing %s: %w", name, err)
	}
	s.fm, s.initSize = fm, cw.n
	return nil
}

// close frees what the segmenter still holds.
func (s *segmenter) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ps := range s.closed {
		for _, k := range ps.pkts {
			k.p.Free()
		}
	}
	for _, k := range append(s.cur, s.aq...) {
		k.p.Free()
	}
	s.closed, s.cur, s.aq = nil, nil, nil
	if s.fm != nil {
		s.fm.free()
		s.fm = nil
	}
	for _, t := range s.tracks {
		t.cp.Free()
	}
	s.tracks = nil
}

// playlist is the rendition's VOD media playlist.
func (s *segmenter) playlist() *hls.MediaPlaylist {
	p := &hls.MediaPlaylist{Type: hls.VOD, IndependentSegments: true, Segments: s.segments, EndList: true}
	if s.typ == SegmentFMP4 {
		p.MapURI = "init.mp4"
	}
	return p
}

// bandwidth returns the peak segment bit rate (RFC 8216 definition) and the
// average bit rate of segs, whose sizes in bytes are sizes, rounded up to
// whole bits per second.
func bandwidth(segs []hls.Segment, sizes []int64) (peak, avg int64) {
	p, _ := hls.PeakBitrate(segs, sizes)
	return int64(math.Ceil(p)), int64(math.Ceil(hls.AverageBitrate(segs, sizes)))
}

// videoCodecString builds the CODECS entry from the encoder's real SPS: the
// extradata when the encoder has global headers, else the key packet.
func videoCodecString(cp *astiav.CodecParameters, keyPacket []byte) string {
	for _, src := range [][]byte{cp.ExtraData(), keyPacket} {
		if len(src) == 0 {
			continue
		}
		sps, err := hls.ParameterSets(src)
		if err != nil || len(sps) == 0 {
			continue
		}
		var s string
		switch cp.CodecID() {
		case astiav.CodecIDH264:
			s, err = hls.AVCCodecString(sps[0])
		case astiav.CodecIDHevc:
			s, err = hls.HEVCCodecString(sps[0])
		default:
			err = errors.New("unsupported codec")
		}
		if err == nil {
			return s
		}
	}
	return ""
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
