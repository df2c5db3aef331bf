package pipeline_test

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/hlscheck"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline"
)

// smallLadder is a two-rung ladder with short segments, cheap enough for the
// two-core test machine.
const smallLadder = `{
  "name": "e2e",
  "segment_seconds": 2,
  "gop_seconds": 2,
  "video": {"codec": "h264", "preset": "veryfast", "profile": "high"},
  "audio": {"codec": "aac", "bitrate_bps": 64000, "channels": 2},
  "renditions": [
    {"height": 360, "bitrate_bps": 600000},
    {"height": 240, "bitrate_bps": 300000}
  ]
}`

func loadSmallLadder(t *testing.T) *ladders.Ladder {
	t.Helper()
	l, err := ladders.Parse([]byte(smallLadder))
	if err != nil {
		t.Fatalf("parsing the test ladder: %v", err)
	}
	return l
}

func requireTools(t *testing.T) {
	t.Helper()
	if !testmedia.HaveFFmpeg() {
		t.Skip("ffmpeg is not on PATH")
	}
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe is not on PATH")
	}
}

// runTranscode transcodes src into a fresh directory, committing on success
// and aborting on failure, and returns the directory.
func runTranscode(t *testing.T, ctx context.Context, opt pipeline.Options) (string, *pipeline.Result, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "out")
	sink, err := pipeline.NewDirSink(dir)
	if err != nil {
		t.Fatalf("NewDirSink: %v", err)
	}
	res, err := pipeline.Transcode(ctx, opt, sink)
	if err != nil {
		if aerr := sink.Abort(); aerr != nil {
			t.Errorf("Abort: %v", aerr)
		}
		return dir, res, err
	}
	if err := sink.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return dir, res, nil
}

// filesUnder lists every file (not directory) below dir, relative.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".hlsfleet-staging-") {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("walking %s: %v", dir, err)
	}
	return out
}

// firstSegment returns the path of the first media segment of a playlist
// (relative to dir).
func firstSegment(t *testing.T, dir, playlist string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(playlist))
	f, err := os.Open(p)
	if err != nil {
		t.Fatalf("opening playlist: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		return filepath.Join(filepath.Dir(p), filepath.FromSlash(line))
	}
	t.Fatalf("playlist %s lists no segment", playlist)
	return ""
}

