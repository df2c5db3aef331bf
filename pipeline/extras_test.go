package pipeline_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hlsfleet/hlsfleet/internal/hlscheck"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline"
)

type vttCue struct {
	start, end float64
	sprite     string
	x, y, w, h int
}

var cueRE = regexp.MustCompile(`^(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)$`)
var xywhRE = regexp.MustCompile(`^([^#\s]+)#xywh=(\d+),(\d+),(\d+),(\d+)$`)

// parseStoryboardVTT is a strict reader of the storyboard's WebVTT: a
// WEBVTT header, then blank-line separated cues of a timing line and one
// payload line.
func parseStoryboardVTT(t *testing.T, path string) []vttCue {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() || sc.Text() != "WEBVTT" {
		t.Fatalf("%s: first line is not WEBVTT", path)
	}
	ts := func(m []string) float64 {
		h, _ := strconv.Atoi(m[0])
		mi, _ := strconv.Atoi(m[1])
		s, _ := strconv.Atoi(m[2])
		ms, _ := strconv.Atoi(m[3])
		return float64(h*3600+mi*60+s) + float64(ms)/1000
	}
	var cues []vttCue
	for sc.Scan() {
		if sc.Text() != "" {
			t.Fatalf("%s: expected a blank line before a cue, got %q", path, sc.Text())
		}
		if !sc.Scan() {
			t.Fatalf("%s: ends after a blank line", path)
		}
		m := cueRE.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("%s: bad cue timing %q", path, sc.Text())
		}
		if !sc.Scan() {
			t.Fatalf("%s: cue without payload", path)
		}
		p := xywhRE.FindStringSubmatch(sc.Text())
		if p == nil {
			t.Fatalf("%s: bad cue payload %q", path, sc.Text())
		}
		c := vttCue{start: ts(m[1:5]), end: ts(m[5:9]), sprite: p[1]}
		c.x, _ = strconv.Atoi(p[2])
		c.y, _ = strconv.Atoi(p[3])
		c.w, _ = strconv.Atoi(p[4])
		c.h, _ = strconv.Atoi(p[5])
		cues = append(cues, c)
	}
	return cues
}

