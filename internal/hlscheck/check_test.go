package hlscheck

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hlsfleet/hlsfleet/pipeline/hls"
)

// rung is one rendition the ffmpeg CLI's hls muxer makes for the tests.
type rung struct {
	name          string
	width, height int
	codec         string // CODECS video entry, from the profile and level forced below
	args          []string
	fmp4, noAudio bool
}

const (
	srcW, srcH = 640, 360
	srcSeconds = 6.0
)

var rungs = map[string]rung{
	"360p":      {name: "360p", width: 640, height: 360, codec: "avc1.64001e", args: []string{"-profile:v", "high", "-level:v", "3.0"}},
	"180p":      {name: "180p", width: 320, height: 180, codec: "avc1.4d4015", args: []string{"-profile:v", "main", "-level:v", "2.1"}},
	"360p-fmp4": {name: "360p-fmp4", width: 640, height: 360, codec: "avc1.64001e", args: []string{"-profile:v", "high", "-level:v", "3.0"}, fmp4: true},
	"180p-fmp4": {name: "180p-fmp4", width: 320, height: 180, codec: "avc1.4d4015", args: []string{"-profile:v", "main", "-level:v", "2.1"}, fmp4: true},
	"180p-mute": {name: "180p-mute", width: 320, height: 180, codec: "avc1.4d4015", args: []string{"-profile:v", "main", "-level:v", "2.1"}, noAudio: true},
	// Keyframes every 1.5 s but segments cut every 2 s regardless.
	"180p-split": {name: "180p-split", width: 320, height: 180, codec: "avc1.4d4015", args: []string{"-profile:v", "main", "-level:v", "2.1", "-g", "45", "-keyint_min", "45", "-hls_flags", "split_by_time"}},
	// Keyframes every 1.5 s, so the muxer cuts at 3 s: not aligned with 2 s.
	"180p-g45": {name: "180p-g45", width: 320, height: 180, codec: "avc1.4d4015", args: []string{"-profile:v", "main", "-level:v", "2.1", "-g", "45", "-keyint_min", "45"}},
	// Non-square pixels.
	"180p-sar": {name: "180p-sar", width: 320, height: 180, codec: "avc1.4d4015", args: []string{"-profile:v", "main", "-level:v", "2.1", "-vf", "scale=320:180,setsar=4/3"}},
}

// encodeRung writes a rendition with the ffmpeg CLI into dir/<name>/.
func encodeRung(dir string, r rung, seconds float64, w, h int) error {
	out := filepath.Join(dir, r.name)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	d := fmt.Sprint(seconds)
	args := []string{"-v", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=s=%dx%d:r=30:d=%s", w, h, d),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=" + d,
		"-map", "0:v"}
	if !r.noAudio {
		args = append(args, "-map", "1:a", "-c:a", "aac", "-ac", "2", "-ar", "48000", "-b:a", "96k")
	}
	args = append(args, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-b:v", "400k", "-g", "60", "-sc_threshold", "0", "-vf", fmt.Sprintf("scale=%d:%d,setsar=1", r.width, r.height))
	args = append(args, r.args...)
	args = append(args, "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod")
	if r.fmp4 {
		args = append(args, "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", filepath.Join(out, "seg%d.m4s"))
	} else {
		args = append(args, "-hls_segment_filename", filepath.Join(out, "seg%d.ts"))
	}
	args = append(args, filepath.Join(out, "index.m3u8"))
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg %s: %v\n%s", r.name, err, b)
	}
	return nil
}

var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureErr  error
)

