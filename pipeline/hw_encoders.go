package pipeline

import (
	"strconv"

	"github.com/asticode/go-astiav"
)

// Hardware rows of the encoder table (encoders[accel][codec]). Each entry
// gives the same guarantees as the CPU ones: an IDR on every frame the
// rendition worker marks as I (forced-idr / force_idr / VAAPI's default of
// an IDR on every I frame), a GOP no longer than the ladder's, no
// scene-cut keyframes, VBV from the ladder. pixFmt is the system-memory
// format the encoder takes when frames are not already on the device.
func init() {
	encoders[AccelNvidia] = map[string]videoEncoder{
		"h264": {name: "h264_nvenc", pixFmt: astiav.PixelFormatYuv420P, options: nvencOptions},
		"hevc": {name: "hevc_nvenc", pixFmt: astiav.PixelFormatYuv420P, options: nvencOptions},
	}
	encoders[AccelVAAPI] = map[string]videoEncoder{
		"h264": {name: "h264_vaapi", pixFmt: astiav.PixelFormatVaapi, options: vaapiOptions},
		"hevc": {name: "hevc_vaapi", pixFmt: astiav.PixelFormatVaapi, options: vaapiOptions},
	}
	encoders[AccelQSV] = map[string]videoEncoder{
		"h264": {name: "h264_qsv", pixFmt: astiav.PixelFormatNv12, options: qsvOptions},
		"hevc": {name: "hevc_qsv", pixFmt: astiav.PixelFormatNv12, options: qsvOptions},
	}
}

// gpuScaleFilter is the scaling filter each accel uses on device frames.
// scale_npp is not built into Debian's FFmpeg (it needs the non-free NPP
// libraries); scale_cuda is.
var gpuScaleFilter = map[Accel]string{
	AccelNvidia: "scale_cuda",
	AccelVAAPI:  "scale_vaapi",
}

// nvencPreset maps an x264 preset name to NVENC's p1 (fastest) .. p7.
func nvencPreset(x264 string) string {
	switch x264 {
	case "ultrafast", "superfast":
		return "p1"
	case "veryfast":
		return "p2"
	case "faster":
		return "p3"
	case "fast", "medium":
		return "p4"
	case "slow":
		return "p5"
	case "slower":
		return "p6"
	case "veryslow", "placebo":
		return "p7"
	}
	return "p4"
}

func nvencOptions(p encodeParams) map[string]string {
	return map[string]string{
		"preset":      nvencPreset(p.out.Preset),
		"tune":        "hq",
		"profile":     p.out.Profile,
		"rc":          "vbr",
		"forced-idr":  "1",
		"no-scenecut": "1",
		"strict_gop":  "1",
		"g":           strconv.Itoa(p.gop),
		"maxrate":     strconv.FormatInt(p.out.MaxrateBPS, 10),
		"bufsize":     strconv.FormatInt(p.out.BufsizeBits, 10),
	}
}

func vaapiProfile(codec, profile string) string {
	if codec == "h264" && profile == "baseline" {
		return "constrained_baseline"
	}
	return profile
}

func vaapiOptions(p encodeParams) map[string]string {
	return map[string]string{
		"profile": vaapiProfile(p.out.Codec, p.out.Profile),
		"rc_mode": "VBR",
		// idr_interval 0: every I frame is an IDR (the forced boundaries).
		"idr_interval": "0",
		"g":            strconv.Itoa(p.gop),
		"maxrate":      strconv.FormatInt(p.out.MaxrateBPS, 10),
		"bufsize":      strconv.FormatInt(p.out.BufsizeBits, 10),
	}
}

// qsvPreset maps an x264 preset to QSV's (veryfast..veryslow).
func qsvPreset(x264 string) string {
	switch x264 {
	case "ultrafast", "superfast", "veryfast":
		return "veryfast"
	case "placebo":
		return "veryslow"
	case "faster", "fast", "medium", "slow", "slower", "veryslow":
		return x264
	}
	return "medium"
}

func qsvOptions(p encodeParams) map[string]string {
	return map[string]string{
		"preset":       qsvPreset(p.out.Preset),
		"profile":      p.out.Profile,
		"forced_idr":   "1",
		"idr_interval": "0",
		"g":            strconv.Itoa(p.gop),
		"maxrate":      strconv.FormatInt(p.out.MaxrateBPS, 10),
		"bufsize":      strconv.FormatInt(p.out.BufsizeBits, 10),
	}
}
