package pipeline_test

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hlsfleet/hlsfleet/internal/hlscheck"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/pipeline/hls"
)

// inFolder is an Options.ObjectName that puts every file into the folder
// att inside its own folder, as the fleet's attempt-scoped names do.
func inFolder(att string) func(string) string {
	return func(name string) string {
		dir, base := path.Split(name)
		return dir + att + "/" + base
	}
}

// TestObjectName: with Options.ObjectName every file but the master is
// stored under its mapped name (fMP4 init sections, segments, playlists,
// poster, storyboard, MP4), the master's URIs and the Result's names are the
// stored names, and the presentation is whole and correct from the master.
func TestObjectName(t *testing.T) {
	requireTools(t)
	src := testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 3, FPS: "25"})
	dir, res, err := runTranscode(t, context.Background(), pipeline.Options{
		Input: src, Ladder: loadSmallLadder(t), Cores: 2, MP4: "240", SegmentType: pipeline.SegmentFMP4,
		Storyboard: pipeline.StoryboardOptions{Interval: 1, Width: 64, Columns: 2, Rows: 1},
		Quality:    pipeline.QualityOptions{Disabled: true},
		ObjectName: inFolder("a1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	files := filesUnder(t, dir)
	var dirs []string
	for _, f := range files {
		f = filepath.ToSlash(f)
		if f == pipeline.MasterName {
			continue
		}
		if path.Base(path.Dir(f)) != "a1" {
			t.Errorf("%s is not in an a1 folder", f)
		}
		if strings.HasSuffix(f, "/init.mp4") || strings.HasSuffix(f, "/index.m3u8") {
			dirs = append(dirs, f)
		}
	}
	sort.Strings(dirs)
	want := []string{"240p/a1/index.m3u8", "240p/a1/init.mp4", "360p/a1/index.m3u8", "360p/a1/init.mp4"}
	if strings.Join(dirs, " ") != strings.Join(want, " ") {
		t.Errorf("playlists and init sections %v, want %v", dirs, want)
	}
	data, err := os.ReadFile(filepath.Join(dir, pipeline.MasterName))
	if err != nil {
		t.Fatal(err)
	}
	m, err := hls.ParseMaster(data)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range m.Variants {
		if v.URI != res.Renditions[i].Playlist || !strings.HasSuffix(v.URI, "/a1/index.m3u8") {
			t.Errorf("variant %d URI %s, result playlist %s: want <rendition>/a1/index.m3u8", i, v.URI, res.Renditions[i].Playlist)
		}
	}
	if res.Poster != "a1/poster.jpg" || res.MP4 == nil || res.MP4.Name != "a1/240p.mp4" ||
		res.Storyboard == nil || res.Storyboard.VTT != "a1/storyboard.vtt" || len(res.Storyboard.Sprites) == 0 {
		t.Fatalf("result names poster %q, mp4 %+v, storyboard %+v: want them under a1/", res.Poster, res.MP4, res.Storyboard)
	}
	for _, n := range append([]string{res.Poster, res.MP4.Name}, res.Storyboard.Sprites...) {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("result names %s: %v", n, err)
		}
	}
	// The storyboard's relative references resolve next to it.
	for _, c := range parseStoryboardVTT(t, filepath.Join(dir, res.Storyboard.VTT)) {
		if _, err := os.Stat(filepath.Join(dir, "a1", c.sprite)); err != nil {
			t.Errorf("storyboard cue names %s: %v", c.sprite, err)
		}
	}
	if _, err := hlscheck.Check(dir, hlscheck.Options{SourceWidth: 640, SourceHeight: 360, SourceDuration: 3,
		ExpectAudio: true, ExpectVideo: true}); err != nil {
		t.Errorf("hlscheck:\n%v", err)
	}
}
