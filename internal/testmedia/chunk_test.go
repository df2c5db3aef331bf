package testmedia

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestChunkSpecArgs(t *testing.T) {
	for _, v := range ChunkVariants {
		s := ChunkSpec(v, 1280, 720).withDefaults()
		if err := s.validate(); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		args := strings.Join(ffmpegArgs(s, "out"), " ")
		for _, want := range []string{
			"aevalsrc=0.2511886*sin(2*PI*440*t):sample_rate=48000:channel_layout=stereo:duration=180",
			"noise=alls=30:allf=t+u", "-c:a aac", "-ac 2 -ar 48000", "-t 180",
		} {
			if !strings.Contains(args, want) {
				t.Errorf("%s: args lack %q:\n%s", v, want, args)
			}
		}
		counter := "drawbox="
		if HaveDrawtext() {
			counter = "drawtext=text='%{frame_num}'"
		}
		if !strings.Contains(args, counter) {
			t.Errorf("%s: no frame counter %q:\n%s", v, counter, args)
		}
		steps := strings.Contains(args, "setpts=")
		if steps != (v == ChunkVFR) || strings.Contains(args, "-enc_time_base:v 1/90000") != (v == ChunkVFR) {
			t.Errorf("%s: rate steps %v:\n%s", v, steps, args)
		}
	}
	if got := ChunkSpec(ChunkNTSC, 64, 64).FPS; got != "30000/1001" {
		t.Errorf("NTSC FPS %q", got)
	}
	// 180 s: 1260 frames at 25 fps (50.4 s), 1782 at 30 fps (to 109.8 s).
	if a, b := RateStepFrames(180); a != 1260 || b != 1782 {
		t.Errorf("RateStepFrames(180) = %d, %d", a, b)
	}
	if t30, t25 := RateStepTimes(180); math.Abs(t30-50.4) > 1e-9 || math.Abs(t25-109.8) > 1e-9 {
		t.Errorf("RateStepTimes(180) = %v, %v", t30, t25)
	}
	for _, bad := range []Spec{{RateSteps: true, VFR: true}, {RateSteps: true, Video: VideoMPEG2Interlaced}, {Counter: true, Video: VideoNone}, {ToneDBFS: 3}} {
		if err := bad.withDefaults().validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// decodeGray decodes every frame of path's video to 8-bit gray.
func decodeGray(t *testing.T, path string) [][]byte {
	t.Helper()
	info, err := Probe(path)
	if err != nil {
		t.Fatal(err)
	}
	v := info.OfType("video")[0]
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:v", "-fps_mode", "passthrough",
		"-f", "rawvideo", "-pix_fmt", "gray", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	n := v.Width * v.Height
	var frames [][]byte
	for len(out) >= n {
		frames = append(frames, out[:n])
		out = out[n:]
	}
	return frames
}

func TestCounterStrip(t *testing.T) {
	skipWithoutFFmpeg(t)
	had := HaveDrawtext()
	drawtextOK = false // the fallback, as on a build without drawtext
	t.Cleanup(func() { drawtextOK = had })
	const w, h = 320, 240
	path := Generate(t, Spec{Width: w, Height: h, Duration: 2, Noise: true, Counter: true, Audio: AudioNone})
	frames := decodeGray(t, path)
	if len(frames) != 60 {
		t.Fatalf("%d frames, want 60", len(frames))
	}
	sq := h / 45
	for i, f := range frames {
		n := 0
		for k := range counterBits {
			x, y := sq+2*k*sq+sq/2, h-2*sq+sq/2
			if f[y*w+x] > 128 {
				n |= 1 << k
			}
		}
		if n != i {
			t.Errorf("frame %d shows %d", i, n)
		}
	}
}

func TestRateSteps(t *testing.T) {
	skipWithoutFFmpeg(t)
	const d = 12.0
	for _, container := range []string{"mp4", "mkv"} {
		path := Generate(t, Spec{Width: 160, Height: 120, Duration: d, RateSteps: true, Container: container, Audio: AudioNone})
		pts, err := VideoPTS(path)
		if err != nil {
			t.Fatal(err)
		}
		a, b := RateStepFrames(d)
		want := a + b + int(math.Round((d-(float64(a)/25+float64(b)/30))*25))
		if len(pts) != want {
			t.Errorf("%s: %d frames, want %d", container, len(pts), want)
		}
		t30, t25 := RateStepTimes(d)
		tol := 0.0011 // Matroska stores milliseconds
		for i := 1; i < len(pts); i++ {
			at, step := pts[i-1]-pts[0], pts[i]-pts[i-1]
			want := 1.0 / 25
			if at >= t30-1e-6 && at < t25-1e-6 {
				want = 1.0 / 30
			}
			if math.Abs(step-want) > tol {
				t.Errorf("%s: frame %d at %.4f s: interval %.4f s, want %.4f", container, i-1, at, step, want)
				break
			}
		}
	}
}

func TestTone(t *testing.T) {
	skipWithoutFFmpeg(t)
	path := Generate(t, Spec{Width: 64, Height: 64, Duration: 2, ToneDBFS: -12})
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:a", "-f", "f32le", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]float32, len(out)/4)
	if err := binary.Read(bytes.NewReader(out), binary.LittleEndian, pcm); err != nil {
		t.Fatal(err)
	}
	peak, crossings := 0.0, 0
	for i := 2; i < len(pcm)/2; i++ { // left channel
		peak = math.Max(peak, math.Abs(float64(pcm[2*i])))
		if pcm[2*i-2] < 0 && pcm[2*i] >= 0 {
			crossings++
		}
	}
	if want := math.Pow(10, -12.0/20); math.Abs(peak-want) > 0.02 {
		t.Errorf("peak %.4f, want %.4f (-12 dBFS) ± 0.02", peak, want)
	}
	if hz := float64(crossings) / (float64(len(pcm)/2) / 48000); math.Abs(hz-440) > 5 {
		t.Errorf("tone at %.1f Hz, want 440", hz)
	}
}

func TestCorrupt(t *testing.T) {
	skipWithoutFFmpeg(t)
	src := Generate(t, Spec{Width: 160, Height: 120, Duration: 6})
	dir := t.TempDir()
	path, err := CorruptTo(dir, src, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(src)
	b, _ := os.ReadFile(path)
	if len(a) != len(b) || bytes.Equal(a, b) {
		t.Fatalf("corrupt copy: %d bytes (source %d), equal %v", len(b), len(a), bytes.Equal(a, b))
	}
	again, err := CorruptTo(t.TempDir(), src, 2, 4)
	if c, _ := os.ReadFile(again); err != nil || !bytes.Equal(b, c) {
		t.Errorf("a second corrupt copy differs (%v)", err)
	}
	counts, err := DecodeFailures(path, [2]float64{0, 2}, [2]float64{2, 4}, [2]float64{4, 6})
	if err != nil {
		t.Fatal(err)
	}
	if c := counts[1]; c.Packets != 60 || c.Failed != c.Packets {
		t.Errorf("in the region: %d of %d packets failed, want all of 60", c.Failed, c.Packets)
	}
	if c := counts[0]; c.Failed != 0 || c.Packets != 60 {
		t.Errorf("before the region: %d of %d packets failed, want 0 of 60", c.Failed, c.Packets)
	}
	if c := counts[2]; c.Failed > 2 {
		t.Errorf("after the region: %d of %d packets failed", c.Failed, c.Packets)
	}
	if _, err := CorruptTo(dir, src, 4, 2); err == nil {
		t.Error("an empty region accepted")
	}
	if _, err := CorruptTo(dir, Generate(t, Spec{Duration: 1, Container: "ts"}), 0, 1); err == nil {
		t.Error("a TS source accepted")
	}
}

func TestCached(t *testing.T) {
	skipWithoutFFmpeg(t)
	t.Setenv(CacheEnv, t.TempDir())
	s := Spec{Width: 64, Height: 64, Duration: 0.5, Name: "cached"}
	paths := make([]string, 4)
	var wg sync.WaitGroup
	for i := range paths {
		wg.Go(func() { paths[i] = Cached(t, s) })
	}
	wg.Wait()
	for _, p := range paths[1:] {
		if p != paths[0] {
			t.Fatalf("paths %v differ", paths)
		}
	}
	if !strings.HasPrefix(paths[0], CacheDir()) || filepath.Base(paths[0]) != "cached.mp4" {
		t.Errorf("path %s is not cached.mp4 under %s", paths[0], CacheDir())
	}
	fi, err := os.Stat(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	again := Cached(t, s)
	if fi2, err := os.Stat(again); err != nil || again != paths[0] || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("second call %s (%v) regenerated or moved the clip", again, err)
	}
	entries, _ := os.ReadDir(CacheDir())
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("leftover %s", e.Name())
		}
	}
	s.Duration = 0.6
	if Cached(t, s) == paths[0] {
		t.Error("another spec got the same entry")
	}
	if _, err := Probe(paths[0]); err != nil {
		t.Error(err)
	}
}

// TestChunkSources makes (or finds in the cache) the real chunking
// sources and checks what the chunk tests rely on. The first run costs
// about two minutes of two cores.
func TestChunkSources(t *testing.T) {
	if testing.Short() {
		t.Skip("testmedia: the 3-minute chunking sources: not with -short")
	}
	skipWithoutFFmpeg(t)
	for _, v := range ChunkVariants {
		path := ChunkSource(t, v)
		info, err := Probe(path)
		if err != nil {
			t.Fatal(err)
		}
		if d := info.Format.Seconds(); math.Abs(d-ChunkSourceSeconds) > 0.1 {
			t.Errorf("%s: %.3f s", v, d)
		}
		vs := info.OfType("video")
		if len(vs) != 1 || vs[0].Width != ChunkSourceWidth || vs[0].Height != ChunkSourceHeight {
			t.Errorf("%s: video %+v", v, vs)
		}
		if a := info.OfType("audio"); len(a) != 1 || a[0].Channels != 2 || a[0].SampleRate != "48000" {
			t.Errorf("%s: audio %+v", v, a)
		}
		pts, err := VideoPTS(path)
		if err != nil {
			t.Fatal(err)
		}
		frames := map[ChunkVariant]int{ChunkCFR: 5400, ChunkNTSC: 5395, ChunkVFR: 1260 + 1782 + 1755}[v]
		if len(pts) != frames {
			t.Errorf("%s: %d frames, want %d", v, len(pts), frames)
		}
	}
	path := ChunkCorruptSource(t)
	counts, err := DecodeFailures(path, [2]float64{0, 60}, [2]float64{60, 120}, [2]float64{120, 180}, [2]float64{0, 180})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range counts {
		t.Logf("[%g s, %g s): %d of %d video packets fail to decode", c.From, c.To, c.Failed, c.Packets)
		bad := c.Failed*2 > c.Packets
		if bad != (i == 1) {
			t.Errorf("[%g s, %g s): %d of %d packets fail", c.From, c.To, c.Failed, c.Packets)
		}
	}
}
