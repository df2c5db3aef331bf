package lambda

import (
	"fmt"
	"strconv"
	"time"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline"
)

// Route is where one upload's job goes.
type Route int

// Routes.
const (
	RouteInline Route = iota // transcoded here, in this invocation
	RouteCPU                 // sent to the CPU fleet's queue (HLSFLEET_QUEUE_URL)
	RouteGPU                 // sent to the GPU fleet's queue (HLSFLEET_GPU_QUEUE_URL)
	RouteLive                // a live segment sent to the live FIFO queue (HLSFLEET_LIVE_QUEUE_URL), grouped by stream
)

func (r Route) String() string {
	switch r {
	case RouteInline:
		return "inline"
	case RouteCPU:
		return "cpu-queue"
	case RouteGPU:
		return "gpu-queue"
	case RouteLive:
		return "live-queue"
	}
	return "route(" + strconv.Itoa(int(r)) + ")"
}

// Inline cost model. The constants were measured on this project's 2-core
// development VM (2026-11-29): the default ladder (1080p/720p/480p/360p/240p
// H.264 veryfast + AAC) on a 1920x1080 30 fps source with noise takes about
// 1.5 wall seconds per media second with 2 cores (README, Performance: 20 s
// of bench4 in 28-30 s; the default ladder adds a 240p rung, a few percent).
// libx264 scales close to linearly with cores at these sizes, and Lambda
// grants vCPUs in proportion to memory (1 vCPU per 1769 MB, 6 at 10240 MB).
const (
	// secondsPerMediaSecond1080p30 is wall seconds per media second for a
	// 1080p30 source on referenceCores cores.
	secondsPerMediaSecond1080p30 = 1.6
	referenceCores               = 2
	// fixedCostSeconds covers the job process start, the probe, the first
	// S3 requests and the playlists and poster at the end.
	fixedCostSeconds = 3.0
	// estimateFactor and safetyMargin: a clip goes inline only when
	// estimateFactor x the estimate + safetyMargin fits in the time left, so
	// a machine 1.5x slower than the model still finishes, and there is time
	// to hand the job to the fleet when it does not (see Handler).
	estimateFactor = 1.5
	safetyMargin   = 15 * time.Second
	// Memory model: measured peak RSS of one transcode is about 505 MB for
	// a 1080p source and a 4-rung ladder (README, Performance); most of it
	// scales with the source's pixels (frame pools of the decoder and the
	// renditions' filters and encoders).
	memoryBaseBytes     = 128 << 20
	memoryPerPixelBytes = 190
	// bootstrapBytes is kept free for the bootstrap itself.
	bootstrapBytes = 96 << 20
)

// Estimate is what an inline transcode of one input is expected to cost.
type Estimate struct {
	Seconds     float64 // wall time
	MemoryBytes int64   // peak resident memory of the job process
}

// estimate models the inline transcode of info on cores cores.
func estimate(info *pipeline.Info, cores int) Estimate {
	cores = max(cores, 1)
	dur := max(info.Duration, 0)
	e := Estimate{Seconds: fixedCostSeconds + dur*0.05, MemoryBytes: memoryBaseBytes} // audio only: AAC is cheap
	v := info.Video
	if v == nil {
		return e
	}
	const ref = 1920 * 1080
	px := float64(max(v.Width, 1)) * float64(max(v.Height, 1))
	// The ladder never upscales, so output work grows with the source up
	// to the top rung (1080p) and only decoding grows beyond it.
	work := min(px, ref)/ref + 0.15*max(px-ref, 0)/ref
	fps := v.FPS()
	if fps <= 0 || fps > 120 {
		fps = 30
	}
	work *= min(fps, 60) / 30 // renditions cap at 60 fps
	e.Seconds = fixedCostSeconds + dur*work*secondsPerMediaSecond1080p30*referenceCores/float64(cores)
	e.MemoryBytes = memoryBaseBytes + int64(px*memoryPerPixelBytes)
	return e
}

