package pipeline

// The few libav calls go-astiav v0.16 does not expose. Each takes plain
// integers or the unsafe pointer go-astiav hands out for a frame, so no C
// type crosses a package boundary.

/*
#cgo pkg-config: libavutil libavcodec libavformat
#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libavutil/pixfmt.h>
#include <libavcodec/avcodec.h>

static int64_t hf_best_effort_ts(void *f) { return ((AVFrame *)f)->best_effort_timestamp; }
static int64_t hf_frame_duration(void *f) { return ((AVFrame *)f)->pkt_duration; }
static int hf_frame_interlaced(void *f) { return ((AVFrame *)f)->interlaced_frame; }
static int hf_frame_tff(void *f) { return ((AVFrame *)f)->top_field_first; }
static int hf_frame_quality_set(void *f, int q) { ((AVFrame *)f)->quality = q; return 0; }

static int hf_pix_depth(int pf) {
	const AVPixFmtDescriptor *d = av_pix_fmt_desc_get((enum AVPixelFormat)pf);
	return d ? d->comp[0].depth : 0;
}
static int hf_pix_log2_chroma(int pf, int vertical) {
	const AVPixFmtDescriptor *d = av_pix_fmt_desc_get((enum AVPixelFormat)pf);
	if (!d) return -1;
	return vertical ? d->log2_chroma_h : d->log2_chroma_w;
}
static int hf_pix_is_hw(int pf) {
	const AVPixFmtDescriptor *d = av_pix_fmt_desc_get((enum AVPixelFormat)pf);
	return d && (d->flags & AV_PIX_FMT_FLAG_HWACCEL) ? 1 : 0;
}
static const char *hf_color_space_name(int v) { return av_color_space_name((enum AVColorSpace)v); }
static const char *hf_color_primaries_name(int v) { return av_color_primaries_name((enum AVColorPrimaries)v); }
static const char *hf_color_trc_name(int v) { return av_color_transfer_name((enum AVColorTransferCharacteristic)v); }
static const char *hf_color_range_name(int v) { return av_color_range_name((enum AVColorRange)v); }
static const char *hf_profile_name(int codec_id, int profile) { return avcodec_profile_name((enum AVCodecID)codec_id, profile); }
*/
import "C"

import "unsafe"

const noPTS = int64(-0x8000000000000000) // AV_NOPTS_VALUE

func frameBestEffortTS(f unsafe.Pointer) int64 { return int64(C.hf_best_effort_ts(f)) }
func frameDuration(f unsafe.Pointer) int64     { return int64(C.hf_frame_duration(f)) }
func frameInterlaced(f unsafe.Pointer) bool    { return C.hf_frame_interlaced(f) != 0 }
func frameTopFieldFirst(f unsafe.Pointer) bool { return C.hf_frame_tff(f) != 0 }
func frameSetQuality(f unsafe.Pointer, q int)  { C.hf_frame_quality_set(f, C.int(q)) }

// pixDepth is the bit depth of a pixel format's first component (8, 10, 12...).
func pixDepth(pf int) int { return int(C.hf_pix_depth(C.int(pf))) }

// pixChroma returns the chroma subsampling shifts (1,1 for 4:2:0; 0,0 for 4:4:4).
func pixChroma(pf int) (w, h int) {
	return int(C.hf_pix_log2_chroma(C.int(pf), 0)), int(C.hf_pix_log2_chroma(C.int(pf), 1))
}

func pixIsHardware(pf int) bool { return C.hf_pix_is_hw(C.int(pf)) != 0 }

func cstr(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

func colorSpaceName(v int) string     { return cstr(C.hf_color_space_name(C.int(v))) }
func colorPrimariesName(v int) string { return cstr(C.hf_color_primaries_name(C.int(v))) }
func colorTransferName(v int) string  { return cstr(C.hf_color_trc_name(C.int(v))) }
func colorRangeName(v int) string     { return cstr(C.hf_color_range_name(C.int(v))) }
func profileName(codecID, profile int) string {
	return cstr(C.hf_profile_name(C.int(codecID), C.int(profile)))
}
