package pipeline

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/hlsfleet/hlsfleet/ladders"
)

// Every accel × codec the table claims names an encoder this libavcodec
// has (it may not open here), and every option we set exists on it.
func TestEncoderTableComplete(t *testing.T) {
	for _, a := range []Accel{AccelCPU, AccelNvidia, AccelVAAPI, AccelQSV} {
		for _, codec := range []string{"h264", "hevc"} {
			ve, err := lookupEncoder(a, codec)
			if err != nil {
				t.Errorf("%s/%s: %v", a, codec, err)
				continue
			}
			if astiav.FindEncoderByName(ve.name) == nil {
				t.Errorf("%s/%s: encoder %s is not in this libavcodec", a, codec, ve.name)
				continue
			}
			p := encodeParams{out: probeOutput(codec), gop: 48, threads: 2}
			for opt := range ve.options(p) {
				has, ok := encoderHasOption(ve.name, opt)
				if !ok || !has {
					t.Errorf("%s/%s: %s has no option %q", a, codec, ve.name, opt)
				}
			}
		}
	}
	for _, a := range []Accel{AccelAuto, "gpu"} {
		if _, err := lookupEncoder(a, "h264"); !errors.Is(err, ErrNoEncoder) {
			t.Errorf("lookupEncoder(%q) = %v, want ErrNoEncoder", a, err)
		}
	}
}

// The filter chains of every path name filters this libavfilter has, with
// options they accept: each spec is parsed (filters created and their
// options set), which needs no device.
func TestAccelFilterSpecsParse(t *testing.T) {
	for _, name := range []string{"scale_cuda", "scale_vaapi", "hwdownload", "hwupload", "fps", "scale", "setsar", "format"} {
		if astiav.FindFilterByName(name) == nil {
			t.Errorf("filter %s is not in this libavfilter", name)
		}
	}
	for a, f := range gpuScaleFilter {
		if astiav.FindFilterByName(f) == nil {
			t.Errorf("%s scale filter %s is not in this libavfilter", a, f)
		}
	}
	o := ladders.Output{Name: "720p", Width: 1280, Height: 720, FPS: ladders.Rational{Num: 30, Den: 1}, Codec: "h264"}
	sw := astiav.AllocFrame()
	defer sw.Free()
	sw.SetPixelFormat(astiav.PixelFormatYuv420P)
	specs := map[string]string{}
	for _, a := range []Accel{AccelCPU, AccelNvidia, AccelVAAPI, AccelQSV} {
		w := &renditionWorker{out: o, accel: a}
		specs["sw-"+string(a)] = w.filterSpec(sw)
	}
	if specs["sw-cpu"] != renditionFilter(o) || specs["sw-nvidia"] != renditionFilter(o) {
		t.Errorf("system-memory chains for cpu/nvidia changed: %q, %q", specs["sw-cpu"], specs["sw-nvidia"])
	}
	if !strings.HasSuffix(specs["sw-qsv"], ",format=nv12") || !strings.HasSuffix(specs["sw-vaapi"], ",format=nv12,hwupload") {
		t.Errorf("qsv/vaapi chains: %q, %q", specs["sw-qsv"], specs["sw-vaapi"])
	}
	// The device-side chains, built the way filterSpec builds them.
	specs["cuda"] = "fps=fps=30/1:start_time=0,scale_cuda=w=1280:h=720:interp_algo=bicubic,setsar=1"
	specs["vaapi"] = "fps=fps=30/1:start_time=0,scale_vaapi=w=1280:h=720:format=nv12,setsar=1"
	specs["download"] = "hwdownload,format=nv12," + renditionFilter(o)
	for name, spec := range specs {
		if err := parseOnly(spec); err != nil {
			t.Errorf("%s chain %q: %v", name, spec, err)
		}
	}
	if err := parseOnly("scale_cuda=w=10:h=10:no_such_option=1"); err == nil {
		t.Error("parseOnly accepted an unknown option: the check above proves nothing")
	}
}

// parseOnly parses spec between a buffer source and a sink without
// configuring the graph (configuring needs the device).
func parseOnly(spec string) error {
	g := astiav.AllocFilterGraph()
	defer g.Free()
	src, err := g.NewFilterContext(astiav.FindFilterByName("buffer"), "in", astiav.FilterArgs{
		"video_size": "1920x1080", "pix_fmt": "0", "time_base": "1/30", "pixel_aspect": "1/1"})
	if err != nil {
		return err
	}
	sink, err := g.NewFilterContext(astiav.FindFilterByName("buffersink"), "out", nil)
	if err != nil {
		return err
	}
	outputs := astiav.AllocFilterInOut()
	defer outputs.Free()
	outputs.SetName("in")
	outputs.SetFilterContext(src)
	outputs.SetPadIdx(0)
	outputs.SetNext(nil)
	inputs := astiav.AllocFilterInOut()
	defer inputs.Free()
	inputs.SetName("out")
	inputs.SetFilterContext(sink)
	inputs.SetPadIdx(0)
	inputs.SetNext(nil)
	return g.Parse(spec, inputs, outputs)
}

