package pipeline

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/hlsfleet/hlsfleet/ladders"
)

// ProbeOptions tune the capability probe.
type ProbeOptions struct {
	// SessionCap is the most encoders the session probe keeps open at once
	// per encoder; default DefaultSessionCap.
	SessionCap int
	// RenderNodes are the VAAPI devices to try; nil: /dev/dri/renderD*.
	RenderNodes []string
}

// DefaultSessionCap bounds the session probe: consumer NVIDIA drivers allow
// 3 to 8 concurrent NVENC sessions, data-centre ones have no fixed limit.
const DefaultSessionCap = 16

var (
	capsOnce   sync.Once
	cachedCaps *Caps
)

// AccelCaps probes once per process with the default options and returns
// the same result after that. On a machine without a GPU every device open
// fails at once, so the first call costs milliseconds.
func AccelCaps() *Caps {
	capsOnce.Do(func() { cachedCaps = ProbeAccel(ProbeOptions{}) })
	return cachedCaps
}

// gpuNodes are the device nodes a GPU shows up as: NVIDIA's (and WSL's
// /dev/dxg, through which CUDA runs there) and DRM render nodes (VAAPI,
// QSV).
var gpuNodes = []string{"/dev/nvidia[0-9]*", "/dev/dxg", "/dev/dri/renderD*"}

// NoGPU answers without touching libav when this machine has no GPU device
// node at all (no device could open): the capabilities that say so, and
// true. Otherwise nil, false, and a real probe is needed. It lets a worker
// on a CPU instance skip the probe process.
func NoGPU() (*Caps, bool) {
	for _, pat := range gpuNodes {
		if m, _ := filepath.Glob(pat); len(m) > 0 {
			return nil, false
		}
	}
	why := "no GPU device node (" + strings.Join(gpuNodes, ", ") + ")"
	return &Caps{Devices: []DeviceCaps{{Type: "cuda", Error: why}, {Type: "vaapi", Error: why}, {Type: "qsv", Error: why}}}, true
}

// probe geometry: small, but above every encoder's minimum size (NVENC
// H.264 wants at least 145x49, HEVC 129x33; VAAPI surfaces align to 16).
const (
	probeW, probeH = 320, 240
	probeFrames    = 5
)

// ProbeAccel opens every kind of device this libav build supports and, on
// each that opens, decodes and encodes a few tiny frames with every codec
// of the encoder table and counts concurrent encoder sessions.
func ProbeAccel(opt ProbeOptions) *Caps {
	began := time.Now()
	if opt.SessionCap <= 0 {
		opt.SessionCap = DefaultSessionCap
	}
	c := &Caps{}
	c.Devices = append(c.Devices, probeDevice(AccelNvidia, "", opt))
	nodes := opt.RenderNodes
	if nodes == nil {
		nodes, _ = filepath.Glob("/dev/dri/renderD*")
		sort.Strings(nodes)
	}
	if len(nodes) == 0 {
		c.Devices = append(c.Devices, DeviceCaps{Type: "vaapi", Error: "no /dev/dri/renderD* node"})
	}
	for _, n := range nodes {
		c.Devices = append(c.Devices, probeDevice(AccelVAAPI, n, opt))
	}
	c.Devices = append(c.Devices, probeDevice(AccelQSV, "", opt))
	c.ProbeSeconds = time.Since(began).Seconds()
	return c
}

func probeDevice(a Accel, path string, opt ProbeOptions) (dc DeviceCaps) {
	dc = DeviceCaps{Type: a.deviceType(), Device: path}
	defer func() {
		if r := recover(); r != nil {
			dc.Opened, dc.Error = false, fmt.Sprintf("probe failed: %v", r)
		}
	}()
	dev, err := openHWDevice(dc.Type, path)
	if err != nil {
		dc.Error = trimSentinel(err)
		return dc
	}
	defer dev.free()
	dc.Opened = true
	if a != AccelQSV { // QSV decoding is not used: frames are decoded on the CPU
		for _, codec := range []string{"h264", "hevc"} {
			if err := probeDecode(dev, codec); err == nil {
				dc.Decoders = append(dc.Decoders, codec)
			}
		}
	}
	codecs := make([]string, 0, len(encoders[a]))
	for codec := range encoders[a] {
		codecs = append(codecs, codec)
	}
	sort.Strings(codecs)
	for _, codec := range codecs {
		ec := EncoderCaps{Codec: codec, Name: encoders[a][codec].name}
		if err := probeEncode(a, codec, dev); err != nil {
			ec.Error = err.Error()
		} else {
			ec.Opened = true
			ec.Sessions, ec.SessionsCapped = probeSessions(a, codec, dev, opt.SessionCap)
		}
		dc.Encoders = append(dc.Encoders, ec)
	}
	return dc
}

