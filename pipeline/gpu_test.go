//go:build gpu

// GPU checks, run by `make gpu-check` (scripts/gpu-check.sh) on a machine
// with a GPU: every accelerated path this machine has transcodes the same
// generated 1080p clip as the CPU path, the output passes the same HLS
// checks as every other test (internal/hlscheck: IDR at every segment
// start, aligned renditions, exact CODECS and BANDWIDTH, no upscale), and
// the fps of each path is printed next to the CPU's. Without a GPU only the
// CPU path runs and the test says so.

package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/hlscheck"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline"
)

const gpuLadder = `{
  "name": "gpu-check",
  "segment_seconds": 2,
  "gop_seconds": 2,
  "video": {"codec": "h264", "preset": "veryfast", "profile": "high"},
  "audio": {"codec": "aac", "bitrate_bps": 96000, "channels": 2},
  "renditions": [
    {"height": 1080, "bitrate_bps": 5000000},
    {"height": 720, "bitrate_bps": 2800000},
    {"height": 480, "bitrate_bps": 1200000}
  ]
}`

// gpuPath is one way to transcode the clip.
type gpuPath struct {
	name     string // what the table prints
	accel    pipeline.Accel
	caps     *pipeline.Caps
	sessions int    // Options.GPUSessions
	route    string // the route the transcode must report
}

// withoutEncoders is caps with the accel's encoders marked as not opening:
// the hybrid path on a machine that has NVENC.
func withoutEncoders(c *pipeline.Caps, devType string) *pipeline.Caps {
	cp := &pipeline.Caps{ProbeSeconds: c.ProbeSeconds}
	for _, d := range c.Devices {
		if d.Type == devType {
			d.Encoders = nil
		}
		cp.Devices = append(cp.Devices, d)
	}
	return cp
}

func gpuPaths(c *pipeline.Caps) []gpuPath {
	paths := []gpuPath{{name: "cpu", accel: pipeline.AccelCPU, caps: c, route: "cpu"}}
	plain := pipeline.Input{Codec: "h264", BitDepth: 8, Chroma: "4:2:0"}
	codecs := []string{"h264", "h264", "h264"}
	for _, a := range []pipeline.Accel{pipeline.AccelNvidia, pipeline.AccelVAAPI, pipeline.AccelQSV} {
		if ok, _ := c.Available(a); !ok {
			continue
		}
		full := pipeline.Plan(a, c, plain, codecs, -1).Name
		paths = append(paths, gpuPath{name: full, accel: a, caps: c, route: full})
		if a == pipeline.AccelNvidia && full == "nvidia" {
			// NVENC here: check the hybrid path (what an H100/H200 runs) and a
			// spill (one rendition on NVENC, two on libx264) too.
			paths = append(paths,
				gpuPath{name: "nvidia-hybrid", accel: a, caps: withoutEncoders(c, "cuda"), route: "nvidia-hybrid"},
				gpuPath{name: "nvidia+cpu-spill", accel: a, caps: c, sessions: 1, route: "nvidia+cpu-spill"})
		}
	}
	return paths
}

func TestGPUPaths(t *testing.T) {
	requireTools(t)
	caps := pipeline.ProbeAccel(pipeline.ProbeOptions{})
	t.Logf("probe (%.0f ms): %s", caps.ProbeSeconds*1000, caps.Summary())
	seconds := 8.0
	if s, err := strconv.ParseFloat(os.Getenv("GPU_CHECK_SECONDS"), 64); err == nil && s > 0 {
		seconds = s
	}
	src := testmedia.Generate(t, testmedia.Spec{Width: 1920, Height: 1080, Duration: seconds, FPS: "30", Name: "gpu-check-1080p"})
	ladder, err := ladders.Parse([]byte(gpuLadder))
	if err != nil {
		t.Fatal(err)
	}
	paths := gpuPaths(caps)
	if len(paths) == 1 {
		t.Log("no GPU: only cpu path")
	}
	type row struct {
		name, route string
		fps, speed  float64
	}
	var rows []row
	for _, p := range paths {
		ok := t.Run(p.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			began := time.Now()
			dir, res, err := runTranscode(t, ctx, pipeline.Options{
				Input: src, Ladder: ladder, Accel: p.accel, Caps: p.caps, GPUSessions: p.sessions,
			})
			if err != nil {
				t.Fatalf("transcode: %v", err)
			}
			el := time.Since(began).Seconds()
			if res.Accel == nil || res.Accel.Name != p.route {
				t.Fatalf("route %+v, want %s", res.Accel, p.route)
			}
			if _, err := hlscheck.Check(dir, hlscheck.Options{SourceWidth: 1920, SourceHeight: 1080, SourceDuration: seconds,
				ExpectAudio: true, ExpectVideo: true}); err != nil {
				t.Fatalf("output fails the HLS checks:\n%v", err)
			}
			if len(res.Renditions) != 3 {
				t.Fatalf("%d renditions, want 3", len(res.Renditions))
			}
			rows = append(rows, row{p.name, strings.Join(reasonsOr(res.Accel), "; "), seconds * 30 / el, res.Speed})
		})
		if !ok && p.accel == pipeline.AccelCPU {
			t.Fatal("the CPU reference path failed: nothing to compare with")
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-18s %10s %12s %10s  %s\n", "path", "fps", "x realtime", "vs cpu", "notes")
	for _, r := range rows {
		ratio := "-"
		if rows[0].name == "cpu" && rows[0].fps > 0 {
			ratio = fmt.Sprintf("%.2fx", r.fps/rows[0].fps)
		}
		fmt.Fprintf(&b, "%-18s %10.1f %12.2f %10s  %s\n", r.name, r.fps, r.speed, ratio, r.route)
	}
	fmt.Fprintf(&b, "(1080p30 source, %.0f s, 3 renditions 1080/720/480; fps = source frames per wall second)\n", seconds)
	t.Log(b.String())
	fmt.Print(b.String())
}

func reasonsOr(r *pipeline.Route) []string {
	if len(r.Reasons) == 0 {
		return []string{"route " + r.Name}
	}
	return append([]string{"route " + r.Name}, r.Reasons...)
}
