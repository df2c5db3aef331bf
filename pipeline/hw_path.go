package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/asticode/go-astiav"
	"go.uber.org/zap"
)

// The accelerated paths hook into the transcode at four points:
//
//	plan:       Plan() routes the input; the device opens; renditions get
//	            their encoder family (spilled ones: cpu)
//	decode:     the decoder runs on the device (NVDEC / VAAPI) and returns
//	            hardware frames, or system-memory ones (hybrid: downloaded
//	            once, right after decoding, before the shared filters)
//	rendition:  each rung's filter chain depends on where its frames are
//	            and where its encoder is (scale_cuda / scale_vaapi on the
//	            device; hwdownload + swscale for a CPU encoder; hwupload for
//	            a VAAPI encoder fed from system memory)
//	encoder:    a device encoder fed device frames gets the sink's frames
//	            context
//
// The IDR forcing, segmenting and playlists are the CPU path's, unchanged.

// planAccel decides the route for this transcode and opens the device.
func (t *transcode) planAccel() error {
	vi := t.in.info.Video
	accel := t.opt.Accel
	if accel == AccelCPU || vi == nil {
		t.route = Route{Name: string(AccelCPU), Encoders: cpuEncoders(len(t.outs))}
		return nil
	}
	caps := t.opt.Caps
	if caps == nil {
		caps = AccelCaps()
	}
	resolved, err := Resolve(accel, caps)
	if err != nil {
		return err
	}
	codecs := make([]string, len(t.outs))
	for i, o := range t.outs {
		codecs[i] = o.Codec
	}
	sessions := -1
	if t.opt.GPUSessions > 0 {
		sessions = t.opt.GPUSessions
	}
	in := Input{Codec: vi.Codec, BitDepth: vi.BitDepth, Chroma: vi.Chroma,
		Prep: vi.Rotation != 0 || vi.HDR || (vi.FieldOrder != "" && vi.FieldOrder != "progressive" && vi.FieldOrder != "unknown")}
	t.accel = resolved
	t.route = Plan(resolved, caps, in, codecs, sessions)
	if dt := t.route.Decode; dt != "" || usesDevice(t.route, AccelVAAPI) {
		if dt == "" {
			dt = AccelVAAPI.deviceType()
		}
		path := ""
		if d := caps.Device(dt); d != nil {
			path = d.Device
		}
		if t.hw, err = openHWDevice(dt, path); err != nil {
			return err
		}
	}
	t.log.Info("accel route", zap.String("accel", string(resolved)), zap.String("path", t.route.Name),
		zap.String("decode", orNone(t.route.Decode)), zap.Bool("gpu_scale", t.route.GPUScale),
		zap.Strings("reasons", t.route.Reasons))
	return nil
}

func cpuEncoders(n int) []Accel {
	e := make([]Accel, n)
	for i := range e {
		e[i] = AccelCPU
	}
	return e
}

func usesDevice(r Route, a Accel) bool {
	for _, e := range r.Encoders {
		if e == a {
			return true
		}
	}
	return false
}

// hwPixFmt is the hardware pixel format of decoded frames on a device type.
func hwPixFmt(deviceType string) astiav.PixelFormat {
	switch deviceType {
	case "cuda":
		return astiav.PixelFormatCuda
	case "vaapi":
		return astiav.PixelFormatVaapi
	case "qsv":
		return astiav.PixelFormatQsv
	}
	return astiav.PixelFormatNone
}