func TestStoryboardAndMP4(t *testing.T) {
	requireTools(t)
	src := testmedia.Generate(t, testmedia.Spec{Width: 480, Height: 270, Duration: 7.5, FPS: "25"})
	ctx := context.Background()
	dir, res, err := runTranscode(t, ctx, pipeline.Options{
		Input: src, Ladder: loadSmallLadder(t), Cores: 2, MP4: "240",
		Storyboard: pipeline.StoryboardOptions{Interval: 1, Width: 96, Columns: 3, Rows: 2},
		Quality:    pipeline.QualityOptions{Disabled: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	sb := res.Storyboard
	if sb == nil {
		t.Fatal("no storyboard in the result")
	}
	// 96 px wide at the top rung's 16:9: 96x54.
	if sb.TileWidth != 96 || sb.TileHeight != 54 {
		t.Errorf("tile %dx%d, want 96x54", sb.TileWidth, sb.TileHeight)
	}
	cues := parseStoryboardVTT(t, filepath.Join(dir, pipeline.StoryboardName))
	if len(cues) != 8 || sb.Thumbnails != 8 {
		t.Fatalf("%d cues, %d thumbnails; want 8 (one per second of 7.5 s)", len(cues), sb.Thumbnails)
	}
	if cues[0].start != 0 {
		t.Errorf("first cue starts at %v, want 0", cues[0].start)
	}
	for i := 1; i < len(cues); i++ {
		if cues[i].start != cues[i-1].end {
			t.Errorf("cue %d starts at %v, previous ends at %v: not contiguous", i, cues[i].start, cues[i-1].end)
		}
	}
	if last := cues[len(cues)-1].end; math.Abs(last-res.Duration) > 0.0015 {
		t.Errorf("cues end at %v, the presentation at %v", last, res.Duration)
	}
	// 8 tiles at 3x2 per sprite: sprite-0 full (288x108), sprite-1 one row (288x54).
	sizes := map[string][2]int{}
	for _, name := range sb.Sprites {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := jpeg.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sizes[name] = [2]int{cfg.Width, cfg.Height}
	}
	if len(sb.Sprites) != 2 || sizes["sprite-0.jpg"] != [2]int{288, 108} || sizes["sprite-1.jpg"] != [2]int{288, 54} {
		t.Errorf("sprites %v with sizes %v; want sprite-0.jpg 288x108 and sprite-1.jpg 288x54", sb.Sprites, sizes)
	}
	for i, c := range cues {
		want := fmt.Sprintf("sprite-%d.jpg", i/6)
		cell := i % 6
		if c.sprite != want || c.x != cell%3*96 || c.y != cell/3*54 || c.w != 96 || c.h != 54 {
			t.Errorf("cue %d: %s#xywh=%d,%d,%d,%d, want %s#xywh=%d,%d,96,54", i, c.sprite, c.x, c.y, c.w, c.h, want, cell%3*96, cell/3*54)
		}
		s := sizes[c.sprite]
		if c.x+c.w > s[0] || c.y+c.h > s[1] {
			t.Errorf("cue %d: tile outside its %dx%d sprite", i, s[0], s[1])
		}
	}
	// The MP4: the 240p rung remuxed, moov first, video and audio, whole.
	if res.MP4 == nil || res.MP4.Name != "240p.mp4" || res.MP4.Rendition != "240p" {
		t.Fatalf("mp4 result %+v, want 240p.mp4 of rendition 240p", res.MP4)
	}
	mp4 := filepath.Join(dir, "240p.mp4")
	if !moovFirst(t, mp4) {
		t.Error("240p.mp4 is not faststart (moov after mdat)")
	}
	info, err := testmedia.Probe(mp4)
	if err != nil {
		t.Fatal(err)
	}
	if d := info.Format.Seconds(); math.Abs(d-7.5) > 0.15 {
		t.Errorf("mp4 lasts %v s, want 7.5", d)
	}
	vs, as := info.OfType("video"), info.OfType("audio")
	if len(vs) != 1 || len(as) != 1 || vs[0].Height != 240 || vs[0].CodecName != "h264" {
		t.Fatalf("mp4 streams: %+v", info.Streams)
	}
	// Every frame the HLS rung has, the MP4 has: the same packets.
	mp4Frames := ffprobeCSV(t, "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", mp4)
	var hlsFrames int
	pl := filepath.Join(dir, "240p", "index.m3u8")
	b, _ := os.ReadFile(pl)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasSuffix(line, ".ts") {
			n := ffprobeCSV(t, "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", filepath.Join(dir, "240p", line))
			k, _ := strconv.Atoi(strings.TrimSuffix(n[0], ","))
			hlsFrames += k
		}
	}
	if len(mp4Frames) == 0 || strings.TrimSuffix(mp4Frames[0], ",") != strconv.Itoa(hlsFrames) {
		t.Errorf("mp4 has %v video packets, the HLS rung %d", mp4Frames, hlsFrames)
	}
	if _, err := hlscheck.Check(dir, hlscheck.Options{}); err != nil {
		t.Errorf("the HLS beside the extras: %v", err)
	}
}

func TestMP4RejectsUnknownRung(t *testing.T) {
	requireTools(t)
	src := testmedia.Generate(t, testmedia.Spec{Duration: 1})
	_, _, err := runTranscode(t, context.Background(), pipeline.Options{Input: src, Ladder: loadSmallLadder(t), MP4: "1080"})
	if !errors.Is(err, pipeline.ErrNoMP4Rendition) || !errors.Is(err, ladders.ErrInvalid) {
		t.Fatalf("err = %v, want ErrNoMP4Rendition (a ladders.ErrInvalid)", err)
	}
}

// gateLadder is three rungs close in size, with a quality gate.
func gateLadder(t *testing.T, gain float64) *ladders.Ladder {
	t.Helper()
	l, err := ladders.Parse([]byte(fmt.Sprintf(`{
  "name": "gate", "segment_seconds": 2, "gop_seconds": 2,
  "video": {"codec": "h264", "preset": "veryfast", "profile": "high"},
  "audio": {"codec": "aac", "bitrate_bps": 64000, "channels": 2},
  "renditions": [
    {"height": 360, "bitrate_bps": 1500000},
    {"height": 288, "bitrate_bps": 1000000},
    {"height": 180, "bitrate_bps": 400000}
  ],
  "quality_gate": {"min_ssim_gain": %v}
}`, gain)))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func qualityOf(res *pipeline.Result, name string) *pipeline.Quality {
	for i := range res.Quality {
		if res.Quality[i].Rendition == name {
			return &res.Quality[i]
		}
	}
	return nil
}

func TestQualityReportAndGate(t *testing.T) {
	requireTools(t)
	ctx := context.Background()
	// Low complexity: a smooth gradient drifting slowly; every rung looks
	// the same once scaled back up, so 360p and 288p add nothing over 180p.
	flat := ffmpegTo(t, "flat.mp4", "-f", "lavfi", "-i", "gradients=s=640x360:r=25:d=4:speed=0.002:c0=0x303060:c1=0x6080a0",
		"-f", "lavfi", "-i", "sine=d=4", "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")
	// High complexity: strong per-pixel noise; every halving of the
	// resolution loses detail.
	noisy := testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 4, FPS: "25", Noise: true})

	dir, res, err := runTranscode(t, ctx, pipeline.Options{Input: flat, Ladder: gateLadder(t, 0.005), Cores: 2,
		Storyboard: pipeline.StoryboardOptions{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("flat: %+v", res.Quality)
	if len(res.Quality) != 3 {
		t.Fatalf("flat: %d quality entries, want 3", len(res.Quality))
	}
	for _, q := range res.Quality {
		if q.Frames < 8 || q.SSIM <= 0.9 || q.SSIM > 1 || q.PSNR < 30 {
			t.Errorf("flat %s: ssim %v psnr %v over %d frames; want > 0.9, > 30 dB, >= 8 frames", q.Rendition, q.SSIM, q.PSNR, q.Frames)
		}
	}
	if q := qualityOf(res, "180p"); q == nil || q.Dropped {
		t.Errorf("flat: the lowest rung must stay: %+v", q)
	}
	dropped := 0
	for _, q := range res.Quality {
		if q.Dropped {
			dropped++
			if q.SSIMGain == nil || *q.SSIMGain >= 0.005 {
				t.Errorf("flat %s dropped with gain %v", q.Rendition, q.SSIMGain)
			}
			if _, err := os.Stat(filepath.Join(dir, q.Rendition)); err == nil {
				t.Errorf("flat: the dropped rung %s still has files", q.Rendition)
			}
			master, _ := os.ReadFile(filepath.Join(dir, pipeline.MasterName))
			if strings.Contains(string(master), q.Rendition+"/") {
				t.Errorf("flat: the master still lists the dropped rung %s", q.Rendition)
			}
		}
	}
	if dropped == 0 {
		t.Errorf("flat: the gate dropped nothing: %+v", res.Quality)
	}
	if len(res.Renditions) != 3-dropped {
		t.Errorf("flat: %d renditions published, want %d", len(res.Renditions), 3-dropped)
	}
	if _, err := hlscheck.Check(dir, hlscheck.Options{}); err != nil {
		t.Errorf("flat: gated presentation: %v", err)
	}

	dir, res, err = runTranscode(t, ctx, pipeline.Options{Input: noisy, Ladder: gateLadder(t, 0.005), Cores: 2,
		Storyboard: pipeline.StoryboardOptions{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("noisy: %+v", res.Quality)
	for _, q := range res.Quality {
		if q.Frames < 8 || q.SSIM <= 0 || q.SSIM > 1 || q.PSNR < 20 {
			t.Errorf("noisy %s: ssim %v psnr %v over %d frames", q.Rendition, q.SSIM, q.PSNR, q.Frames)
		}
		if q.Dropped {
			t.Errorf("noisy: the gate dropped %s (gain %v)", q.Rendition, *q.SSIMGain)
		}
	}
	if len(res.Renditions) != 3 {
		t.Errorf("noisy: %d renditions published, want 3", len(res.Renditions))
	}
	hi, lo := qualityOf(res, "360p"), qualityOf(res, "180p")
	if hi == nil || lo == nil || hi.SSIM <= lo.SSIM {
		t.Fatalf("noisy: 360p must score above 180p: %+v %+v", hi, lo)
	}
	// Oracle: the ffmpeg CLI's ssim filter on the 360p rung (the source's
	// own size, so no scaling on either side), per frame, averaged over the
	// frames the report samples: a few frames (k mod 6) into the GOP that
	// holds (k+0.5)/12 of the duration, on the 25 fps grid (2 s GOPs).
	stats := filepath.Join(t.TempDir(), "ssim.log")
	out, err := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-i", filepath.Join(dir, "360p", "index.m3u8"), "-i", noisy,
		"-lavfi", "[0:v]setpts=PTS-STARTPTS[d];[1:v]setpts=PTS-STARTPTS[r];[d][r]ssim=stats_file="+stats, "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg ssim: %v\n%s", err, out)
	}
	perFrame := map[int]float64{}
	logData, _ := os.ReadFile(stats)
	lineRE := regexp.MustCompile(`^n:(\d+) .* All:([0-9.]+)`)
	for _, line := range strings.Split(string(logData), "\n") {
		if m := lineRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			perFrame[n-1], _ = strconv.ParseFloat(m[2], 64)
		}
	}
	var sum float64
	gops := int(math.Ceil(res.Input.Duration/2 - 1e-9))
	for k := 0; k < 12; k++ {
		g := (2*k + 1) * gops / 24
		n := g*2*25 + k%6
		v, ok := perFrame[n]
		if !ok {
			t.Fatalf("ffmpeg reported no SSIM for frame %d (%d frames)", n, len(perFrame))
		}
		sum += v
	}
	oracle := sum / 12
	t.Logf("360p: sampled SSIM %v, ffmpeg on the same frames %v", hi.SSIM, oracle)
	if math.Abs(hi.SSIM-oracle) > 0.002 {
		t.Errorf("360p: SSIM %v, ffmpeg's on the same frames %v", hi.SSIM, oracle)
	}
}
