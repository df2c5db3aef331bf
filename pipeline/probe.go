package pipeline

import (
	"errors"
	"fmt"
	"math"

	"github.com/asticode/go-astiav"

	"github.com/hlsfleet/hlsfleet/ladders"
)

// MaxDimension is the largest width or height accepted on either side.
const MaxDimension = 8192

// DefaultMaxDuration is the longest input accepted unless Limits says otherwise.
const DefaultMaxDuration = 6 * 3600.0

// Limits bound what an input may ask of us; they are checked before any
// decoder is opened.
type Limits struct {
	MaxDimension   int     // pixels on either side; 0 = MaxDimension
	MaxDuration    float64 // seconds; 0 = DefaultMaxDuration
	MaxInputBytes  int64   // 0 = no limit
	AllAudioTracks bool    // used by Transcode: mux every audio track instead of the first
}

func (l Limits) maxDim() int {
	if l.MaxDimension <= 0 {
		return MaxDimension
	}
	return l.MaxDimension
}

func (l Limits) maxDur() float64 {
	if l.MaxDuration <= 0 {
		return DefaultMaxDuration
	}
	return l.MaxDuration
}

// Info describes an input as probed.
type Info struct {
	Container string       `json:"container"`
	Duration  float64      `json:"duration_seconds"`
	BitRate   int64        `json:"bit_rate_bps,omitempty"`
	Size      int64        `json:"size_bytes,omitempty"`
	Video     *VideoInfo   `json:"video,omitempty"`
	Audio     []AudioInfo  `json:"audio,omitempty"`
	Streams   []StreamInfo `json:"streams"`
}

// VideoInfo describes the video stream the pipeline would use.
type VideoInfo struct {
	Index          int     `json:"index"`
	Codec          string  `json:"codec"`
	Profile        string  `json:"profile,omitempty"`
	Width          int     `json:"width"`
	Height         int     `json:"height"`
	SAR            string  `json:"sample_aspect_ratio"`
	DisplayWidth   int     `json:"display_width"`
	DisplayHeight  int     `json:"display_height"`
	Rotation       int     `json:"rotation"` // degrees clockwise to apply for display
	FrameRate      string  `json:"frame_rate"`
	AvgFrameRate   string  `json:"avg_frame_rate"`
	VariableRate   bool    `json:"variable_frame_rate"`
	PixelFormat    string  `json:"pixel_format"`
	BitDepth       int     `json:"bit_depth"`
	Chroma         string  `json:"chroma"`
	FieldOrder     string  `json:"field_order"` // progressive, tff, bff
	ColorSpace     string  `json:"color_space,omitempty"`
	ColorPrimaries string  `json:"color_primaries,omitempty"`
	ColorTransfer  string  `json:"color_transfer,omitempty"`
	ColorRange     string  `json:"color_range,omitempty"`
	HDR            bool    `json:"hdr"`
	Duration       float64 `json:"duration_seconds,omitempty"`

	sar      astiav.Rational
	fps      astiav.Rational
	pixFmt   astiav.PixelFormat
	hdrTrc   string
	decoderN string
}

// FPS is FrameRate ("30000/1001", "25") as a number; 0 when unknown. It
// works on an Info read back from JSON (a probe child's output).
func (v *VideoInfo) FPS() float64 { return ladders.RateFloat(v.FrameRate) }

// AudioInfo describes one audio track.
type AudioInfo struct {
	Index      int    `json:"index"`
	Codec      string `json:"codec"`
	SampleRate int    `json:"sample_rate"`
	Channels   int    `json:"channels"`
	Layout     string `json:"channel_layout,omitempty"`
	Language   string `json:"language,omitempty"`
}

// StreamInfo is one line per container stream, whatever its type.
type StreamInfo struct {
	Index int    `json:"index"`
	Type  string `json:"type"`
	Codec string `json:"codec"`
	Used  bool   `json:"used"`
}

// Probe opens an input, checks it against the limits and describes it. It
// decodes the first video frame to learn the field order and to prove the
// stream decodes.
func Probe(path string, lim Limits) (*Info, error) {
	return ProbeSource(Source{Path: path}, lim)
}

// ProbeSource is Probe for any Source.
func ProbeSource(src Source, lim Limits) (*Info, error) {
	in, err := openSource(src, lim)
	if err != nil {
		return nil, err
	}
	defer in.close()
	if in.video != nil {
		if err := inspectFirstFrame(in); err != nil {
			return nil, err
		}
	}
	return in.info, nil
}