// openVideoDecoder opens the input's decoder, on the device when the route
// says so. extraFrames is how many decoded surfaces may be held downstream
// at once (rendition queues and filters).
func (t *transcode) openVideoDecoder(extraFrames int) (*astiav.CodecContext, error) {
	if t.route.Decode == "" || t.hw == nil {
		// One decoder thread: the renditions already keep every core busy,
		// and frame-threaded decoding holds more frames (measured on an 8 s
		// bench4 run: 17 MB less peak RSS with one thread, CPU the same
		// within this machine's noise).
		return openDecoder(t.in.video, 1)
	}
	codec, cc, err := allocDecoder(t.in.video.CodecParameters(), t.in.video.TimeBase())
	if err != nil {
		return nil, err
	}
	cc.SetThreadCount(1)
	// VAAPI and FFmpeg 5.1's NVDEC hand out their decode surfaces as
	// frames (NVDEC maps them; copying out came with 6.0), so surfaces held
	// downstream must be added to the pool. NVDEC takes at most 32 decode
	// surfaces, the stream's DPB (up to 16) + 2 included.
	if t.hw.name == "cuda" && extraFrames > 14 {
		extraFrames = 14
		if t.route.GPUScale {
			// Too many frames would sit on decode surfaces: copy each
			// frame to memory at once instead (the hybrid's download).
			why := "more renditions fed by the decoder than NVDEC has surfaces for: frames scaled on the CPU"
			t.route.GPUScale = false
			t.route.Reasons = append(t.route.Reasons, why)
			t.log.Info("accel route change", zap.String("reason", why))
		}
	}
	cc.SetExtraHardwareFrames(extraFrames)
	if err := attachHWDevice(cc, t.hw); err != nil {
		cc.Free()
		return nil, fmt.Errorf("attaching the %s device to the decoder: %w", t.hw.name, err)
	}
	want := hwPixFmt(t.hw.name)
	cc.SetPixelFormatCallback(func(pfs []astiav.PixelFormat) astiav.PixelFormat {
		for _, p := range pfs {
			if p == want {
				return p
			}
		}
		for _, p := range pfs { // the device cannot take this stream: decode in software
			if !pixIsHardware(int(p)) {
				return p
			}
		}
		return astiav.PixelFormatNone
	})
	opts := astiav.NewDictionary()
	defer opts.Free()
	_ = opts.Set("max_pixels", fmt.Sprint(MaxDimension*MaxDimension), 0)
	if err := cc.Open(codec, opts); err != nil {
		cc.SetPixelFormatCallback(nil)
		cc.Free()
		// The device, not the input, refused: decode on the CPU. The
		// renditions follow the frames they get (filterSpec).
		why := fmt.Sprintf("the %s decoder did not open on %s (%v): decoded on the CPU", codec.Name(), t.hw.name, err)
		t.log.Warn("accel fallback", zap.String("reason", why))
		t.route.Reasons = append(t.route.Reasons, why)
		t.route.Decode, t.route.GPUScale = "", false
		return openDecoder(t.in.video, 1)
	}
	t.hwDecoder = true
	return cc, nil
}

// hwExtraFrames is how many decoded surfaces may be held downstream at
// once: per rendition fed by the decoder (the others scale from a larger
// rung), its queue, the frame in its filter, the end marker and one held by
// fps; plus the poster frame and one in the shared filters.
func hwExtraFrames(ws []*renditionWorker) int {
	roots := 0
	for _, w := range ws {
		if w.parent == nil {
			roots++
		}
	}
	return cap(ws[0].frames)*roots + 4*roots + 2
}

// freeHW releases what the accelerated path holds; called by transcode.free
// before the decoder is freed.
func (t *transcode) freeHW() {
	if t.vdec != nil && t.hwDecoder {
		t.vdec.SetPixelFormatCallback(nil)
	}
	if t.swFrame != nil {
		t.swFrame.Free()
		t.swFrame = nil
	}
}

// freeHWDevice drops the transcode's device reference once every user
// (decoder, filters, encoders) is freed; they hold their own references.
func (t *transcode) freeHWDevice() {
	t.hw.free()
	t.hw = nil
}

// toSystemMemory returns f unchanged when it is in system memory or the
// route keeps frames on the device; otherwise a downloaded copy, valid
// until the next call. The decision is made once, on the first frame.
func (t *transcode) toSystemMemory(f *astiav.Frame, prep bool) (*astiav.Frame, error) {
	if !pixIsHardware(int(f.PixelFormat())) {
		return f, nil
	}
	if t.route.GPUScale && !prep {
		return f, nil
	}
	if t.swFrame == nil {
		t.swFrame = astiav.AllocFrame()
	}
	t.swFrame.Unref()
	if err := downloadFrame(t.swFrame, f); err != nil {
		return nil, err
	}
	return t.swFrame, nil
}

// posterToSystem makes sure the poster frame is in system memory.
func (t *transcode) posterToSystem() error {
	if t.poster == nil || !pixIsHardware(int(t.poster.PixelFormat())) {
		return nil
	}
	sw := astiav.AllocFrame()
	if err := downloadFrame(sw, t.poster); err != nil {
		sw.Free()
		return fmt.Errorf("poster: %w", err)
	}
	t.poster.Free()
	t.poster = sw
	return nil
}