// fixtures encodes every rung once per test binary.
func fixtures(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	fixtureOnce.Do(func() {
		fixtureDir, fixtureErr = os.MkdirTemp("", "hlscheck-fixtures-")
		if fixtureErr != nil {
			return
		}
		var wg sync.WaitGroup
		errs := make([]error, 0, len(rungs))
		var mu sync.Mutex
		sem := make(chan struct{}, 2)
		for _, r := range rungs {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				if err := encodeRung(fixtureDir, r, srcSeconds, srcW, srcH); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		fixtureErr = errors.Join(errs...)
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixtureDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// copyTree copies the named rung folders of src into a new temp dir.
func copyTree(t *testing.T, src string, names ...string) string {
	t.Helper()
	dst := t.TempDir()
	for _, n := range names {
		err := filepath.Walk(filepath.Join(src, n), func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			if fi.IsDir() {
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			out, err := os.Create(filepath.Join(dst, rel))
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, in); err != nil {
				out.Close()
				return err
			}
			return out.Close()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// measure returns the peak segment bit rate and the average bit rate of a
// rendition folder, as the master should declare them.
func measure(t *testing.T, dir string) (peak, avg float64) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "index.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := hls.ParseMedia(data)
	if err != nil {
		t.Fatal(err)
	}
	var total, dur float64
	if pl.MapURI != "" {
		fi, err := os.Stat(filepath.Join(dir, pl.MapURI))
		if err != nil {
			t.Fatal(err)
		}
		total = float64(fi.Size())
	}
	for _, s := range pl.Segments {
		fi, err := os.Stat(filepath.Join(dir, s.URI))
		if err != nil {
			t.Fatal(err)
		}
		peak = max(peak, float64(fi.Size())*8/s.Duration)
		total += float64(fi.Size())
		dur += s.Duration
	}
	return peak, total * 8 / dur
}

// master builds the correct master playlist for the rungs in dir.
func master(t *testing.T, dir string, names ...string) *hls.Master {
	t.Helper()
	m := &hls.Master{Version: 3, IndependentSegments: true}
	for _, n := range names {
		r := rungs[n]
		peak, avg := measure(t, filepath.Join(dir, n))
		codecs := []string{r.codec}
		if !r.noAudio {
			codecs = append(codecs, hls.AACLC)
		}
		m.Variants = append(m.Variants, hls.Variant{
			URI: n + "/index.m3u8", Bandwidth: int64(math.Ceil(peak * 1.05)), AverageBandwidth: int64(avg),
			Codecs: codecs, Width: r.width, Height: r.height, FrameRate: 30,
		})
	}
	return m
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// editPlaylist rewrites a media playlist through the hls package.
func editPlaylist(t *testing.T, path string, edit func(*hls.MediaPlaylist)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := hls.ParseMedia(data)
	if err != nil {
		t.Fatal(err)
	}
	edit(pl)
	writeFile(t, path, pl.Encode())
}

var full = Options{SourceWidth: srcW, SourceHeight: srcH, SourceDuration: srcSeconds, ExpectAudio: true, ExpectVideo: true}

func TestCheck(t *testing.T) {
	src := fixtures(t)
	tests := []struct {
		name   string
		rungs  []string
		opt    Options
		master func(*hls.Master)
		files  func(t *testing.T, dir string)
		want   []error  // kinds that must be reported; none means Check passes
		text   []string // substrings the error must contain
	}{
		{name: "correct ts", rungs: []string{"360p", "180p"}, opt: full},
		{name: "correct fmp4", rungs: []string{"360p-fmp4", "180p-fmp4"}, opt: full},
		{name: "portrait source is no upscale", rungs: []string{"360p", "180p"},
			opt: Options{SourceWidth: 360, SourceHeight: 640, ExpectAudio: true, ExpectVideo: true}},
		{name: "no expectations", rungs: []string{"180p"}, opt: Options{}},
		{name: "wrong resolution", rungs: []string{"360p", "180p"}, opt: full,
			master: func(m *hls.Master) { m.Variants[0].Width, m.Variants[0].Height = 1280, 720 },
			want:   []error{ErrResolution}, text: []string{"rendition 360p/index.m3u8 segment 0 (seg0.ts)", "video is 640x360, RESOLUTION says 1280x720 (and 2 more segments)"}},
		{name: "wrong codecs", rungs: []string{"360p", "180p"}, opt: full,
			master: func(m *hls.Master) { m.Variants[1].Codecs[0] = "avc1.64001e" },
			want:   []error{ErrCodecs}, text: []string{"CODECS avc1.64001e means High level 30, stream is Main level 21"}},
		{name: "wrong codecs fmp4", rungs: []string{"360p-fmp4"}, opt: full,
			master: func(m *hls.Master) { m.Variants[0].Codecs = []string{"avc1.42e01e", "mp4a.40.5"} },
			want:   []error{ErrCodecs}, text: []string{"Constrained Baseline level 30, stream is High level 30", "CODECS says mp4a.40.5, audio is AAC LC"}},
		{name: "missing segment", rungs: []string{"360p", "180p"}, opt: full,
			files: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "180p", "seg1.ts")) },
			want:  []error{ErrMissingSegment}, text: []string{"rendition 180p/index.m3u8 segment 1 (seg1.ts): missing file: no such file"}},
		{name: "missing init section", rungs: []string{"180p-fmp4"}, opt: full,
			files: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "180p-fmp4", "init.mp4")) },
			want:  []error{ErrMissingSegment}, text: []string{"initialization section init.mp4"}},
		{name: "EXTINF above target", rungs: []string{"360p", "180p"}, opt: full,
			files: func(t *testing.T, dir string) {
				editPlaylist(t, filepath.Join(dir, "360p", "index.m3u8"), func(p *hls.MediaPlaylist) { p.Segments[2].Duration = 2.6 })
			},
			want: []error{ErrTargetDuration}, text: []string{"segment 2 (seg2.ts): EXTINF above EXT-X-TARGETDURATION: EXTINF 2.600 rounds to 3"}},
		{name: "missing audio", rungs: []string{"360p", "180p-mute"}, opt: full,
			want: []error{ErrAudio}, text: []string{"rendition 180p-mute/index.m3u8: audio stream: no audio stream, one expected"}},
		{name: "unexpected audio", rungs: []string{"180p"}, opt: Options{ExpectVideo: true},
			want: []error{ErrAudio}},
		{name: "CODECS declares absent audio", rungs: []string{"180p-mute"}, opt: Options{ExpectVideo: true},
			master: func(m *hls.Master) { m.Variants[0].Codecs = append(m.Variants[0].Codecs, hls.AACLC) },
			want:   []error{ErrCodecs}, text: []string{"CODECS has mp4a.40.2 but there is no audio stream"}},
		{name: "segments start off keyframes", rungs: []string{"360p", "180p-split"}, opt: Options{ExpectAudio: true, ExpectVideo: true},
			want: []error{ErrKeyframe}, text: []string{"rendition 180p-split/index.m3u8 segment 1 (seg1.ts): segment does not start with a keyframe"}},
		{name: "misaligned keyframes", rungs: []string{"360p", "180p-g45"}, opt: full,
			want: []error{ErrAlignment}, text: []string{"rendition 180p-g45/index.m3u8 segment 1 (seg1.ts): segments not aligned across renditions: first video frame at"}},
		{name: "bandwidth far too low", rungs: []string{"360p", "180p"}, opt: full,
			master: func(m *hls.Master) { m.Variants[0].Bandwidth = 100_000 },
			want:   []error{ErrBandwidth}, text: []string{"BANDWIDTH 100000 is below the measured peak"}},
		{name: "bandwidth far too high", rungs: []string{"180p"}, opt: full,
			master: func(m *hls.Master) { m.Variants[0].Bandwidth *= 3; m.Variants[0].AverageBandwidth /= 2 },
			want:   []error{ErrBandwidth}, text: []string{"more than 10% above", "AVERAGE-BANDWIDTH"}},
		{name: "upscale", rungs: []string{"360p", "180p"}, opt: Options{SourceWidth: 480, SourceHeight: 270},
			want: []error{ErrUpscale}, text: []string{"rendition 360p/index.m3u8: rendition larger than the source: video is 640x360, source is 480x270"}},
		{name: "duration", rungs: []string{"180p"}, opt: Options{SourceDuration: 7.5, ExpectVideo: true, ExpectAudio: true},
			want: []error{ErrDuration}, text: []string{"EXTINF total 6.000 s, source 7.500 s", "video stream lasts 6.000 s", "audio stream lasts"}},
		{name: "master incomplete", rungs: []string{"180p"}, opt: full,
			master: func(m *hls.Master) {
				m.IndependentSegments = false
				m.Variants[0].AverageBandwidth, m.Variants[0].FrameRate, m.Variants[0].Width, m.Variants[0].Height = 0, 0, 0, 0
				m.Variants[0].Codecs = nil
			},
			want: []error{ErrMaster}, text: []string{"no EXT-X-INDEPENDENT-SEGMENTS", "no AVERAGE-BANDWIDTH", "no CODECS", "no RESOLUTION", "no FRAME-RATE"}},
		{name: "not VOD", rungs: []string{"180p"}, opt: full,
			files: func(t *testing.T, dir string) {
				editPlaylist(t, filepath.Join(dir, "180p", "index.m3u8"), func(p *hls.MediaPlaylist) { p.Type, p.EndList = hls.Event, false })
			},
			want: []error{ErrPlaylist}, text: []string{`EXT-X-PLAYLIST-TYPE is "EVENT", want VOD`, "no EXT-X-ENDLIST"}},
		{name: "frame rate", rungs: []string{"180p"}, opt: full,
			master: func(m *hls.Master) { m.Variants[0].FrameRate = 25 },
			want:   []error{ErrFrameRate}},
		{name: "non-square pixels", rungs: []string{"180p-sar"}, opt: full,
			want: []error{ErrAspect}, text: []string{"sample_aspect_ratio 4:3, want 1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyTree(t, src, tt.rungs...)
			m := master(t, dir, tt.rungs...)
			if tt.master != nil {
				tt.master(m)
			}
			writeFile(t, filepath.Join(dir, "master.m3u8"), m.Encode())
			if tt.files != nil {
				tt.files(t, dir)
			}
			rep, err := Check(dir, tt.opt)
			if rep == nil {
				t.Fatalf("no report; err %v", err)
			}
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Check failed on a correct output:\n%v", err)
				}
				if len(rep.Renditions) != len(tt.rungs) {
					t.Fatalf("%d renditions reported, want %d", len(rep.Renditions), len(tt.rungs))
				}
				for i, r := range rep.Renditions {
					v := m.Variants[i]
					if r.Segments != 3 || math.Abs(r.Duration-srcSeconds) > 0.01 || r.Width != v.Width || r.Height != v.Height ||
						r.Bandwidth > v.Bandwidth || r.AverageBandwidth == 0 {
						t.Errorf("rendition %d: %+v, master %+v", i, r, v)
					}
				}
				return
			}
			if err == nil {
				t.Fatalf("Check passed, want %v", tt.want)
			}
			for _, k := range tt.want {
				if !errors.Is(err, k) {
					t.Errorf("error does not report %q:\n%v", k, err)
				}
			}
			for _, s := range tt.text {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error does not contain %q:\n%v", s, err)
				}
			}
			var p *Problem
			if !errors.As(err, &p) {
				t.Errorf("error holds no *Problem: %v", err)
			}
			t.Logf("reported:\n%v", err)
		})
	}
}