// describe fills in.info from the opened demuxer: the container, every
// stream, the video stream the pipeline uses (in.video) and its audio
// tracks (in.audios), checked against lim.
func (in *input) describe(name string, size int64, lim Limits) error {
	fc := in.fc
	info := &Info{Size: size, BitRate: fc.BitRate()}
	if f := fc.InputFormat(); f != nil {
		info.Container = f.Name()
	}
	if d := fc.Duration(); d > 0 {
		info.Duration = float64(d) / 1e6
	}
	if s := fc.StartTime(); s != noPTS {
		in.start = s
	}
	videoCandidates := in.listStreams(info)
	in.video = pickVideo(videoCandidates, len(in.audios) > 0)
	if in.video == nil && len(in.audios) == 0 {
		if len(fc.Streams()) == 0 {
			return inputErr(ErrNotMedia, "%s contains no audio or video streams", name)
		}
		return inputErr(ErrNoStream, "none of the %d streams in %s can be decoded", len(fc.Streams()), name)
	}
	if in.video != nil {
		vi, err := describeVideo(in.video, fc, lim)
		if err != nil {
			return err
		}
		info.Video = vi
		info.Streams[vi.Index].Used = true
	}
	for i, a := range in.audios {
		ai, err := describeAudio(a)
		if err != nil {
			return err
		}
		info.Audio = append(info.Audio, ai)
		if i == 0 || lim.AllAudioTracks {
			info.Streams[a.Index()].Used = true
		}
	}
	if info.Duration <= 0 {
		info.Duration = longestStreamDuration(fc)
	}
	if info.Duration > lim.maxDur() {
		return inputErr(ErrTooLong, "duration %.1f s is over the %.0f s limit", info.Duration, lim.maxDur())
	}
	in.info = info
	return nil
}

// listStreams adds one StreamInfo per container stream to info, keeps the
// decodable audio streams in in.audios and returns the decodable video
// streams, the candidates for in.video.
func (in *input) listStreams(info *Info) []*astiav.Stream {
	var videoCandidates []*astiav.Stream
	for _, s := range in.fc.Streams() {
		cp := s.CodecParameters()
		info.Streams = append(info.Streams, StreamInfo{Index: s.Index(), Type: cp.MediaType().String(), Codec: cp.CodecID().Name()})
		switch cp.MediaType() {
		case astiav.MediaTypeVideo:
			if astiav.FindDecoder(cp.CodecID()) != nil {
				videoCandidates = append(videoCandidates, s)
			}
		case astiav.MediaTypeAudio:
			if astiav.FindDecoder(cp.CodecID()) != nil && cp.SampleRate() > 0 {
				in.audios = append(in.audios, s)
			}
		}
	}
	return videoCandidates
}

// imageCodecs are video codecs that, next to an audio stream, are cover art
// rather than a picture track (go-astiav v0.16 exposes no disposition).
var imageCodecs = map[string]bool{"mjpeg": true, "png": true, "bmp": true, "gif": true, "webp": true, "tiff": true}

func pickVideo(cands []*astiav.Stream, haveAudio bool) *astiav.Stream {
	var best *astiav.Stream
	for _, s := range cands {
		cp := s.CodecParameters()
		if haveAudio && imageCodecs[cp.CodecID().Name()] && s.NbFrames() <= 1 {
			continue
		}
		if best == nil || cp.Width()*cp.Height() > best.CodecParameters().Width()*best.CodecParameters().Height() {
			best = s
		}
	}
	return best
}

func describeVideo(s *astiav.Stream, fc *astiav.FormatContext, lim Limits) (*VideoInfo, error) {
	cp := s.CodecParameters()
	w, h := cp.Width(), cp.Height()
	if w > lim.maxDim() || h > lim.maxDim() {
		return nil, inputErr(ErrTooLarge, "video is %dx%d, over the %d pixel limit per side", w, h, lim.maxDim())
	}
	if w <= 0 || h <= 0 {
		return nil, inputErr(ErrCorrupt, "video stream %d has no frame size", s.Index())
	}
	vi := &VideoInfo{
		Index: s.Index(), Codec: cp.CodecID().Name(), Width: w, Height: h,
		PixelFormat: cp.PixelFormat().Name(), pixFmt: cp.PixelFormat(),
		ColorSpace:     colorSpaceName(int(cp.ColorSpace())),
		ColorPrimaries: colorPrimariesName(int(cp.ColorPrimaries())),
		ColorTransfer:  colorTransferName(int(cp.ColorTransferCharacteristic())),
		ColorRange:     colorRangeName(int(cp.ColorRange())),
		FieldOrder:     "progressive",
	}
	vi.Profile = profileName(int(cp.CodecID()), int(cp.Profile()))
	vi.BitDepth = pixDepth(int(cp.PixelFormat()))
	cw, ch := pixChroma(int(cp.PixelFormat()))
	vi.Chroma = chromaName(cw, ch)
	switch vi.ColorTransfer {
	case "smpte2084", "arib-std-b67":
		vi.HDR = true
		vi.hdrTrc = vi.ColorTransfer
	}
	sar := fc.GuessSampleAspectRatio(s, nil)
	if sar.Num() <= 0 || sar.Den() <= 0 {
		sar = astiav.NewRational(1, 1)
	}
	vi.sar = sar
	vi.SAR = fmt.Sprintf("%d:%d", sar.Num(), sar.Den())
	if m := s.SideData(astiav.PacketSideDataTypeDisplaymatrix); len(m) >= 36 {
		if dm, err := astiav.NewDisplayMatrixFromBytes(m); err == nil {
			vi.Rotation = normalizeRotation(dm.Rotation()) // go-astiav gives clockwise degrees
		}
	}
	dw := int(math.Round(float64(w) * sar.Float64()))
	dh := h
	if vi.Rotation == 90 || vi.Rotation == 270 {
		dw, dh = dh, dw
	}
	vi.DisplayWidth, vi.DisplayHeight = dw, dh

	fps := fc.GuessFrameRate(s, nil)
	avg := s.AvgFrameRate()
	r := s.RFrameRate()
	if avg.Num() > 0 && avg.Den() > 0 {
		vi.AvgFrameRate = avg.String()
	}
	if r.Num() > 0 && r.Den() > 0 {
		vi.FrameRate = r.String()
		if avg.Num() > 0 && avg.Den() > 0 && math.Abs(r.Float64()-avg.Float64()) > 0.01*r.Float64() {
			// Variable frame rate: the output is made constant at the base
			// rate (r_frame_rate, which represents every timestamp), not at
			// the average, which is rarely a standard rate.
			vi.VariableRate = true
		}
	}
	if fps.Num() <= 0 || fps.Den() <= 0 || fps.Float64() > 240 {
		fps = avg
	}
	vi.fps = fps
	if d := s.Duration(); d > 0 {
		vi.Duration = float64(d) * s.TimeBase().Float64()
	}
	return vi, nil
}