// ffprobeCSV runs ffprobe with args and returns its non-empty output lines.
func ffprobeCSV(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("ffprobe", append([]string{"-v", "error"}, args...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("ffprobe %v: %v: %s", args, err, ee.Stderr)
		}
		t.Fatalf("ffprobe %v: %v", args, err)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// videoStreamOf probes the first video stream of a media file.
func videoStreamOf(t *testing.T, path string) testmedia.Stream {
	t.Helper()
	info, err := testmedia.Probe(path)
	if err != nil {
		t.Fatalf("probe %s: %v", path, err)
	}
	vs := info.OfType("video")
	if len(vs) == 0 {
		t.Fatalf("%s has no video stream", path)
	}
	return vs[0]
}

// ffmpegTo runs ffmpeg writing out (in a fresh temp dir) and returns its path.
func ffmpegTo(t *testing.T, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	full := append([]string{"-nostdin", "-v", "error", "-y"}, args...)
	full = append(full, out)
	if b, err := exec.Command("ffmpeg", full...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", full, err, b)
	}
	return out
}

// oddSized makes a 641x359 MPEG-4 Part 2 + AAC clip (libx264 refuses odd
// sizes in 4:2:0, testsrc2 rounds them).
func oddSized(t *testing.T) string {
	return ffmpegTo(t, "odd.mkv",
		"-f", "lavfi", "-i", "testsrc=size=641x359:rate=30:duration=3",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3",
		"-map", "0:v", "-map", "1:a", "-c:v", "mpeg4", "-q:v", "5", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-ac", "2", "-t", "3")
}

type goodCase struct {
	name string
	// source makes the input.
	source  func(t *testing.T) string
	segType pipeline.SegmentType
	limits  pipeline.Limits
	// display size and duration of the source.
	dispW, dispH int
	duration     float64
	// tolerance for durations; 0 = hlscheck's default.
	tolerance    float64
	audio, video bool
	// extra checks of the output.
	check func(t *testing.T, dir string, res *pipeline.Result, rep *hlscheck.Report)
}

func gen(s testmedia.Spec) func(t *testing.T) string {
	return func(t *testing.T) string { return testmedia.Generate(t, s) }
}

func TestTranscodeProducesCorrectHLS(t *testing.T) {
	requireTools(t)
	cases := []goodCase{
		{
			name:   "h264-aac-ts",
			source: gen(testmedia.Spec{Width: 640, Height: 360, Duration: 3}),
			dispW:  640, dispH: 360, duration: 3, audio: true, video: true,
			check: func(t *testing.T, dir string, res *pipeline.Result, rep *hlscheck.Report) {
				if len(res.Renditions) != 2 {
					t.Errorf("got %d renditions, want 2 (360p and 240p)", len(res.Renditions))
				}
				if res.SegmentType != pipeline.SegmentTS {
					t.Errorf("SegmentType = %q, want ts", res.SegmentType)
				}
			},
		},
		{
			name:    "h264-aac-fmp4",
			source:  gen(testmedia.Spec{Width: 640, Height: 360, Duration: 3}),
			segType: pipeline.SegmentFMP4,
			dispW:   640, dispH: 360, duration: 3, audio: true, video: true,
			check: func(t *testing.T, dir string, res *pipeline.Result, rep *hlscheck.Report) {
				if res.SegmentType != pipeline.SegmentFMP4 {
					t.Errorf("SegmentType = %q, want fmp4", res.SegmentType)
				}
				pl, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(res.Renditions[0].Playlist)))
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(pl), "#EXT-X-MAP:") {
					t.Errorf("fMP4 playlist has no EXT-X-MAP:\n%s", pl)
				}
			},
		},
		{
			name:   "rotated-90",
			source: gen(testmedia.Spec{Width: 640, Height: 360, Duration: 3, Rotate: 90}),
			dispW:  360, dispH: 640, duration: 3, audio: true, video: true,
			check: func(t *testing.T, dir string, res *pipeline.Result, rep *hlscheck.Report) {
				v := rep.Master.Variants[0]
				if v.Height <= v.Width {
					t.Errorf("first variant RESOLUTION %dx%d, want portrait (taller than wide)", v.Width, v.Height)
				}
				vs := videoStreamOf(t, firstSegment(t, dir, res.Renditions[0].Playlist))
				if vs.Height <= vs.Width {
					t.Errorf("first segment is %dx%d, want portrait", vs.Width, vs.Height)
				}
				if r := vs.Rotation(); r != 0 {
					t.Errorf("output still carries rotation %d (must be applied, not passed on)", r)
				}
			},
		},
		{
			name:   "h264-interlaced",
			source: gen(testmedia.Spec{Width: 640, Height: 360, Duration: 3, FPS: "25", Video: testmedia.VideoH264Interlaced}),
			dispW:  640, dispH: 360, duration: 3, audio: true, video: true,
			check: checkProgressive,
		},
		{
			name:   "mpeg2-interlaced-ts",
			source: gen(testmedia.Spec{Width: 640, Height: 360, Duration: 3, FPS: "25", Video: testmedia.VideoMPEG2Interlaced, Audio: testmedia.AudioMP3, Container: "ts"}),
			dispW:  640, dispH: 360, duration: 3, audio: true, video: true,
			check: checkProgressive,
		},
		{
			name:   "vfr",
			source: gen(testmedia.Spec{Width: 640, Height: 360, Duration: 3, VFR: true}),
			// The generator drops frames at random, the last ones included:
			// the source's video stream really ends at 2.9 s, its audio at 3 s.
			dispW: 640, dispH: 360, duration: 3, tolerance: 0.15, audio: true, video: true,
			check: func(t *testing.T, dir string, res *pipeline.Result, rep *hlscheck.Report) {
				seg := firstSegment(t, dir, res.Renditions[0].Playlist)
				pts, err := testmedia.VideoPTS(seg)
				if err != nil {
					t.Fatal(err)
				}
				if len(pts) < 10 {
					t.Fatalf("first segment has only %d video packets", len(pts))
				}
				step := pts[1] - pts[0]
				for i := 2; i < len(pts); i++ {
					if d := pts[i] - pts[i-1]; math.Abs(d-step) > 0.002 {
						t.Errorf("output frame interval %d is %.4f s, first was %.4f s: frame rate not constant", i, d, step)
						break
					}
				}
				if fr := res.Renditions[0].FrameRate; fr > 0 && math.Abs(1/step-fr) > 0.5 {
					t.Errorf("frame interval %.4f s does not match FRAME-RATE %.3f", step, fr)
				}
			},
		},
		{
			name:   "hevc10",
			source: gen(testmedia.Spec{Width: 640, Height: 360, Duration: 3, Video: testmedia.VideoHEVC10}),
			dispW:  640, dispH: 360, duration: 3, audio: true, video: true,
			check: func(t *testing.T, dir string, res *pipeline.Result, rep *hlscheck.Report) {
				for _, r := range res.Renditions {
					vs := videoStreamOf(t, firstSegment(t, dir, r.Playlist))
					if vs.CodecName != "h264" || vs.PixFmt != "yuv420p" || vs.Profile != "High" {
						t.Errorf("%s: output %s %s profile %q, want h264 yuv420p High", r.Name, vs.CodecName, vs.PixFmt, vs.Profile)
					}
				}
			},
		},
		{
			name:   "vp9-opus-webm",
			source: gen(testmedia.Spec{Width: 640, Height: 360, Duration: 3, Container: "webm"}),
			dispW:  640, dispH: 360, duration: 3, audio: true, video: true,
			check: func(t *testing.T, dir string, res *pipeline.Result, rep *hlscheck.Report) {
				for _, v := range rep.Master.Variants {
					if !containsPrefix(v.Codecs, "mp4a.40.2") {
						t.Errorf("variant %s CODECS %v: want the Opus source re-encoded to mp4a.40.2", v.URI, v.Codecs)
					}
				}
			},
		},
		{
			name:   "no-audio",
			source: gen(testmedia.Spec{Width: 640, Height: 360, Duration: 3, Audio: testmedia.AudioNone}),
			dispW:  640, dispH: 360, duration: 3, audio: false, video: true,
			check: func(t *testing.T, dir string, res *pipeline.Result, rep *hlscheck.Report) {
				for _, v := range rep.Master.Variants {
					if containsPrefix(v.Codecs, "mp4a") {
						t.Errorf("variant %s CODECS %v mention audio for a silent source", v.URI, v.Codecs)
					}
				}
			},
		},
		{
			name:     "audio-only",
			source:   gen(testmedia.Spec{Duration: 3, Video: testmedia.VideoNone}),
			duration: 3, audio: true, video: false,
			check: func(t *testing.T, dir string, res *pipeline.Result, rep *hlscheck.Report) {
				if n := len(rep.Master.Variants); n != 1 {
					t.Errorf("master has %d variants, want one audio variant", n)
				}
				if len(res.Renditions) != 0 || len(res.Audio) != 1 {
					t.Errorf("Result has %d video and %d audio renditions, want 0 and 1", len(res.Renditions), len(res.Audio))
				}
				for _, v := range rep.Master.Variants {
					if v.Width != 0 || v.Height != 0 || !containsPrefix(v.Codecs, "mp4a") || containsPrefix(v.Codecs, "avc1") {
						t.Errorf("audio variant %s: RESOLUTION %dx%d CODECS %v", v.URI, v.Width, v.Height, v.Codecs)
					}
				}
				if res.Poster != "" {
					t.Errorf("audio-only output has a poster %q", res.Poster)
				}
				if _, err := os.Stat(filepath.Join(dir, pipeline.PosterName)); err == nil {
					t.Errorf("audio-only output has %s", pipeline.PosterName)
				}
			},
		},
		{
			name:   "odd-dimensions-641x359",
			source: oddSized,
			dispW:  641, dispH: 359, duration: 3, audio: true, video: true,
			check: func(t *testing.T, dir string, res *pipeline.Result, rep *hlscheck.Report) {
				for _, r := range res.Renditions {
					if r.Width%2 != 0 || r.Height%2 != 0 {
						t.Errorf("%s is %dx%d: dimensions must be even", r.Name, r.Width, r.Height)
					}
				}
			},
		},
		{
			name:   "anamorphic-sar-4:3",
			source: gen(testmedia.Spec{Width: 1440, Height: 1080, Duration: 2, SAR: "4:3"}),
			dispW:  1920, dispH: 1080, duration: 2, audio: true, video: true,
			check: func(t *testing.T, dir string, res *pipeline.Result, rep *hlscheck.Report) {
				for _, v := range rep.Master.Variants {
					if ar := float64(v.Width) / float64(v.Height); math.Abs(ar-16.0/9) > 0.01 {
						t.Errorf("variant %s RESOLUTION %dx%d is not 16:9", v.URI, v.Width, v.Height)
					}
				}
				for _, r := range res.Renditions {
					vs := videoStreamOf(t, firstSegment(t, dir, r.Playlist))
					if vs.SampleAspectRatio != "1:1" {
						t.Errorf("%s: sample_aspect_ratio %q, want 1:1", r.Name, vs.SampleAspectRatio)
					}
				}
			},
		},
		{
			name:   "yuv444-source",
			source: gen(testmedia.Spec{Width: 640, Height: 360, Duration: 3, PixFmt: "yuv444p"}),
			dispW:  640, dispH: 360, duration: 3, audio: true, video: true,
			check: func(t *testing.T, dir string, res *pipeline.Result, rep *hlscheck.Report) {
				for _, r := range res.Renditions {
					vs := videoStreamOf(t, firstSegment(t, dir, r.Playlist))
					if vs.PixFmt != "yuv420p" {
						t.Errorf("%s: pix_fmt %s, want yuv420p", r.Name, vs.PixFmt)
					}
				}
			},
		},
		{
			name:   "tiny-160x90",
			source: gen(testmedia.Spec{Width: 160, Height: 90, Duration: 3}),
			dispW:  160, dispH: 90, duration: 3, audio: true, video: true,
			check: func(t *testing.T, dir string, res *pipeline.Result, rep *hlscheck.Report) {
				if len(res.Renditions) != 1 {
					t.Fatalf("got %d renditions, want one at the source's own size", len(res.Renditions))
				}
				if r := res.Renditions[0]; r.Width != 160 || r.Height != 90 {
					t.Errorf("rendition is %dx%d, want 160x90", r.Width, r.Height)
				}
			},
		},
		{
			name:   "multi-audio-all-tracks",
			source: gen(testmedia.Spec{Width: 640, Height: 360, Duration: 3, AudioTracks: 2}),
			limits: pipeline.Limits{AllAudioTracks: true},
			dispW:  640, dispH: 360, duration: 3, audio: false, video: true,
			check: func(t *testing.T, dir string, res *pipeline.Result, rep *hlscheck.Report) {
				groups := map[string]int{}
				for _, m := range rep.Master.Media {
					if m.Type == "AUDIO" {
						groups[m.GroupID]++
					}
				}
				if len(groups) != 1 {
					t.Fatalf("master has audio groups %v, want exactly one", groups)
				}
				for g, n := range groups {
					if n != 2 {
						t.Errorf("audio group %q has %d entries, want 2", g, n)
					}
					for _, v := range rep.Master.Variants {
						if v.Audio != g {
							t.Errorf("variant %s AUDIO=%q, want %q", v.URI, v.Audio, g)
						}
						if !containsPrefix(v.Codecs, "mp4a") {
							t.Errorf("variant %s CODECS %v lack the group's mp4a", v.URI, v.Codecs)
						}
					}
				}
				if len(res.Audio) != 2 {
					t.Errorf("Result lists %d audio renditions, want 2", len(res.Audio))
				}
			},
		},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.source(t)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			dir, res, err := runTranscode(t, ctx, pipeline.Options{
				Input: src, Ladder: loadSmallLadder(t), SegmentType: tc.segType, Limits: tc.limits,
			})
			if err != nil {
				t.Fatalf("Transcode: %v", err)
			}
			if res == nil {
				t.Fatal("Transcode returned no Result and no error")
			}
			if _, err := os.Stat(filepath.Join(dir, pipeline.MasterName)); err != nil {
				t.Fatalf("no master after Commit: %v", err)
			}
			if left := stagingLeft(t, dir); len(left) > 0 {
				t.Errorf("staging left after Commit: %v", left)
			}
			rep, err := hlscheck.Check(dir, hlscheck.Options{
				SourceWidth: tc.dispW, SourceHeight: tc.dispH, SourceDuration: tc.duration, DurationTolerance: tc.tolerance,
				ExpectAudio: tc.audio, ExpectVideo: tc.video,
			})
			if err != nil {
				t.Errorf("hlscheck:\n%v", err)
			}
			if rep == nil || rep.Master == nil {
				t.Fatal("hlscheck returned no master")
			}
			if tc.video {
				checkVideoResult(t, dir, res, tc.dispW, tc.dispH)
			}
			if tc.check != nil {
				tc.check(t, dir, res, rep)
			}
		})
	}
}