// reopenOnCPU replaces a device encoder that did not open (sessions taken
// by another process, a driver limit) with the CPU one: the job goes on,
// this rendition's frames are downloaded and scaled on the CPU.
func (w *renditionWorker) reopenOnCPU(f *astiav.Frame, cause error) error {
	w.fallback = fmt.Sprintf("rendition %s: %v: encoded on the CPU", w.out.Name, cause)
	libavLogger.Load().Warn("accel fallback", zap.String("reason", w.fallback))
	w.accel, w.gpuScale = AccelCPU, false
	if w.graph != nil {
		w.graph.free()
		w.graph = nil
	}
	return w.buildGraph(f)
}

// noteFallbacks folds the renditions' run-time fallbacks into the route.
func (t *transcode) noteFallbacks() {
	changed := false
	for i, w := range t.videos {
		if w.fallback == "" || i >= len(t.route.Encoders) {
			continue
		}
		t.route.Encoders[i] = AccelCPU
		t.route.Reasons = append(t.route.Reasons, w.fallback)
		changed = true
	}
	if changed {
		t.route.name(t.accel)
	}
}

// filterSpec is the rendition's filter chain for frames like f.
func (w *renditionWorker) filterSpec(f *astiav.Frame) string {
	o := w.out
	hwIn := pixIsHardware(int(f.PixelFormat()))
	if hwIn && w.gpuScale {
		fps := fpsFilter(o, w.fpsFromFirst)
		switch w.accel {
		case AccelNvidia:
			return fmt.Sprintf("%s,scale_cuda=w=%d:h=%d:interp_algo=bicubic,setsar=1", fps, o.Width, o.Height)
		case AccelVAAPI:
			return fmt.Sprintf("%s,scale_vaapi=w=%d:h=%d:format=nv12,setsar=1", fps, o.Width, o.Height)
		}
	}
	spec := fpsFilter(o, w.fpsFromFirst) + "," + scaleFilter(o)
	if hwIn {
		sw := hwFramesSWFormat(frameHWFrames(f))
		spec = fmt.Sprintf("hwdownload,format=%s,%s", sw.Name(), spec)
	}
	switch w.accel {
	case AccelQSV:
		spec = strings.TrimSuffix(spec, "format=yuv420p") + "format=nv12"
	case AccelVAAPI:
		spec = strings.TrimSuffix(spec, "format=yuv420p") + "format=nv12,hwupload"
	}
	return spec
}

// graphHW is what a filter graph needs for hardware frames: the frames
// context of its input (a buffer source of device frames) and the device
// for filters that create frames on it (hwupload).
type graphHW struct {
	frames unsafe.Pointer
	device *hwDevice
}

func (w *renditionWorker) graphHW(f *astiav.Frame) *graphHW {
	h := &graphHW{frames: frameHWFrames(f)}
	if w.accel == AccelVAAPI && w.dev != nil {
		h.device = w.dev
	}
	if h.frames == nil && h.device == nil {
		return nil
	}
	return h
}

// setup runs after the buffer source is created (frames context) and after
// the chain is parsed (device on every filter), before configuring.
func (h *graphHW) source(src *astiav.FilterContext) error {
	if h == nil || h.frames == nil {
		return nil
	}
	if err := buffersrcSetHWFrames(src, h.frames); err != nil {
		return fmt.Errorf("filter source frames context: %w", err)
	}
	return nil
}

func (h *graphHW) parsed(g *astiav.FilterGraph) error {
	if h == nil || h.device == nil {
		return nil
	}
	if err := graphSetHWDevice(g, h.device); err != nil {
		return fmt.Errorf("filter device: %w", err)
	}
	return nil
}

// encoderInput says what the encoder of a rendition receives from its graph:
// device frames (format and frames context) or system-memory ones (nil).
func encoderInput(g *graph) *hwEncInput {
	pf := buffersinkFormat(g.sink)
	if !pixIsHardware(int(pf)) {
		return nil
	}
	return &hwEncInput{pixFmt: pf, frames: buffersinkHWFrames(g.sink)}
}

type hwEncInput struct {
	pixFmt astiav.PixelFormat
	frames unsafe.Pointer
}

// setHWInput configures an encoder context for device frames.
func (h *hwEncInput) apply(cc *astiav.CodecContext) error {
	if h == nil {
		return nil
	}
	cc.SetPixelFormat(h.pixFmt)
	if h.frames == nil {
		return errors.New("device frames without a frames context")
	}
	return attachHWFrames(cc, h.frames)
}