// describeAudio describes one audio track; one that declares no channels
// is corrupt.
func describeAudio(a *astiav.Stream) (AudioInfo, error) {
	cp := a.CodecParameters()
	ai := AudioInfo{Index: a.Index(), Codec: cp.CodecID().Name(), SampleRate: cp.SampleRate(), Channels: cp.ChannelLayout().NbChannels()}
	if ai.Channels == 0 {
		ai.Channels = cp.Channels()
	}
	if cp.ChannelLayout().Valid() {
		ai.Layout = cp.ChannelLayout().String()
	}
	if md := a.Metadata(); md != nil {
		if e := md.Get("language", nil, 0); e != nil {
			ai.Language = e.Value()
		}
	}
	if ai.Channels <= 0 {
		return AudioInfo{}, inputErr(ErrCorrupt, "audio stream %d declares no channels", a.Index())
	}
	return ai, nil
}

func chromaName(w, h int) string {
	switch {
	case w == 1 && h == 1:
		return "4:2:0"
	case w == 1 && h == 0:
		return "4:2:2"
	case w == 0 && h == 0:
		return "4:4:4"
	case w < 0:
		return ""
	}
	return fmt.Sprintf("log2 %d/%d", w, h)
}

// normalizeRotation maps any angle to 0, 90, 180 or 270 clockwise.
func normalizeRotation(deg float64) int {
	r := int(math.Round(deg/90)) * 90
	r %= 360
	if r < 0 {
		r += 360
	}
	return r
}

func longestStreamDuration(fc *astiav.FormatContext) float64 {
	var d float64
	for _, s := range fc.Streams() {
		if s.Duration() > 0 {
			d = math.Max(d, float64(s.Duration())*s.TimeBase().Float64())
		}
	}
	return d
}

// inspectFirstFrame decodes frames of the video stream until one comes out,
// recording its field order; a stream that yields no frame is corrupt.
func inspectFirstFrame(in *input) error {
	dec, err := openDecoder(in.video, 1)
	if err != nil {
		return err
	}
	defer dec.Free()
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	f := astiav.AllocFrame()
	defer f.Free()
	for tries := 0; tries < 2000; tries++ {
		err := in.fc.ReadFrame(pkt)
		eof := errors.Is(err, astiav.ErrEof)
		if err != nil && !eof {
			return inputErr(ErrCorrupt, "reading packets: %v", err)
		}
		if eof {
			_ = dec.SendPacket(nil)
		} else if pkt.StreamIndex() != in.video.Index() {
			pkt.Unref()
			continue
		} else {
			_ = dec.SendPacket(pkt)
			pkt.Unref()
		}
		if err := dec.ReceiveFrame(f); err == nil {
			in.info.Video.FieldOrder = fieldOrder(f)
			f.Unref()
			return nil
		}
		if eof {
			break
		}
	}
	return inputErr(ErrCorrupt, "the %s video stream yields no decodable frame", in.info.Video.Codec)
}

func fieldOrder(f *astiav.Frame) string {
	p := f.UnsafePointer()
	switch {
	case !frameInterlaced(p):
		return "progressive"
	case frameTopFieldFirst(p):
		return "tff"
	}
	return "bff"
}