func TestCheckNoMaster(t *testing.T) {
	rep, err := Check(t.TempDir(), full)
	if rep != nil || !errors.Is(err, ErrMaster) {
		t.Errorf("Check(empty dir) = %v, %v; want nil report and ErrMaster", rep, err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "master.m3u8"), []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=lots\na.m3u8\n"))
	if _, err := Check(dir, full); !errors.Is(err, ErrMaster) || !errors.Is(err, hls.ErrParse) {
		t.Errorf("Check(bad master) = %v; want ErrMaster wrapping hls.ErrParse", err)
	}
}

// BenchmarkCheckLadder checks a 20 s, 4-rung (1080p to 360p) ts output with
// 2 s segments, the size of an end-to-end test output.
func BenchmarkCheckLadder(b *testing.B) {
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not installed", tool)
		}
	}
	const seconds = 20.0
	ladder := []rung{
		{name: "1080p", width: 1920, height: 1080, codec: "avc1.640028", args: []string{"-profile:v", "high", "-level:v", "4.0", "-preset", "superfast", "-b:v", "5M"}},
		{name: "720p", width: 1280, height: 720, codec: "avc1.64001f", args: []string{"-profile:v", "high", "-level:v", "3.1", "-preset", "superfast", "-b:v", "3M"}},
		{name: "480p", width: 854, height: 480, codec: "avc1.64001e", args: []string{"-profile:v", "high", "-level:v", "3.0", "-preset", "superfast", "-b:v", "1200k"}},
		{name: "360p", width: 640, height: 360, codec: "avc1.64001e", args: []string{"-profile:v", "high", "-level:v", "3.0", "-preset", "superfast", "-b:v", "700k"}},
	}
	dir := b.TempDir()
	m := &hls.Master{Version: 3, IndependentSegments: true}
	for _, r := range ladder {
		if err := encodeRung(dir, r, seconds, 1920, 1080); err != nil {
			b.Fatal(err)
		}
		var t testing.T
		peak, avg := measure(&t, filepath.Join(dir, r.name))
		m.Variants = append(m.Variants, hls.Variant{URI: r.name + "/index.m3u8", Bandwidth: int64(math.Ceil(peak * 1.05)), AverageBandwidth: int64(avg),
			Codecs: []string{r.codec, hls.AACLC}, Width: r.width, Height: r.height, FrameRate: 30})
	}
	if err := os.WriteFile(filepath.Join(dir, "master.m3u8"), m.Encode(), 0o644); err != nil {
		b.Fatal(err)
	}
	opt := Options{SourceWidth: 1920, SourceHeight: 1080, SourceDuration: seconds, ExpectAudio: true, ExpectVideo: true}
	b.ResetTimer()
	for b.Loop() {
		if _, err := Check(dir, opt); err != nil {
			b.Fatal(err)
		}
	}
}
