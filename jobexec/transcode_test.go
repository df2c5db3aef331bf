package jobexec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline"
)

func TestJoinLocation(t *testing.T) {
	for _, tc := range []struct{ dir, name, want string }{
		{"s3://b/out", "master.m3u8", "s3://b/out/master.m3u8"},
		{"s3://b/out/", "720p.mp4", "s3://b/out/720p.mp4"},
		{"/data/out", "poster.jpg", "/data/out/poster.jpg"},
		{"/data/out/", "master.m3u8", "/data/out/master.m3u8"},
	} {
		if got := joinLocation(tc.dir, tc.name); got != tc.want {
			t.Errorf("joinLocation(%q, %q) = %q, want %q", tc.dir, tc.name, got, tc.want)
		}
	}
}

// TestTranscodeLocal: a local output is committed with the master in place
// and the result's names under it; a failed transcode leaves no master and
// no staging folder, and keeps the input fault's class.
func TestTranscodeLocal(t *testing.T) {
	src := testmedia.Generate(t, testmedia.Spec{Width: 160, Height: 90, Duration: 1})
	l, err := ladders.Parse([]byte(`{"name": "tiny", "segment_seconds": 1, "gop_seconds": 1,
  "renditions": [{"height": 90, "bitrate_bps": 200000}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "out")
	calls := 0
	res, err := Transcode(ctx, TranscodeConfig{Input: src, Output: out, Ladder: l, SegmentType: pipeline.SegmentTS,
		Quality:    pipeline.QualityOptions{Disabled: true},
		Storyboard: pipeline.StoryboardOptions{Disabled: true},
		Progress:   func(pipeline.Progress) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Master != filepath.Join(out, job.MasterName) {
		t.Errorf("Master %q, want %q", res.Master, filepath.Join(out, job.MasterName))
	}
	if _, err := os.Stat(res.Master); err != nil {
		t.Errorf("master not committed: %v", err)
	}
	if res.Poster != "" && !strings.HasPrefix(res.Poster, out+string(filepath.Separator)) {
		t.Errorf("Poster %q is not under %s", res.Poster, out)
	}
	if calls == 0 {
		t.Error("Progress was never called")
	}
	assertNoStaging(t, out)

	bad := filepath.Join(t.TempDir(), "bad")
	_, err = Transcode(ctx, TranscodeConfig{Input: testmedia.Garbage(t, 4096), Output: bad, Ladder: l})
	if !errors.Is(err, pipeline.ErrInput) || !strings.Contains(err.Error(), "transcoding ") {
		t.Errorf("garbage input: %v, want a pipeline.ErrInput wrapped as transcoding ...", err)
	}
	if _, err := os.Stat(filepath.Join(bad, job.MasterName)); err == nil {
		t.Error("a failed transcode left a master")
	}
	assertNoStaging(t, bad)

	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := Transcode(ctx, TranscodeConfig{Input: filepath.Join(t.TempDir(), "nope.mp4"), Output: missing, Ladder: l}); err == nil {
		t.Error("a missing input transcoded")
	}
	assertNoStaging(t, missing)
}

func assertNoStaging(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".hlsfleet-staging-") {
			t.Errorf("%s left behind in %s", e.Name(), dir)
		}
	}
}