// trimSentinel drops the "accelerator not available: " prefix.
func trimSentinel(err error) string {
	s := err.Error()
	p := ErrAccelUnavailable.Error() + ": "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

func probeOutput(codec string) ladders.Output {
	profile := "high"
	if codec == "hevc" {
		profile = "main"
	}
	return ladders.Output{
		Name: "probe", Width: probeW, Height: probeH, FPS: ladders.Rational{Num: 25, Den: 1},
		BitrateBPS: 300_000, MaxrateBPS: 400_000, BufsizeBits: 800_000,
		Codec: codec, Profile: profile, Preset: "veryfast",
	}
}

// probeSource makes one gray frame in system memory.
func probeSource() (*astiav.Frame, error) {
	f := astiav.AllocFrame()
	f.SetWidth(probeW)
	f.SetHeight(probeH)
	f.SetPixelFormat(astiav.PixelFormatYuv420P)
	f.SetSampleAspectRatio(astiav.NewRational(1, 1))
	if err := f.AllocBuffer(0); err != nil {
		f.Free()
		return nil, fmt.Errorf("probe frame: %w", err)
	}
	if err := f.ImageFillBlack(); err != nil {
		f.Free()
		return nil, fmt.Errorf("probe frame: %w", err)
	}
	return f, nil
}

// probeEncoderInput builds the graph that turns a system-memory frame into
// what the accel's encoder takes (uploaded surfaces for VAAPI).
func probeEncoderInput(a Accel, dev *hwDevice, src *astiav.Frame) (*graph, error) {
	spec := "format=yuv420p"
	var hw *graphHW
	switch a {
	case AccelQSV:
		spec = "format=nv12"
	case AccelVAAPI:
		spec = "format=nv12,hwupload"
		hw = &graphHW{device: dev}
	}
	return newVideoGraph(spec, videoSrc{
		width: src.Width(), height: src.Height(), pixFmt: src.PixelFormat(),
		timeBase: astiav.NewRational(1, 25), sar: astiav.NewRational(1, 1), frameRate: astiav.NewRational(25, 1), hw: hw,
	}, 1)
}

// openProbeEncoder opens the table's encoder for a with our options.
func openProbeEncoder(a Accel, codec string, g *graph) (*astiav.CodecContext, error) {
	return openVideoEncoder(a, encodeParams{out: probeOutput(codec), gop: 25, threads: 1, hw: encoderInput(g)},
		astiav.NewRational(1, 25), false)
}

// probeEncode encodes probeFrames frames (the first forced to I) and wants
// at least one packet back.
func probeEncode(a Accel, codec string, dev *hwDevice) error {
	src, err := probeSource()
	if err != nil {
		return err
	}
	defer src.Free()
	g, err := probeEncoderInput(a, dev, src)
	if err != nil {
		return err
	}
	defer g.free()
	var enc *astiav.CodecContext
	defer func() {
		if enc != nil {
			enc.Free()
		}
	}()
	packets := 0
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	receive := func() error {
		for {
			err := enc.ReceivePacket(pkt)
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return nil
			}
			if err != nil {
				return err
			}
			packets++
			pkt.Unref()
		}
	}
	out := astiav.AllocFrame()
	defer out.Free()
	for i := 0; i < probeFrames; i++ {
		src.SetPts(int64(i))
		in := astiav.AllocFrame()
		if err := in.Ref(src); err != nil {
			in.Free()
			return err
		}
		err := g.push(in)
		in.Free()
		if err != nil {
			return err
		}
		err = g.drain(out, func(f *astiav.Frame) error {
			if enc == nil {
				var err error
				if enc, err = openProbeEncoder(a, codec, g); err != nil {
					return err
				}
			}
			if f.Pts() == 0 {
				f.SetPictureType(astiav.PictureTypeI)
			}
			if err := enc.SendFrame(f); err != nil {
				return fmt.Errorf("encoding: %w", err)
			}
			return receive()
		})
		if err != nil {
			return err
		}
	}
	if enc == nil {
		return errors.New("no frame reached the encoder")
	}
	if err := enc.SendFrame(nil); err != nil {
		return fmt.Errorf("flushing: %w", err)
	}
	if err := receive(); err != nil {
		return err
	}
	if packets == 0 {
		return errors.New("the encoder opened but returned no packet")
	}
	return nil
}