// checkVideoResult asserts what every video output's Result must say.
func checkVideoResult(t *testing.T, dir string, res *pipeline.Result, dispW, dispH int) {
	t.Helper()
	if len(res.Renditions) == 0 {
		t.Fatal("Result has no video renditions")
	}
	sShort, sLong := min(dispW, dispH), max(dispW, dispH)
	for _, r := range res.Renditions {
		if min(r.Width, r.Height) > sShort || max(r.Width, r.Height) > sLong || r.Width > dispW || r.Height > dispH {
			t.Errorf("rendition %s is %dx%d, larger than the %dx%d source", r.Name, r.Width, r.Height, dispW, dispH)
		}
		if len(r.Codecs) == 0 || !strings.HasPrefix(r.Codecs[0], "avc1.") {
			t.Errorf("rendition %s Codecs %v: first must be avc1.*", r.Name, r.Codecs)
		}
		if r.Segments == 0 || r.Bytes == 0 {
			t.Errorf("rendition %s has %d segments, %d bytes", r.Name, r.Segments, r.Bytes)
		}
	}
	if res.Poster == "" {
		t.Error("Result names no poster for a video source")
	}
	poster := filepath.Join(dir, pipeline.PosterName)
	if _, err := os.Stat(poster); err != nil {
		t.Fatalf("poster: %v", err)
	}
	ps := videoStreamOf(t, poster)
	if top := res.Renditions[0]; ps.Width != top.Width || ps.Height != top.Height {
		t.Errorf("poster is %dx%d, top rendition %dx%d", ps.Width, ps.Height, top.Width, top.Height)
	}
	// It must decode to a picture, not merely parse.
	if frames := ffprobeCSV(t, "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", poster); len(frames) == 0 || frames[0] != "1" {
		t.Errorf("poster decodes to %v frames, want 1", frames)
	}
}

