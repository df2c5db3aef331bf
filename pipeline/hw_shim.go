package pipeline

// Hardware-context calls go-astiav v0.16 lacks or exposes in a form that
// cannot be shared: a device reference that can be freed (astiav's
// HardwareDeviceContext has no Free and its ownership passes to the first
// codec context given it), a frames context on an encoder, on a buffer
// source and read from a buffer sink, and a device on every filter of a
// graph (hwupload). Pointers cross as unsafe.Pointer only.

/*
#cgo pkg-config: libavutil libavcodec libavfilter
#include <errno.h>
#include <stdlib.h>
#include <libavutil/buffer.h>
#include <libavutil/frame.h>
#include <libavutil/hwcontext.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersrc.h>
#include <libavfilter/buffersink.h>

static int hf_hwdevice_create(int type, const char *device, void **out) {
	AVBufferRef *ref = NULL;
	int ret = av_hwdevice_ctx_create(&ref, (enum AVHWDeviceType)type, device, NULL, 0);
	*out = ref;
	return ret;
}
static void hf_flush_decoder(void *cc) { avcodec_flush_buffers((AVCodecContext *)cc); }
static void hf_buffer_unref(void *ref) {
	AVBufferRef *r = (AVBufferRef *)ref;
	av_buffer_unref(&r);
}
static int hf_cc_set_hw_device(void *cc, void *dev) {
	AVCodecContext *c = (AVCodecContext *)cc;
	av_buffer_unref(&c->hw_device_ctx);
	c->hw_device_ctx = av_buffer_ref((AVBufferRef *)dev);
	return c->hw_device_ctx ? 0 : AVERROR(ENOMEM);
}
static int hf_cc_set_hw_frames(void *cc, void *frames) {
	AVCodecContext *c = (AVCodecContext *)cc;
	av_buffer_unref(&c->hw_frames_ctx);
	c->hw_frames_ctx = av_buffer_ref((AVBufferRef *)frames);
	return c->hw_frames_ctx ? 0 : AVERROR(ENOMEM);
}
static int hf_cc_width(void *cc) { return ((AVCodecContext *)cc)->width; }
static int hf_fc_nb_outputs(void *fc) { return (int)((AVFilterContext *)fc)->nb_outputs; }
static int hf_graph_nb_filters(void *g) { return (int)((AVFilterGraph *)g)->nb_filters; }
static void *hf_frame_hw_frames(void *f) { return ((AVFrame *)f)->hw_frames_ctx; }
static int hf_hw_frames_sw_format(void *frames) {
	if (!frames) return AV_PIX_FMT_NONE;
	return ((AVHWFramesContext *)((AVBufferRef *)frames)->data)->sw_format;
}
static int hf_buffersrc_set_hw_frames(void *fc, void *frames) {
	AVBufferSrcParameters *p = av_buffersrc_parameters_alloc();
	if (!p) return AVERROR(ENOMEM);
	p->format = -1;
	p->hw_frames_ctx = (AVBufferRef *)frames; // av_buffersrc_parameters_set takes its own reference
	int ret = av_buffersrc_parameters_set((AVFilterContext *)fc, p);
	av_free(p);
	return ret;
}
static int hf_graph_set_hw_device(void *g, void *dev) {
	AVFilterGraph *graph = (AVFilterGraph *)g;
	for (unsigned i = 0; i < graph->nb_filters; i++) {
		AVFilterContext *f = graph->filters[i];
		av_buffer_unref(&f->hw_device_ctx);
		f->hw_device_ctx = av_buffer_ref((AVBufferRef *)dev);
		if (!f->hw_device_ctx) return AVERROR(ENOMEM);
	}
	return 0;
}
static int hf_frame_copy_props(void *dst, void *src) { return av_frame_copy_props((AVFrame *)dst, (const AVFrame *)src); }
// hf_encoder_has_option: 1 when the named encoder or AVCodecContext
// itself has option opt, 0 when not, -1 when there is no such encoder.
static int hf_encoder_has_option(const char *enc, const char *opt) {
	const AVCodec *c = avcodec_find_encoder_by_name(enc);
	if (!c) return -1;
	const AVClass *cc = avcodec_get_class();
	if (av_opt_find(&cc, opt, NULL, 0, AV_OPT_SEARCH_FAKE_OBJ)) return 1;
	if (c->priv_class) {
		const AVClass *pc = c->priv_class;
		if (av_opt_find(&pc, opt, NULL, 0, AV_OPT_SEARCH_FAKE_OBJ)) return 1;
	}
	return 0;
}
static void *hf_buffersink_hw_frames(void *fc) { return av_buffersink_get_hw_frames_ctx((AVFilterContext *)fc); }
static int hf_buffersink_format(void *fc) { return av_buffersink_get_format((AVFilterContext *)fc); }
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// go-astiav v0.16 keeps the C pointer as the first field of CodecContext,
// FilterContext and FilterGraph and exports no accessor for the latter two
// and for CodecContext; TestAstiavLayout checks this still holds.
func codecContextPtr(cc *astiav.CodecContext) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(cc))
}
func filterContextPtr(fc *astiav.FilterContext) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(fc))
}
func filterGraphPtr(g *astiav.FilterGraph) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(g))
}

// hwDevice is one reference to an opened hardware device (AVHWDeviceContext).
type hwDevice struct {
	typ  astiav.HardwareDeviceType
	name string // "cuda", "vaapi", "qsv"
	path string // device node or index, "" for the default
	ref  unsafe.Pointer
}

// openHWDevice opens a device of the named type ("cuda", "vaapi", "qsv").
// On a machine without one this fails fast with libav's error.
func openHWDevice(name, path string) (*hwDevice, error) {
	t := astiav.FindHardwareDeviceTypeByName(name)
	if t == astiav.HardwareDeviceTypeNone {
		return nil, fmt.Errorf("%w: libavutil knows no %q device type", ErrAccelUnavailable, name)
	}
	var cpath *C.char
	if path != "" {
		cpath = C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
	}
	var ref unsafe.Pointer
	if ret := C.hf_hwdevice_create(C.int(t), cpath, &ref); ret < 0 {
		return nil, fmt.Errorf("%w: opening the %s device%s: %v%s", ErrAccelUnavailable, name, pathSuffix(path), astiav.Error(ret), deviceHint[name])
	}
	return &hwDevice{typ: t, name: name, path: path, ref: ref}, nil
}

// deviceHint says what usually lacks when a device does not open.
var deviceHint = map[string]string{
	"cuda":  " (no NVIDIA driver: libcuda.so.1 not loadable, or no GPU)",
	"vaapi": " (no VAAPI driver for this render node)",
	"qsv":   " (no Intel Media SDK runtime or Intel GPU)",
}

func pathSuffix(p string) string {
	if p == "" {
		return ""
	}
	return " " + p
}

func (d *hwDevice) free() {
	if d != nil && d.ref != nil {
		C.hf_buffer_unref(d.ref)
		d.ref = nil
	}
}

// attachHWDevice gives a codec context its own reference to the device.
func attachHWDevice(cc *astiav.CodecContext, d *hwDevice) error {
	if ret := C.hf_cc_set_hw_device(codecContextPtr(cc), d.ref); ret < 0 {
		return astiav.Error(ret)
	}
	return nil
}

// attachHWFrames gives an encoder a reference to the frames context its
// input frames come from.
func attachHWFrames(cc *astiav.CodecContext, frames unsafe.Pointer) error {
	if ret := C.hf_cc_set_hw_frames(codecContextPtr(cc), frames); ret < 0 {
		return astiav.Error(ret)
	}
	return nil
}

// frameHWFrames is the frames context of a hardware frame (nil for a
// frame in system memory).
func frameHWFrames(f *astiav.Frame) unsafe.Pointer { return C.hf_frame_hw_frames(f.UnsafePointer()) }

// hwFramesSWFormat is the pixel format of a frames context's surfaces in
// system memory (nv12, p010...).
func hwFramesSWFormat(frames unsafe.Pointer) astiav.PixelFormat {
	return astiav.PixelFormat(C.hf_hw_frames_sw_format(frames))
}

func buffersrcSetHWFrames(src *astiav.FilterContext, frames unsafe.Pointer) error {
	if ret := C.hf_buffersrc_set_hw_frames(filterContextPtr(src), frames); ret < 0 {
		return astiav.Error(ret)
	}
	return nil
}

func graphSetHWDevice(g *astiav.FilterGraph, d *hwDevice) error {
	if ret := C.hf_graph_set_hw_device(filterGraphPtr(g), d.ref); ret < 0 {
		return astiav.Error(ret)
	}
	return nil
}

func buffersinkHWFrames(sink *astiav.FilterContext) unsafe.Pointer {
	return C.hf_buffersink_hw_frames(filterContextPtr(sink))
}

func buffersinkFormat(sink *astiav.FilterContext) astiav.PixelFormat {
	return astiav.PixelFormat(C.hf_buffersink_format(filterContextPtr(sink)))
}

// downloadFrame copies a hardware frame into system memory (dst, a fresh
// frame), with its timestamps and properties.
func downloadFrame(dst, src *astiav.Frame) error {
	if err := src.TransferHardwareData(dst); err != nil {
		return fmt.Errorf("copying a frame from the GPU: %w", err)
	}
	if ret := C.hf_frame_copy_props(dst.UnsafePointer(), src.UnsafePointer()); ret < 0 {
		return fmt.Errorf("copying frame properties: %w", astiav.Error(ret))
	}
	return nil
}

// encoderHasOption says whether this libavcodec's encoder (or the generic
// codec context) knows option opt; ok is false when there is no encoder.
func encoderHasOption(encoder, opt string) (has, ok bool) {
	ce, co := C.CString(encoder), C.CString(opt)
	defer C.free(unsafe.Pointer(ce))
	defer C.free(unsafe.Pointer(co))
	r := C.hf_encoder_has_option(ce, co)
	return r == 1, r >= 0
}

// layout probes used by TestAstiavLayout.
// flushDecoder resets a decoder (also one drained to EOF) so that it can
// decode again from the next key packet, keeping its frame pool.
func flushDecoder(cc *astiav.CodecContext) { C.hf_flush_decoder(codecContextPtr(cc)) }

func codecContextWidthC(cc *astiav.CodecContext) int { return int(C.hf_cc_width(codecContextPtr(cc))) }
func filterNbOutputsC(fc *astiav.FilterContext) int {
	return int(C.hf_fc_nb_outputs(filterContextPtr(fc)))
}
func graphNbFiltersC(g *astiav.FilterGraph) int { return int(C.hf_graph_nb_filters(filterGraphPtr(g))) }