// probeSessions opens encoders of one kind until one fails or enough are open
// (limit), then closes them all. It returns how many were open at once.
func probeSessions(a Accel, codec string, dev *hwDevice, limit int) (int, bool) {
	src, err := probeSource()
	if err != nil {
		return 0, false
	}
	defer src.Free()
	var open []*astiav.CodecContext
	var graphs []*graph
	defer func() {
		for _, e := range open {
			e.Free()
		}
		for _, g := range graphs {
			g.free()
		}
	}()
	for len(open) < limit {
		// A device encoder needs a frames context: one graph per session
		// (VAAPI); the others need none but the graph is cheap.
		g, err := probeEncoderInput(a, dev, src)
		if err != nil {
			break
		}
		graphs = append(graphs, g)
		if a == AccelVAAPI {
			// hwupload creates its frames context when it sees a frame.
			in := astiav.AllocFrame()
			_ = in.Ref(src)
			err = g.push(in)
			in.Free()
			out := astiav.AllocFrame()
			if err == nil {
				err = g.pull(out)
			}
			out.Free()
			if err != nil {
				break
			}
		}
		enc, err := openProbeEncoder(a, codec, g)
		if err != nil {
			break
		}
		open = append(open, enc)
	}
	return len(open), len(open) >= limit
}

// probeBitstream encodes a few frames with the CPU encoder of codec and
// returns the packets and the codec parameters to decode them with.
func probeBitstream(codec string) ([]*astiav.Packet, *astiav.CodecParameters, error) {
	src, err := probeSource()
	if err != nil {
		return nil, nil, err
	}
	defer src.Free()
	enc, err := openVideoEncoder(AccelCPU, encodeParams{out: probeOutput(codec), gop: 25, threads: 1}, astiav.NewRational(1, 25), false)
	if err != nil {
		return nil, nil, err
	}
	defer enc.Free()
	var pkts []*astiav.Packet
	free := func() {
		for _, p := range pkts {
			p.Free()
		}
	}
	receive := func() error {
		for {
			p := astiav.AllocPacket()
			err := enc.ReceivePacket(p)
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				p.Free()
				return nil
			}
			if err != nil {
				p.Free()
				return err
			}
			pkts = append(pkts, p)
		}
	}
	for i := 0; i < probeFrames; i++ {
		src.SetPts(int64(i))
		if err := enc.SendFrame(src); err != nil {
			free()
			return nil, nil, err
		}
		if err := receive(); err != nil {
			free()
			return nil, nil, err
		}
	}
	if err := enc.SendFrame(nil); err != nil {
		free()
		return nil, nil, err
	}
	if err := receive(); err != nil {
		free()
		return nil, nil, err
	}
	cp := astiav.AllocCodecParameters()
	if err := cp.FromCodecContext(enc); err != nil {
		free()
		cp.Free()
		return nil, nil, err
	}
	return pkts, cp, nil
}

// probeDecode decodes a tiny bitstream of codec on dev and wants a frame in
// the device's pixel format (not a silent software fallback).
func probeDecode(dev *hwDevice, codec string) error {
	pkts, cp, err := probeBitstream(codec)
	if err != nil {
		return fmt.Errorf("making a %s test stream: %w", codec, err)
	}
	defer cp.Free()
	defer func() {
		for _, p := range pkts {
			p.Free()
		}
	}()
	dc := astiav.FindDecoder(cp.CodecID())
	if dc == nil {
		return fmt.Errorf("no %s decoder", codec)
	}
	cc := astiav.AllocCodecContext(dc)
	defer cc.Free()
	if err := cp.ToCodecContext(cc); err != nil {
		return err
	}
	if err := attachHWDevice(cc, dev); err != nil {
		return err
	}
	want := hwPixFmt(dev.name)
	cc.SetPixelFormatCallback(func(pfs []astiav.PixelFormat) astiav.PixelFormat {
		for _, p := range pfs {
			if p == want {
				return p
			}
		}
		return astiav.PixelFormatNone // no software fallback in the probe
	})
	defer cc.SetPixelFormatCallback(nil)
	if err := cc.Open(dc, nil); err != nil {
		return err
	}
	f := astiav.AllocFrame()
	defer f.Free()
	for i := 0; i <= len(pkts); i++ {
		var p *astiav.Packet
		if i < len(pkts) {
			p = pkts[i]
		}
		if err := cc.SendPacket(p); err != nil && !errors.Is(err, astiav.ErrEagain) && !errors.Is(err, astiav.ErrEof) {
			return err
		}
		err := cc.ReceiveFrame(f)
		if errors.Is(err, astiav.ErrEagain) {
			continue
		}
		if err != nil {
			return err
		}
		if f.PixelFormat() != want {
			return fmt.Errorf("decoded to %s, not %s", f.PixelFormat().Name(), want.Name())
		}
		return nil
	}
	return errors.New("no frame decoded")
}