// checkProgressive asserts that every output frame is progressive.
func checkProgressive(t *testing.T, dir string, res *pipeline.Result, rep *hlscheck.Report) {
	t.Helper()
	for _, r := range res.Renditions {
		seg := firstSegment(t, dir, r.Playlist)
		vs := videoStreamOf(t, seg)
		if vs.FieldOrder != "" && vs.FieldOrder != "progressive" && vs.FieldOrder != "unknown" {
			t.Errorf("%s: field_order %q, want progressive", r.Name, vs.FieldOrder)
		}
		flags := ffprobeCSV(t, "-select_streams", "v:0", "-show_entries", "frame=interlaced_frame", "-of", "csv=p=0", seg)
		if len(flags) == 0 {
			t.Errorf("%s: no frames decoded from %s", r.Name, seg)
		}
		for i, f := range flags {
			// csv output may carry empty side-data columns: "0,".
			if f, _, _ = strings.Cut(f, ","); f != "0" {
				t.Errorf("%s: frame %d has interlaced_frame=%s: output is not deinterlaced", r.Name, i, f)
				break
			}
		}
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func stagingLeft(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".hlsfleet-staging-") {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestTranscodeRejectsBadInputs(t *testing.T) {
	requireTools(t)
	cases := []struct {
		name   string
		source func(t *testing.T) string
		limits pipeline.Limits
		want   error // a more specific kind than ErrInput, or nil
	}{
		{name: "garbage", source: func(t *testing.T) string { return testmedia.Garbage(t, 64<<10) }},
		{name: "empty", source: func(t *testing.T) string { return testmedia.Empty(t) }, want: pipeline.ErrEmpty},
		{name: "truncated-mp4", source: func(t *testing.T) string {
			return testmedia.Truncate(t, testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 3}), 0.5)
		}},
		{name: "truncated-faststart-mp4", source: func(t *testing.T) string {
			src := testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 3})
			fast := ffmpegTo(t, "fast.mp4", "-i", src, "-map", "0", "-c", "copy", "-movflags", "+faststart")
			if !moovFirst(t, fast) {
				t.Fatalf("%s is not faststart", fast)
			}
			return testmedia.Truncate(t, fast, 0.5)
		}},
		{name: "oversize", source: func(t *testing.T) string { return testmedia.Oversize(t) }, want: pipeline.ErrTooLarge},
		{name: "too-long", source: gen(testmedia.Spec{Duration: 3}), limits: pipeline.Limits{MaxDuration: 1}, want: pipeline.ErrTooLong},
		{name: "directory", source: func(t *testing.T) string { return t.TempDir() }},
		{name: "missing", source: func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.mp4") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.source(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			dir, res, err := runTranscode(t, ctx, pipeline.Options{Input: src, Ladder: loadSmallLadder(t), Limits: tc.limits})
			if err == nil {
				t.Fatalf("Transcode succeeded (%d renditions, %.2f s); want an input error", len(res.Renditions), res.Duration)
			}
			if !errors.Is(err, pipeline.ErrInput) {
				t.Errorf("error %q (%T) does not wrap ErrInput", err, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %q is not %q", err, tc.want)
			}
			if errors.Is(err, pipeline.ErrCanceled) {
				t.Errorf("input error reported as cancellation: %v", err)
			}
			if _, serr := os.Stat(filepath.Join(dir, pipeline.MasterName)); serr == nil {
				t.Error("master.m3u8 exists after a failed transcode")
			}
			if left := filesUnder(t, dir); len(left) > 0 {
				t.Errorf("output dir holds %v after Abort, want nothing", left)
			}
		})
	}
}

