package jobexec

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/attempt"
	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/storage"
)

// TestStorageSinkQualityGate: on storage, with attempt-scoped names, the
// segments of a rung the gate drops are deleted once the master is
// published, and the master and job.json-facing result agree on what is
// left.
func TestStorageSinkQualityGate(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not on PATH: the test makes its source with it")
	}
	src := filepath.Join(t.TempDir(), "flat.mp4")
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
		"gradients=s=640x360:r=25:d=3:speed=0.002", "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p", src).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	l, err := ladders.Parse([]byte(`{"name": "gate", "segment_seconds": 1, "gop_seconds": 1,
  "renditions": [{"height": 360, "bitrate_bps": 1500000}, {"height": 180, "bitrate_bps": 400000}],
  "quality_gate": {"min_ssim_gain": 0.005}}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	outDir := t.TempDir()
	b, err := storage.Open(ctx, "file://"+outDir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	att := attempt.NewID()
	res, err := pipeline.Transcode(ctx, pipeline.Options{Input: src, Ladder: l, Cores: 2,
		Storyboard: pipeline.StoryboardOptions{Disabled: true}, ObjectName: attempt.ObjectName(att)}, &StorageSink{Ctx: ctx, Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Quality) != 2 || !res.Quality[0].Dropped || res.Quality[1].Dropped || len(res.Renditions) != 1 {
		t.Fatalf("quality %+v, renditions %d: want 360p dropped over 180p on a flat source", res.Quality, len(res.Renditions))
	}
	objs, err := b.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.Key)
		if strings.HasPrefix(o.Key, "360p/") {
			t.Errorf("%s of the dropped rung is still stored", o.Key)
		}
	}
	if !strings.Contains(strings.Join(names, " "), "180p/"+att+"/index.m3u8") || !strings.Contains(strings.Join(names, " "), job.MasterName) {
		t.Errorf("stored %v: want the master and the 180p rung", names)
	}
}