// Budget is what the invocation has to give to one inline transcode.
type Budget struct {
	Remaining   time.Duration // until the invocation's deadline
	Cores       int
	MemoryBytes int64 // the function's memory; 0 = unknown (not checked)
}

// Decision is a route with the reason for it, in words for logs and the
// status document.
type Decision struct {
	Route    Route
	Reason   string
	Estimate Estimate
}

// Decide routes one job: short clips that fit the invocation's time and
// memory go inline; the rest go to a fleet queue (see fleetRoute). gpu
// says whether a GPU queue is configured.
func Decide(j *job.Job, info *pipeline.Info, shortClip float64, b Budget, gpu bool) Decision {
	if j.Kind != job.KindVOD {
		return Decision{Route: RouteCPU, Reason: fmt.Sprintf("%s jobs are the fleet's", j.Kind)}
	}
	e := estimate(info, b.Cores)
	queue := func(why string) Decision {
		r, fleetWhy := fleetRoute(info, gpu)
		return Decision{Route: r, Reason: why + "; " + fleetWhy, Estimate: e}
	}
	if info.Duration > shortClip {
		return queue(fmt.Sprintf("%.1f s is longer than the %g s short-clip limit", info.Duration, shortClip))
	}
	if need := time.Duration(e.Seconds*estimateFactor*float64(time.Second)) + safetyMargin; need > b.Remaining {
		return queue(fmt.Sprintf("the estimated transcode (%.0f s, %.0f s with margin) does not fit the %.0f s left",
			e.Seconds, need.Seconds(), b.Remaining.Seconds()))
	}
	if b.MemoryBytes > 0 && e.MemoryBytes > b.MemoryBytes-bootstrapBytes {
		return queue(fmt.Sprintf("the estimated %d MiB of memory does not fit the function's %d MiB",
			e.MemoryBytes>>20, b.MemoryBytes>>20))
	}
	return Decision{Route: RouteInline, Estimate: e,
		Reason: fmt.Sprintf("%.1f s clip, estimated %.0f s and %d MiB, fits the %.0f s left", info.Duration,
			e.Seconds, e.MemoryBytes>>20, b.Remaining.Seconds())}
}

// gpuCodecs are the source codecs the GPU fleet decodes in hardware (NVDEC).
var gpuCodecs = map[string]bool{"h264": true, "hevc": true, "vp9": true, "av1": true, "mpeg2video": true}

// fleetRoute picks the fleet queue for info: the GPU queue when one is
// configured and the source is plain 8-bit 4:2:0 SDR progressive video in
// a codec NVDEC decodes within its size limits; every 10-bit, HDR,
// interlaced, 4:2:2/4:4:4, oversized or unusual input goes to the CPU
// fleet, whose software pipeline converts it.
func fleetRoute(info *pipeline.Info, gpu bool) (Route, string) {
	v := info.Video
	switch {
	case !gpu:
		return RouteCPU, "CPU queue (no GPU queue configured)"
	case v == nil:
		return RouteCPU, "CPU queue (no video)"
	case v.BitDepth > 8:
		return RouteCPU, fmt.Sprintf("CPU queue (%d-bit video)", v.BitDepth)
	case v.HDR:
		return RouteCPU, "CPU queue (HDR: tone mapping runs in software)"
	case v.FieldOrder != "" && v.FieldOrder != "progressive":
		return RouteCPU, "CPU queue (interlaced: deinterlacing runs in software)"
	case v.Chroma != "4:2:0":
		return RouteCPU, fmt.Sprintf("CPU queue (chroma %s)", v.Chroma)
	case !gpuCodecs[v.Codec]:
		return RouteCPU, fmt.Sprintf("CPU queue (codec %s has no hardware decoder)", v.Codec)
	case v.Width > 4096 || v.Height > 4096:
		return RouteCPU, fmt.Sprintf("CPU queue (%dx%d is over the hardware decoder's 4096 limit)", v.Width, v.Height)
	}
	return RouteGPU, "GPU queue"
}