// moovFirst reports whether an MP4's moov box comes before its mdat box.
func moovFirst(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	moov, mdat := strings.Index(string(b), "moov"), strings.Index(string(b), "mdat")
	return moov >= 0 && mdat >= 0 && moov < mdat
}

func TestTranscodeCancel(t *testing.T) {
	requireTools(t)
	src := testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 10})
	base := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	canceledAt := make(chan time.Time, 1)
	dir := filepath.Join(t.TempDir(), "out")
	sink, err := pipeline.NewDirSink(dir)
	if err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		res *pipeline.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := pipeline.Transcode(ctx, pipeline.Options{
			Input: src, Ladder: loadSmallLadder(t),
			Progress: func(p pipeline.Progress) {
				if p.Seconds >= 1 && ctx.Err() == nil {
					select {
					case canceledAt <- time.Now():
					default:
					}
					cancel()
				}
			},
		}, sink)
		done <- outcome{res, err}
	}()
	var out outcome
	select {
	case out = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("Transcode did not return within 90 s of starting (blocked after cancel?)")
	}
	if out.err == nil {
		t.Fatalf("Transcode finished without error although the context was canceled at 1 s of 10 s")
	}
	if !errors.Is(out.err, pipeline.ErrCanceled) && !errors.Is(out.err, context.Canceled) {
		t.Errorf("error %q is neither ErrCanceled nor context.Canceled", out.err)
	}
	if errors.Is(out.err, pipeline.ErrInput) {
		t.Errorf("cancellation reported as an input fault: %v", out.err)
	}
	select {
	case at := <-canceledAt:
		if d := time.Since(at); d > 5*time.Second {
			t.Errorf("Transcode returned %v after cancel, want within 5 s", d)
		}
	default:
		t.Error("progress never reached 1 s, so the context was never canceled")
	}
	if err := sink.Abort(); err != nil {
		t.Errorf("Abort: %v", err)
	}
	if left := filesUnder(t, dir); len(left) > 0 {
		t.Errorf("output dir holds %v after Abort", left)
	}
	// No goroutine of the transcode may outlive it.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("%d goroutines after the canceled transcode, %d before:\n%s", n, base, buf)
	}
}

