package pipeline_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/pipeline/hls"
)

// chunkLadder: two rungs (360p, 180p) with B-frames, 2 s segments.
const chunkLadder = `{
  "name": "chunk",
  "segment_seconds": 2,
  "gop_seconds": 2,
  "video": {"codec": "h264", "preset": "veryfast", "profile": "high"},
  "audio": {"codec": "aac", "bitrate_bps": 96000, "channels": 2},
  "renditions": [
    {"height": 360, "bitrate_bps": 500000},
    {"height": 180, "bitrate_bps": 150000}
  ]
}`

// chunkSeconds splits the 20 s sources into chunks [0,6), [6,12), [12,20).
const chunkSeconds = 6

// sineAmplitude is the amplitude of lavfi's sine source (1/8), sineHz the
// first track's tone (track i's is 220*i Hz higher): the largest step
// between two samples at 48 kHz is about 2*pi*f/48000 of the amplitude.
const (
	sineAmplitude = 0.125
	sineHz        = 440
)

// fileSink writes every file under dir, replacing what is there.
type fileSink struct{ dir string }

func (s fileSink) Create(name string) (io.WriteCloser, error) {
	p := filepath.Join(s.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	return os.Create(p)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	io.ReadSeeker
	n int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadSeeker.Read(p)
	r.n += int64(n)
	return n, err
}

// chunkCase is one source and output form transcoded both ways.
type chunkCase struct {
	name    string
	src     string
	segType pipeline.SegmentType
	tracks  int  // audio tracks; more than one: audio-only playlists (group)
	extras  bool // poster, storyboard, quality, MP4 compared too
}

// TestTranscodeChunk transcodes 20 s sources in one pass and in three
// chunks (in reverse order, as independent workers might) and checks that
// the chunks' segments, put side by side, are the single pass's: names,
// durations, frames and their timestamps, keyframes at segment starts,
// audio without a gap or click at the joins, MPEG-TS continuity, fMP4
// sequence numbers; and that each extra lands in the chunk it belongs to.
func TestTranscodeChunk(t *testing.T) {
	requireTools(t)
	dir := t.TempDir()
	gen := func(s testmedia.Spec) string {
		p, err := testmedia.GenerateTo(dir, s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := testmedia.Spec{Width: 640, Height: 360, Duration: 20, FPS: "30000/1001", Noise: true, NoiseStrength: 20}
	cfr := base
	cfr.Name = "cfr"
	vfr := base
	vfr.Name, vfr.VFR, vfr.AudioTracks = "vfr", true, 2
	// Matroska times everything in milliseconds: a chunk's first audio
	// frame after the seek is up to 24 samples off its true place.
	mkv := base
	mkv.Name, mkv.Container = "coarse", "mkv"
	cfrPath, vfrPath, mkvPath := gen(cfr), gen(vfr), gen(mkv)
	for _, c := range []chunkCase{
		{name: "ts-mkv-ms-timestamps", src: mkvPath, segType: pipeline.SegmentTS, tracks: 1},
		{name: "ts-cfr", src: cfrPath, segType: pipeline.SegmentTS, tracks: 1, extras: true},
		{name: "fmp4-cfr", src: cfrPath, segType: pipeline.SegmentFMP4, tracks: 1},
		{name: "ts-vfr-audio-group", src: vfrPath, segType: pipeline.SegmentTS, tracks: 2},
	} {
		t.Run(c.name, func(t *testing.T) { testChunkCase(t, c) })
	}
	t.Run("refused", func(t *testing.T) { testChunkRefused(t, dir, cfrPath) })
}

func chunkOptions(t *testing.T, c chunkCase) pipeline.Options {
	t.Helper()
	l, err := ladders.Parse([]byte(chunkLadder))
	if err != nil {
		t.Fatal(err)
	}
	opt := pipeline.Options{Input: c.src, Ladder: l, SegmentType: c.segType, Cores: 2,
		Limits: pipeline.Limits{AllAudioTracks: c.tracks > 1}}
	if c.extras {
		opt.MP4 = "360p"
	} else {
		opt.Storyboard.Disabled, opt.Quality.Disabled = true, true
	}
	return opt
}

func testChunkCase(t *testing.T, c chunkCase) {
	ctx := context.Background()
	opt := chunkOptions(t, c)
	single, chunked := filepath.Join(t.TempDir(), "single"), filepath.Join(t.TempDir(), "chunked")
	res, err := pipeline.Transcode(ctx, opt, fileSink{single})
	if err != nil {
		t.Fatalf("single pass: %v", err)
	}
	plan, err := job.PlanChunks(res.Input.Duration, opt.Ladder.SegmentSeconds, chunkSeconds)
	if err != nil || plan == nil || len(plan.Chunks) != 3 {
		t.Fatalf("PlanChunks(%v) = %+v, %v; want 3 chunks", res.Input.Duration, plan, err)
	}
	chunks := make([]pipeline.ChunkResult, len(plan.Chunks))
	for k := len(plan.Chunks) - 1; k >= 0; k-- {
		chunks[k] = runChunk(t, opt, *plan, k, chunked)
	}
	for _, r := range res.Renditions {
		t.Run(r.Name, func(t *testing.T) {
			segs := compareSegments(t, single, r.Playlist, chunks, false)
			compareVideo(t, single, chunked, r.Name, segs, chunks)
			if c.tracks == 1 {
				compareAudio(t, single, chunked, sineHz, segs, chunks)
			}
			checkContainer(t, c.segType, chunked, segs, chunks, r.Name)
		})
	}
	for i, r := range res.Audio {
		t.Run(r.Name, func(t *testing.T) {
			segs := compareSegments(t, single, r.Playlist, chunks, true)
			compareAudio(t, single, chunked, sineHz+220*float64(i), segs, chunks)
			checkContainer(t, c.segType, chunked, segs, chunks, r.Name)
		})
	}
	if c.extras {
		compareExtras(t, res, chunks, chunked)
	}
}

// runChunk transcodes chunk k of plan into dir, its fMP4 init named after
// the chunk (chunks' inits would replace each other in one folder), and
// checks what it reports of its progress.
func runChunk(t *testing.T, opt pipeline.Options, plan job.ChunkPlan, k int, dir string) pipeline.ChunkResult {
	t.Helper()
	span := plan.Chunks[k]
	opt.ObjectName = func(name string) string {
		if rest, ok := strings.CutSuffix(name, "/init.mp4"); ok {
			return fmt.Sprintf("%s/init-%d.mp4", rest, k)
		}
		return name
	}
	var last pipeline.Progress
	var bad []string
	opt.Progress = func(p pipeline.Progress) {
		if p.Seconds < last.Seconds || p.Seconds < 0 || p.Seconds > p.Duration {
			bad = append(bad, fmt.Sprintf("%.3f/%.3f after %.3f", p.Seconds, p.Duration, last.Seconds))
		}
		last = p
	}
	f, err := os.Open(opt.Input)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	src := &countingReader{ReadSeeker: f}
	opt.Reader, opt.InputSize = src, st.Size()
	res, err := pipeline.TranscodeChunk(context.Background(), pipeline.ChunkOptions{Options: opt, Plan: plan, Span: span}, fileSink{dir})
	if err != nil {
		t.Fatalf("chunk %d: %v", k, err)
	}
	// A chunk reads from a little before its start to a little past its
	// end: about 7 s of the 20 s source for the first, 8.5 s for the second.
	if frac := float64(src.n) / float64(st.Size()); span.End != 0 && frac > 0.75 {
		t.Errorf("chunk %d read %.0f%% of the source", k, 100*frac)
	} else {
		t.Logf("chunk %d read %.0f%% of the source", k, 100*frac)
	}
	want := float64(chunkSeconds)
	if span.End == 0 {
		want = plan.Duration - span.Start // the container's duration: 20.031 s for Matroska
	}
	if len(bad) > 0 || math.Abs(last.Duration-want) > 1e-6 || last.Seconds < want-0.1 {
		t.Errorf("chunk %d progress: last %+v (want duration %.3f, seconds near it); out of order: %v", k, last, want, bad)
	}
	if res.Index != k || res.Frames == 0 {
		t.Errorf("chunk %d: result index %d, %d frames decoded in its span", k, res.Index, res.Frames)
	}
	t.Logf("chunk %d: [%.3f, %.3f) in %.1f s, %d frames decoded in the span", k, res.Start, res.End, res.Elapsed, res.Frames)
	return *res
}

// chunkRendition is rendition name of chunk c, nil when it has none.
func chunkRendition(c pipeline.ChunkResult, name string) *pipeline.ChunkRendition {
	for _, list := range [][]pipeline.ChunkRendition{c.Renditions, c.Audio} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// compareSegments checks that the chunks' segments of one rendition are
// the single pass's, by name and duration, and returns them in order.
func compareSegments(t *testing.T, single, playlist string, chunks []pipeline.ChunkResult, audioOnly bool) []pipeline.ChunkSegment {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(single, filepath.FromSlash(playlist)))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := hls.ParseMedia(data)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimSuffix(playlist, "/index.m3u8")
	var segs []pipeline.ChunkSegment
	for _, c := range chunks {
		r := chunkRendition(c, name)
		if r == nil {
			t.Fatalf("chunk %d has no rendition %s", c.Index, name)
		}
		if (audioOnly && r.Frames != 0) || (!audioOnly && r.Frames == 0) {
			t.Errorf("chunk %d rendition %s: %d frames", c.Index, name, r.Frames)
		}
		segs = append(segs, r.Segments...)
	}
	if len(segs) != len(pl.Segments) {
		t.Fatalf("%d segments in the chunks, %d in the single pass", len(segs), len(pl.Segments))
	}
	for i, s := range pl.Segments {
		if segs[i].Name != name+"/"+s.URI || math.Abs(segs[i].Duration-s.Duration) > 0.0015 {
			t.Errorf("segment %d: chunks %s %.4f s, single pass %s %.3f s", i, segs[i].Name, segs[i].Duration, s.URI, s.Duration)
		}
	}
	return segs
}

// joined writes the init (fMP4) and segments of one rendition, in order,
// into one file and returns its path.
func joined(t *testing.T, dir string, init string, segs []pipeline.ChunkSegment) string {
	t.Helper()
	var b bytes.Buffer
	for _, n := range append([]string{init}, names(segs)...) {
		if n == "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(n)))
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	p := filepath.Join(t.TempDir(), "joined"+filepath.Ext(segs[0].Name))
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func names(segs []pipeline.ChunkSegment) []string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = s.Name
	}
	return out
}

// singleInit is the single pass's init.mp4 of the rendition of segs, ""
// for TS.
func singleInit(segs []pipeline.ChunkSegment) string {
	if !strings.HasSuffix(segs[0].Name, ".m4s") {
		return ""
	}
	return filepath.ToSlash(filepath.Dir(segs[0].Name)) + "/init.mp4"
}

// compareVideo checks frame count and every frame's timestamp of the
// joined chunks against the single pass, and a keyframe at every segment
// start.
func compareVideo(t *testing.T, single, chunked, rung string, segs []pipeline.ChunkSegment, chunks []pipeline.ChunkResult) {
	t.Helper()
	want, err := testmedia.VideoPTS(joined(t, single, singleInit(segs), segs))
	if err != nil {
		t.Fatal(err)
	}
	path := joined(t, chunked, chunkRendition(chunks[0], rung).Init, segs)
	got, err := testmedia.VideoPTS(path)
	if err != nil {
		t.Fatal(err)
	}
	var encoded int64
	for _, c := range chunks {
		encoded += chunkRendition(c, rung).Frames
	}
	if len(got) != len(want) || encoded != int64(len(want)) {
		t.Fatalf("%d frames in the joined chunks (%d reported encoded), %d in the single pass", len(got), encoded, len(want))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 2e-6 {
			t.Fatalf("frame %d at %.6f s in the chunks, %.6f s in the single pass", i, got[i], want[i])
		}
	}
	checkDTS(t, path)
	keys, err := testmedia.KeyframePTS(path)
	if err != nil {
		t.Fatal(err)
	}
	at := want[0]
	for i, s := range segs {
		if !near(keys, at, 0.001) {
			t.Errorf("segment %d (%s) starts at %.4f s without a keyframe", i, s.Name, at)
		}
		at += s.Duration
	}
	t.Logf("%d frames, PTS equal to the single pass's; %d keyframes", len(got), len(keys))
}

// checkDTS checks that the video's decode times rise from packet to
// packet, across the joins too.
func checkDTS(t *testing.T, path string) {
	t.Helper()
	prev := math.Inf(-1)
	for i, l := range ffprobeCSV(t, "-select_streams", "v:0", "-show_entries", "packet=dts_time", "-of", "csv=p=0", path) {
		d, err := strconv.ParseFloat(strings.TrimRight(l, ","), 64)
		if err != nil || d <= prev {
			t.Fatalf("video packet %d: decode time %q after %.6f s", i, l, prev)
		}
		prev = d
	}
}

func near(list []float64, x, tol float64) bool {
	for _, v := range list {
		if math.Abs(v-x) <= tol {
			return true
		}
	}
	return false
}

// compareAudio decodes the rendition's audio (a tone of hz) both ways and
// checks the sample count and, in the 50 ms after each join, that the
// chunks' samples line up with the single pass's to the sample (no gap or
// overlap: no shift matches better), differ from them by no more than two
// AAC encodes of the same tone do, and never step further than the tone
// does (a click).
func compareAudio(t *testing.T, single, chunked string, hz float64, segs []pipeline.ChunkSegment, chunks []pipeline.ChunkResult) {
	t.Helper()
	rung := filepath.ToSlash(filepath.Dir(segs[0].Name))
	want := decodePCM(t, joined(t, single, singleInit(segs), segs))
	got := decodePCM(t, joined(t, chunked, chunkRendition(chunks[0], rung).Init, segs))
	if d := len(got) - len(want); d < -1024 || d > 1024 {
		t.Fatalf("%d audio samples in the chunks, %d in the single pass", len(got), len(want))
	}
	maxStep := 2 * math.Pi * hz / 48000 * sineAmplitude
	for _, c := range chunks[1:] {
		// Sample 0 is the priming frame's first, 1024 samples before 0.
		j := int(math.Round(c.Start*48000)) + 1024
		lo, hi := max(j-2400, 1), min(j+2400, len(got)-8, len(want)-8)
		var diff, step float64
		for i := lo; i < hi; i++ {
			diff = math.Max(diff, math.Abs(float64(got[i]-want[i])))
			step = math.Max(step, math.Abs(float64(got[i]-got[i-1])))
		}
		lag := bestLag(got[j:hi], want[j:hi+8], 4)
		t.Logf("join at %.3f s: max |chunks - single pass| %.5f (%.1f%% of the tone), best shift %d samples, max step %.5f (the tone's %.5f)",
			c.Start, diff, 100*diff/sineAmplitude, lag, step, maxStep)
		if diff > 0.1*sineAmplitude || lag != 0 {
			t.Errorf("join at %.3f s: the chunks' audio differs from the single pass's by %.5f, is shifted by %d samples", c.Start, diff, lag)
		}
		if step > 1.2*maxStep {
			t.Errorf("join at %.3f s: a step of %.5f between samples (a click); a %.0f Hz tone steps at most %.5f", c.Start, step, hz, maxStep)
		}
	}
}

// bestLag is the shift d in [-n, n] for which a[i] is closest to b[i+d]
// (squared error over a); b must extend n samples past a.
func bestLag(a, b []float32, n int) int {
	best, lag := math.Inf(1), 0
	for d := -n; d <= n; d++ {
		e := 0.0
		for i := n; i < len(a)-n; i++ {
			x := float64(a[i] - b[i+d])
			e += x * x
		}
		if e < best {
			best, lag = e, d
		}
	}
	return lag
}

// decodePCM decodes the first audio track of path to mono float samples.
func decodePCM(t *testing.T, path string) []float32 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:a:0",
		"-ac", "1", "-f", "f32le", "-").Output()
	if err != nil {
		t.Fatalf("decoding the audio of %s: %v", path, err)
	}
	pcm := make([]float32, len(out)/4)
	if err := binary.Read(bytes.NewReader(out), binary.LittleEndian, pcm); err != nil {
		t.Fatal(err)
	}
	return pcm
}

// checkContainer checks what joins the chunks' segments at the container
// level: TS continuity counters, fMP4 fragment sequence numbers.
func checkContainer(t *testing.T, typ pipeline.SegmentType, chunked string, segs []pipeline.ChunkSegment, chunks []pipeline.ChunkResult, name string) {
	t.Helper()
	var files [][]byte
	for _, s := range segs {
		data, err := os.ReadFile(filepath.Join(chunked, filepath.FromSlash(s.Name)))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, data)
	}
	if typ == pipeline.SegmentTS {
		bad, err := testmedia.TSContinuityErrors(files...)
		if err != nil {
			t.Fatal(err)
		}
		if len(bad) > 0 {
			t.Errorf("%d continuity errors over the joined chunks:\n%s", len(bad), strings.Join(bad, "\n"))
		}
		return
	}
	for i, f := range files {
		if seq := mfhdSequence(f); seq != i+1 {
			t.Errorf("fragment %s: sequence number %d, want %d", segs[i].Name, seq, i+1)
		}
	}
	init0, _ := os.ReadFile(filepath.Join(chunked, chunkRendition(chunks[0], name).Init))
	for _, c := range chunks[1:] {
		r := chunkRendition(c, name)
		data, err := os.ReadFile(filepath.Join(chunked, r.Init))
		if err != nil || int64(len(data)) != r.InitSize {
			t.Errorf("chunk %d init %s: %d bytes (reported %d), %v", c.Index, r.Init, len(data), r.InitSize, err)
		}
		if !bytes.Equal(data, init0) {
			t.Logf("chunk %d's init differs from chunk 0's", c.Index)
		}
	}
}

