package pipeline

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/asticode/go-astiav"

	"github.com/hlsfleet/hlsfleet/ladders"
)

// Accel names a family of encoders and decoders.
type Accel string

// AccelCPU is the software path every machine has; it is the reference.
const AccelCPU Accel = "cpu"

// videoEncoder is one entry of the encoder table: the libav encoder and the
// options that give it our guarantees (IDR at forced boundaries, closed GOP,
// no scene-cut keyframes, VBV from the ladder).
type videoEncoder struct {
	name    string
	pixFmt  astiav.PixelFormat
	options func(p encodeParams) map[string]string
}

// encodeParams is what an encoder needs to know about one rendition.
type encodeParams struct {
	out     ladders.Output
	gop     int // frames
	threads int
	hw      *hwEncInput // device frames in (nil: system memory, the entry's pixFmt)
}

// encoders is the table issue F extends: encoders[accel][codec].
var encoders = map[Accel]map[string]videoEncoder{
	AccelCPU: {
		"h264": {name: "libx264", pixFmt: astiav.PixelFormatYuv420P, options: x264Options},
		"hevc": {name: "libx265", pixFmt: astiav.PixelFormatYuv420P, options: x265Options},
	},
}

func x264Options(p encodeParams) map[string]string {
	return map[string]string{
		"preset":       p.out.Preset,
		"profile":      p.out.Profile,
		"forced-idr":   "1",
		"sc_threshold": "0",
		"g":            strconv.Itoa(p.gop),
		"keyint_min":   strconv.Itoa(p.gop),
		"maxrate":      strconv.FormatInt(p.out.MaxrateBPS, 10),
		"bufsize":      strconv.FormatInt(p.out.BufsizeBits, 10),
		"threads":      strconv.Itoa(p.threads),
		"flags":        "+cgop",
	}
}

func x265Options(p encodeParams) map[string]string {
	return map[string]string{
		"preset":     p.out.Preset,
		"profile":    p.out.Profile,
		"forced-idr": "1",
		"g":          strconv.Itoa(p.gop),
		"keyint_min": strconv.Itoa(p.gop),
		"maxrate":    strconv.FormatInt(p.out.MaxrateBPS, 10),
		"bufsize":    strconv.FormatInt(p.out.BufsizeBits, 10),
		"x265-params": fmt.Sprintf("scenecut=0:open-gop=0:keyint=%d:min-keyint=%d:pools=%d:frame-threads=%d:log-level=error",
			p.gop, p.gop, p.threads, min(p.threads, 4)),
	}
}

// lookupEncoder returns the table entry for accel and codec.
func lookupEncoder(accel Accel, codec string) (videoEncoder, error) {
	byCodec, ok := encoders[accel]
	if !ok {
		return videoEncoder{}, fmt.Errorf("%w: accel %q", ErrNoEncoder, accel)
	}
	e, ok := byCodec[codec]
	if !ok {
		return videoEncoder{}, fmt.Errorf("%w: %s has no %s encoder", ErrNoEncoder, accel, codec)
	}
	return e, nil
}

// ErrNoEncoder says the encoder a ladder asks for is not available here.
var ErrNoEncoder = errors.New("encoder not available")

// openVideoEncoder opens the encoder for one rendition. timeBase is the time
// base of the frames it will receive (1/fps after the fps filter).
func openVideoEncoder(accel Accel, p encodeParams, timeBase astiav.Rational, globalHeader bool) (*astiav.CodecContext, error) {
	ve, err := lookupEncoder(accel, p.out.Codec)
	if err != nil {
		return nil, err
	}
	codec := astiav.FindEncoderByName(ve.name)
	if codec == nil {
		return nil, fmt.Errorf("%w: %s is not built into this libavcodec", ErrNoEncoder, ve.name)
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, errors.New("allocating encoder context failed")
	}
	cc.SetWidth(p.out.Width)
	cc.SetHeight(p.out.Height)
	cc.SetPixelFormat(ve.pixFmt)
	if err := p.hw.apply(cc); err != nil {
		cc.Free()
		return nil, fmt.Errorf("%s for %s: %w", ve.name, p.out.Name, err)
	}
	cc.SetSampleAspectRatio(astiav.NewRational(1, 1))
	cc.SetTimeBase(timeBase)
	cc.SetFramerate(astiav.NewRational(p.out.FPS.Num, p.out.FPS.Den))
	cc.SetBitRate(p.out.BitrateBPS)
	cc.SetGopSize(p.gop)
	if globalHeader {
		cc.SetFlags(cc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	}
	d := astiav.NewDictionary()
	defer d.Free()
	for k, v := range ve.options(p) {
		if err := d.Set(k, v, 0); err != nil {
			cc.Free()
			return nil, fmt.Errorf("encoder option %s: %w", k, err)
		}
	}
	if err := cc.Open(codec, d); err != nil {
		cc.Free()
		return nil, fmt.Errorf("opening %s for %s: %w", ve.name, p.out.Name, err)
	}
	return cc, nil
}

// gopFrames is the GOP length in frames for a frame rate.
func gopFrames(gopSeconds float64, fps ladders.Rational) int {
	g := int(math.Round(gopSeconds * fps.Float()))
	return max(g, 1)
}

// encoderThreads shares the machine's cores among renditions by pixel count,
// so that N encoders do not each start a thread pool sized for the whole box.
func encoderThreads(outs []ladders.Output, cores int) []int {
	total := 0
	for _, o := range outs {
		total += o.Width * o.Height
	}
	t := make([]int, len(outs))
	for i, o := range outs {
		share := float64(o.Width*o.Height) / float64(max(total, 1))
		t[i] = max(1, int(math.Ceil(share*float64(cores)*1.5)))
	}
	return t
}