// TestTranscodeCanceledBeforeStart: an already-canceled context must not
// produce a presentation.
func TestTranscodeCanceledBeforeStart(t *testing.T) {
	requireTools(t)
	src := testmedia.Generate(t, testmedia.Spec{Duration: 2})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir, _, err := runTranscode(t, ctx, pipeline.Options{Input: src, Ladder: loadSmallLadder(t)})
	if err == nil {
		t.Fatal("Transcode with a canceled context succeeded")
	}
	if !errors.Is(err, pipeline.ErrCanceled) && !errors.Is(err, context.Canceled) {
		t.Errorf("error %q is neither ErrCanceled nor context.Canceled", err)
	}
	if left := filesUnder(t, dir); len(left) > 0 {
		t.Errorf("output dir holds %v after Abort", left)
	}
}

// TestTSSegmentsJoinWithoutContinuityErrors: the TS segments of a rendition,
// read as one stream (byte-wise, as an HLS client's demuxer does), carry
// continuous continuity counters: ffmpeg reports no corrupt packet.
func TestTSSegmentsJoinWithoutContinuityErrors(t *testing.T) {
	requireTools(t)
	src := testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 7})
	dir, res, err := runTranscode(t, context.Background(), pipeline.Options{Input: src, Ladder: loadSmallLadder(t), Cores: 2,
		Storyboard: pipeline.StoryboardOptions{Disabled: true}, Quality: pipeline.QualityOptions{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Renditions {
		segs, err := filepath.Glob(filepath.Join(dir, r.Name, "seg_*.ts"))
		if err != nil || len(segs) < 3 {
			t.Fatalf("%s: segments %v, %v; want at least 3", r.Name, segs, err)
		}
		var files [][]byte
		for _, s := range segs {
			b, err := os.ReadFile(s)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, b)
		}
		bad, err := testmedia.TSContinuityErrors(files...)
		if err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		for _, line := range bad {
			t.Errorf("%s: joined segments: %s", r.Name, line)
		}
	}
}