// mfhdSequence is the sequence number in the fragment's moof/mfhd box, -1
// when there is none.
func mfhdSequence(b []byte) int {
	box := func(b []byte, typ string) []byte {
		for len(b) >= 8 {
			n := int(binary.BigEndian.Uint32(b))
			if n < 8 || n > len(b) {
				return nil
			}
			if string(b[4:8]) == typ {
				return b[8:n]
			}
			b = b[n:]
		}
		return nil
	}
	mfhd := box(box(b, "moof"), "mfhd")
	if len(mfhd) < 8 {
		return -1
	}
	return int(binary.BigEndian.Uint32(mfhd[4:]))
}

// compareExtras checks that the poster, storyboard tiles, quality samples
// and MP4 choice are split over the chunks as the single pass has them.
func compareExtras(t *testing.T, res *pipeline.Result, chunks []pipeline.ChunkResult, dir string) {
	t.Helper()
	posters, tiles := 0, 0
	for _, c := range chunks {
		if c.Poster != "" {
			posters++
			if c.Poster != pipeline.PosterName || c.Start > 0.1*res.Input.Duration {
				t.Errorf("chunk %d [%.1f s, ...) has the poster %q; its instant is %.1f s", c.Index, c.Start, c.Poster, 0.1*res.Input.Duration)
			}
		}
		if c.MP4 != "360p" {
			t.Errorf("chunk %d: MP4 rung %q, want 360p", c.Index, c.MP4)
		}
		tiles += checkStrip(t, c, tiles, dir)
	}
	if posters != 1 || res.Storyboard == nil || tiles != res.Storyboard.Thumbnails {
		t.Errorf("%d posters, %d tiles over the chunks; the single pass has a poster and %+v", posters, tiles, res.Storyboard)
	}
	for i, q := range res.Quality {
		frames, ssim := 0, 0.0
		for _, c := range chunks {
			frames += c.Quality[i].Frames
			ssim += float64(c.Quality[i].Frames) * c.Quality[i].SSIM
		}
		if frames != q.Frames || math.Abs(ssim/float64(frames)-q.SSIM) > 0.01 {
			t.Errorf("%s quality: %d frames, SSIM %.4f over the chunks; single pass %d frames, SSIM %.4f", q.Rendition, frames, ssim/float64(frames), q.Frames, q.SSIM)
		}
	}
}