// The shim reads go-astiav's structs through their first field; this
// breaks loudly if a go-astiav upgrade changes the layout.
func TestAstiavLayout(t *testing.T) {
	cc := astiav.AllocCodecContext(astiav.FindEncoderByName("libx264"))
	defer cc.Free()
	cc.SetWidth(1234)
	if got := codecContextWidthC(cc); got != 1234 {
		t.Fatalf("AVCodecContext.width through the shim = %d, want 1234", got)
	}
	g, err := newVideoGraph("scale=w=64:h=64", videoSrc{width: 128, height: 128, pixFmt: astiav.PixelFormatYuv420P,
		timeBase: astiav.NewRational(1, 25), sar: astiav.NewRational(1, 1)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer g.free()
	if n := graphNbFiltersC(g.g); n < 3 {
		t.Errorf("AVFilterGraph.nb_filters through the shim = %d, want >= 3", n)
	}
	if n := filterNbOutputsC(g.src); n != 1 {
		t.Errorf("buffer source nb_outputs through the shim = %d, want 1", n)
	}
	if pf := buffersinkFormat(g.sink); pf != astiav.PixelFormatYuv420P {
		t.Errorf("sink format %s, want yuv420p", pf.Name())
	}
	if encoderInput(g) != nil {
		t.Error("a system-memory graph reported device frames")
	}
}

// On a machine without a GPU the probe says so at once and auto is cpu; on
// one with a GPU it must agree with itself.
func TestProbeAccel(t *testing.T) {
	start := time.Now()
	c := ProbeAccel(ProbeOptions{})
	took := time.Since(start)
	if len(c.Devices) < 3 {
		t.Fatalf("probe tried %d devices, want cuda, vaapi and qsv at least: %+v", len(c.Devices), c.Devices)
	}
	opened := false
	for _, d := range c.Devices {
		if d.Opened {
			opened = true
			continue
		}
		if d.Error == "" {
			t.Errorf("%s device did not open and says not why", d.Type)
		}
		if strings.Contains(d.Error, "\n") {
			t.Errorf("%s device error is not one line: %q", d.Type, d.Error)
		}
		if len(d.Encoders) > 0 || len(d.Decoders) > 0 {
			t.Errorf("%s device did not open but lists codecs", d.Type)
		}
	}
	auto, err := Resolve(AccelAuto, c)
	if err != nil {
		t.Fatalf("Resolve(auto): %v", err)
	}
	if !opened {
		// A generous bound, not a speed test: a probe that waits on
		// something (a driver timeout, a device that hangs) fails it.
		if took > 5*time.Second {
			t.Errorf("probe without any GPU took %v", took)
		}
		if got := c.Summary(); got != "no GPU: only cpu path" {
			t.Errorf("Summary = %q", got)
		}
		if auto != AccelCPU {
			t.Errorf("auto resolved to %s without a GPU", auto)
		}
		for _, a := range []Accel{AccelNvidia, AccelVAAPI, AccelQSV} {
			if _, err := Resolve(a, c); !errors.Is(err, ErrAccelUnavailable) {
				t.Errorf("Resolve(%s) without a GPU = %v, want ErrAccelUnavailable", a, err)
			}
		}
		t.Logf("no GPU here (probe %v): %s", took, c.Summary())
		return
	}
	t.Logf("GPU found (probe %v): %s; auto = %s", took, c.Summary(), auto)
	if ok, why := c.Available(auto); !ok {
		t.Errorf("auto chose %s, which is not available: %s", auto, why)
	}
}

// NoGPU agrees with the probe: when it says no device node exists, no
// device opens either.
func TestNoGPU(t *testing.T) {
	quick, none := NoGPU()
	if !none {
		t.Skipf("this machine has a GPU device node: the probe decides")
	}
	if got := quick.Summary(); got != "no GPU: only cpu path" {
		t.Errorf("NoGPU summary %q", got)
	}
	if a, err := Resolve(AccelAuto, quick); err != nil || a != AccelCPU {
		t.Errorf("auto with NoGPU caps = %s, %v", a, err)
	}
	for _, d := range ProbeAccel(ProbeOptions{SessionCap: 1}).Devices {
		if d.Opened {
			t.Errorf("NoGPU said no device node, but the %s device opened", d.Type)
		}
	}
}

func TestAccelCapsCached(t *testing.T) {
	a, b := AccelCaps(), AccelCaps()
	if a == nil || a != b {
		t.Fatalf("AccelCaps is not cached: %p, %p", a, b)
	}
}

// BenchmarkProbeAccel is the cost the probe adds to a worker's start (in
// process; the worker runs it in a child, which adds one process start).
func BenchmarkProbeAccel(b *testing.B) {
	for i := 0; i < b.N; i++ {
		ProbeAccel(ProbeOptions{})
	}
}
