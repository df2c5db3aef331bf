package lambda

import (
	"strings"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline"
)

func video(w, h int, mod func(*pipeline.VideoInfo)) *pipeline.VideoInfo {
	v := &pipeline.VideoInfo{Codec: "h264", Width: w, Height: h, FrameRate: "30/1", PixelFormat: "yuv420p",
		BitDepth: 8, Chroma: "4:2:0", FieldOrder: "progressive"}
	if mod != nil {
		mod(v)
	}
	return v
}

func TestDecide(t *testing.T) {
	vod := job.New("s3://b/in/a.mp4", "s3://b/out/a/")
	live := job.New("s3://b/live/s/1.ts", "s3://b/hls/live/s/", job.WithKind(job.KindLiveSegment), job.WithLive("s", 1, false))
	plenty := Budget{Remaining: 15 * time.Minute, Cores: 2, MemoryBytes: 3008 << 20}
	hd := func(d float64, mod func(*pipeline.VideoInfo)) *pipeline.Info {
		return &pipeline.Info{Duration: d, Video: video(1920, 1080, mod)}
	}
	for _, tc := range []struct {
		name   string
		j      *job.Job
		info   *pipeline.Info
		b      Budget
		gpu    bool
		want   Route
		reason string
	}{
		{"short 1080p inline", vod, hd(10, nil), plenty, true, RouteInline, "fits"},
		{"at the limit inline", vod, &pipeline.Info{Duration: 60, Video: video(640, 360, nil)}, plenty, false, RouteInline, "fits"},
		{"long to cpu without gpu queue", vod, hd(180, nil), plenty, false, RouteCPU, "longer than the 60 s"},
		{"long to gpu", vod, hd(180, nil), plenty, true, RouteGPU, "GPU queue"},
		{"long 10-bit to cpu", vod, hd(180, func(v *pipeline.VideoInfo) { v.BitDepth, v.Codec = 10, "hevc" }), plenty, true, RouteCPU, "10-bit"},
		{"long HDR to cpu", vod, hd(180, func(v *pipeline.VideoInfo) { v.HDR = true }), plenty, true, RouteCPU, "HDR"},
		{"long interlaced to cpu", vod, hd(180, func(v *pipeline.VideoInfo) { v.FieldOrder = "tff" }), plenty, true, RouteCPU, "interlaced"},
		{"long 4:2:2 to cpu", vod, hd(180, func(v *pipeline.VideoInfo) { v.Chroma = "4:2:2" }), plenty, true, RouteCPU, "chroma 4:2:2"},
		{"long prores to cpu", vod, hd(180, func(v *pipeline.VideoInfo) { v.Codec = "prores" }), plenty, true, RouteCPU, "no hardware decoder"},
		{"long 8K to cpu", vod, &pipeline.Info{Duration: 180, Video: video(7680, 4320, nil)}, plenty, true, RouteCPU, "4096"},
		{"long audio only to cpu", vod, &pipeline.Info{Duration: 600}, plenty, true, RouteCPU, "no video"},
		{"short but no time left", vod, hd(30, nil), Budget{Remaining: 40 * time.Second, Cores: 2}, false, RouteCPU, "does not fit"},
		{"short with more cores fits", vod, hd(30, nil), Budget{Remaining: 60 * time.Second, Cores: 6}, false, RouteInline, "fits"},
		{"short but little memory", vod, hd(10, nil), Budget{Remaining: 15 * time.Minute, Cores: 2, MemoryBytes: 512 << 20}, true, RouteGPU, "memory"},
		{"live segments to the fleet", live, &pipeline.Info{}, plenty, true, RouteCPU, "live-segment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.j, tc.info, 60, tc.b, tc.gpu)
			if d.Route != tc.want || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("Decide = %v (%q), want %v with %q", d.Route, d.Reason, tc.want, tc.reason)
			}
		})
	}
}

func TestEstimate(t *testing.T) {
	hd := &pipeline.Info{Duration: 10, Video: video(1920, 1080, nil)}
	e2 := estimate(hd, 2)
	if want := fixedCostSeconds + 10*secondsPerMediaSecond1080p30; e2.Seconds != want {
		t.Errorf("10 s 1080p30 on 2 cores: %v s, want %v", e2.Seconds, want)
	}
	if e4 := estimate(hd, 4); e4.Seconds >= e2.Seconds {
		t.Errorf("4 cores (%v s) not faster than 2 (%v s)", e4.Seconds, e2.Seconds)
	}
	sd := &pipeline.Info{Duration: 10, Video: video(640, 360, nil)}
	if es := estimate(sd, 2); es.Seconds-fixedCostSeconds >= (e2.Seconds-fixedCostSeconds)/4 || es.MemoryBytes >= e2.MemoryBytes {
		t.Errorf("360p estimate %+v is not well below 1080p's %+v", es, e2)
	}
	hd60 := &pipeline.Info{Duration: 10, Video: video(1920, 1080, func(v *pipeline.VideoInfo) { v.FrameRate = "60000/1001" })}
	if e := estimate(hd60, 2); e.Seconds < 1.9*e2.Seconds-2*fixedCostSeconds {
		t.Errorf("60 fps estimate %v s is not about twice 30 fps's %v s", e.Seconds, e2.Seconds)
	}
	if mib := e2.MemoryBytes >> 20; mib < 400 || mib > 700 {
		t.Errorf("1080p memory estimate %d MiB, measured about 480 MiB", mib)
	}
}

func TestOutputRules(t *testing.T) {
	for _, tc := range []struct {
		out, key string
		want     string // output URL, or "" when ignored
	}{
		{"s3://media/hls", "uploads/cat.mp4", "s3://media/hls/uploads/cat/"},
		{"s3://media/hls/", "cat.mov", "s3://media/hls/cat/"},
		{"s3://media/hls", "hls/cat/master.m3u8", ""},          // our own output never triggers
		{"s3://out-bucket", "cat.mp4", "s3://out-bucket/cat/"}, // another bucket: its events are not ours
		{"", "uploads/cat.mp4", "s3://media/hls/uploads/cat/"},
		{"", "hls/x/seg.ts", ""},
	} {
		rules, err := OutputRules(tc.out, "")
		if err != nil {
			t.Fatalf("%q: %v", tc.out, err)
		}
		j, err := rules.JobFor(job.Event{Bucket: "media", Key: tc.key, Size: -1})
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q %s: job to %s, want ignored", tc.out, tc.key, j.Output)
		case tc.want != "" && (err != nil || j.Output != tc.want):
			t.Errorf("%q %s: %v, %v; want %s", tc.out, tc.key, j, err, tc.want)
		}
	}
	if _, err := OutputRules("http://x/y", ""); err == nil {
		t.Error("an http output URL was accepted")
	}
	rules, err := OutputRules("s3://media/hls", "mobile")
	if err != nil {
		t.Fatal(err)
	}
	if j, err := rules.JobFor(job.Event{Bucket: "media", Key: "a.mp4", Size: -1}); err != nil || j.Ladder != "mobile" {
		t.Errorf("HLSFLEET_LADDER not applied: %+v %v", j, err)
	}
}