// checkStrip checks a chunk's storyboard strip (its first tile is number
// first) and returns its tile count.
func checkStrip(t *testing.T, c pipeline.ChunkResult, first int, dir string) int {
	t.Helper()
	sb := c.Storyboard
	if sb == nil || sb.First != first || sb.Tiles == 0 || sb.Interval != pipeline.DefaultStoryboardInterval {
		t.Fatalf("chunk %d storyboard %+v, want tiles from %d", c.Index, sb, first)
	}
	f, err := os.Open(filepath.Join(dir, sb.Image))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("chunk %d storyboard strip: %v", c.Index, err)
	}
	if b := img.Bounds(); b.Dx() != sb.Tiles*sb.TileWidth || b.Dy() != sb.TileHeight {
		t.Errorf("chunk %d strip is %v, want %d tiles of %dx%d in a row", c.Index, b, sb.Tiles, sb.TileWidth, sb.TileHeight)
	}
	return sb.Tiles
}

// testChunkRefused: an audio-only source and a span that does not start on
// a segment are refused, as an input fault and an invalid job.
func testChunkRefused(t *testing.T, dir, src string) {
	l, err := ladders.Parse([]byte(chunkLadder))
	if err != nil {
		t.Fatal(err)
	}
	audio, err := testmedia.GenerateTo(dir, testmedia.Spec{Name: "audio", Duration: 1, Video: testmedia.VideoNone})
	if err != nil {
		t.Fatal(err)
	}
	plan := job.ChunkPlan{Duration: 20, SegmentSeconds: 2, ChunkSeconds: 6,
		Chunks: []job.ChunkSpan{{Index: 0, End: 6}, {Index: 1, Start: 6, End: 12, FirstSegment: 3}, {Index: 2, Start: 12, FirstSegment: 6}}}
	sink := fileSink{t.TempDir()}
	_, err = pipeline.TranscodeChunk(context.Background(), pipeline.ChunkOptions{
		Options: pipeline.Options{Input: audio, Ladder: l}, Plan: plan, Span: plan.Chunks[1]}, sink)
	if !errors.Is(err, pipeline.ErrInput) {
		t.Errorf("audio-only source: %v, want an input fault", err)
	}
	bad := plan.Chunks[1]
	bad.FirstSegment = 2
	_, err = pipeline.TranscodeChunk(context.Background(), pipeline.ChunkOptions{
		Options: pipeline.Options{Input: src, Ladder: l}, Plan: plan, Span: bad}, sink)
	if !errors.Is(err, job.ErrInvalid) {
		t.Errorf("span at 6 s numbered as segment 2: %v, want job.ErrInvalid", err)
	}
}
