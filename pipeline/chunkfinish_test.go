package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hlsfleet/hlsfleet/internal/hlscheck"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/pipeline/hls"
)

// The chunk attempts of the fake chunked run and the finishing attempt.
var chunkAttempts = []string{"aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc"}

const finishAttempt = "ffffffffff"

// finishSink writes straight into a directory (as storage does: no
// staging), records the order of its creates and deletes what it is told.
type finishSink struct {
	dir     string
	mu      sync.Mutex
	created []string
	removed []string
	ops     []string // creates and "rm NAME", in order
}

func (s *finishSink) Create(name string) (io.WriteCloser, error) {
	s.mu.Lock()
	s.created = append(s.created, name)
	s.ops = append(s.ops, name)
	s.mu.Unlock()
	p := filepath.Join(s.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	return os.Create(p)
}

func (s *finishSink) Remove(name string) error {
	s.mu.Lock()
	s.removed = append(s.removed, name)
	s.ops = append(s.ops, "rm "+name)
	s.mu.Unlock()
	return os.Remove(filepath.Join(s.dir, filepath.FromSlash(name)))
}

// openIn is FinishOptions.Open over a directory.
func openIn(dir string) func(string) (pipeline.ReadSeekCloser, int64, error) {
	return func(name string) (pipeline.ReadSeekCloser, int64, error) {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return nil, 0, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		return f, st.Size(), nil
	}
}

// singlePass is a single pass's output the chunks are cut from.
type singlePass struct {
	dir string
	res *pipeline.Result
	opt pipeline.Options
}

// finishOptions are the options both the single pass and the finish use.
func finishOptions(t *testing.T, typ pipeline.SegmentType) pipeline.Options {
	return pipeline.Options{
		Ladder: loadSmallLadder(t), Cores: 2, MP4: "240", SegmentType: typ,
		Storyboard: pipeline.StoryboardOptions{Interval: 1, Width: 64, Columns: 4, Rows: 2},
	}
}

func runSinglePass(t *testing.T, typ pipeline.SegmentType) *singlePass {
	t.Helper()
	src := testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 14, FPS: "25"})
	opt := finishOptions(t, typ)
	opt.Input = src
	dir, res, err := runTranscode(t, context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	return &singlePass{dir: dir, res: res, opt: opt}
}

func readPlaylist(t *testing.T, file string) *hls.MediaPlaylist {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := hls.ParseMedia(b)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return pl
}

func readMaster(t *testing.T, dir string) *hls.Master {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, pipeline.MasterName))
	if err != nil {
		t.Fatal(err)
	}
	m, err := hls.ParseMaster(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func copyFile(t *testing.T, from, to string) int64 {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return int64(len(b))
}

// layOutChunks copies the single pass's files into out as a chunked run
// of plan would have stored them (each chunk's segments, init sections,
// poster and storyboard strip in its attempt folders) and returns the
// chunks' results. patchInit, when set, changes chunk i's init.mp4 bytes.
func layOutChunks(t *testing.T, sp *singlePass, plan *job.ChunkPlan, out string, patchInit func(i int, b []byte)) []pipeline.ChunkResult {
	t.Helper()
	chunks := make([]pipeline.ChunkResult, len(plan.Chunks))
	for i := range plan.Chunks {
		chunks[i] = pipeline.ChunkResult{Index: i, MP4: "240p"}
		if i == 0 {
			chunks[i].Input = sp.res.Input
		}
	}
	for _, rr := range sp.res.Renditions {
		pl := readPlaylist(t, filepath.Join(sp.dir, filepath.FromSlash(rr.Playlist)))
		var at float64
		for i, span := range plan.Chunks {
			end := len(pl.Segments)
			if i+1 < len(plan.Chunks) {
				end = plan.Chunks[i+1].FirstSegment
			}
			cr := pipeline.ChunkRendition{Name: rr.Name, Width: rr.Width, Height: rr.Height, FrameRate: rr.FrameRate, Codecs: rr.Codecs}
			folder := rr.Name + "/" + chunkAttempts[i]
			if pl.MapURI != "" {
				cr.Init = folder + "/init.mp4"
				cr.InitSize = copyFile(t, filepath.Join(sp.dir, rr.Name, pl.MapURI), filepath.Join(out, filepath.FromSlash(cr.Init)))
				if patchInit != nil {
					patchFile(t, filepath.Join(out, filepath.FromSlash(cr.Init)), func(b []byte) { patchInit(i, b) })
				}
			}
			chunks[i].Start = at
			for _, s := range pl.Segments[span.FirstSegment:end] {
				name := folder + "/" + s.URI
				n := copyFile(t, filepath.Join(sp.dir, rr.Name, s.URI), filepath.Join(out, filepath.FromSlash(name)))
				cr.Segments = append(cr.Segments, pipeline.ChunkSegment{Name: name, Duration: s.Duration, Bytes: n})
				at += s.Duration
			}
			chunks[i].End = at
			chunks[i].Renditions = append(chunks[i].Renditions, cr)
		}
	}
	chunks[len(chunks)-1].End = sp.res.Duration
	splitQuality(sp.res.Quality, chunks)
	chunks[0].Poster = chunkAttempts[0] + "/" + pipeline.PosterName
	copyFile(t, filepath.Join(sp.dir, sp.res.Poster), filepath.Join(out, filepath.FromSlash(chunks[0].Poster)))
	cutStrips(t, sp, chunks, out)
	return chunks
}

func patchFile(t *testing.T, file string, patch func([]byte)) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	patch(b)
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// splitQuality gives each chunk a share of every rung's compared frames
// with the single pass's figures, so the merge must give those back.
func splitQuality(qs []pipeline.Quality, chunks []pipeline.ChunkResult) {
	for _, q := range qs {
		left := q.Frames
		for i := range chunks {
			n := q.Frames / len(chunks)
			if i == len(chunks)-1 {
				n = left
			}
			left -= n
			chunks[i].Quality = append(chunks[i].Quality, pipeline.Quality{
				Rendition: q.Rendition, Width: q.Width, Height: q.Height, SSIM: q.SSIM, PSNR: q.PSNR, Frames: n,
			})
		}
	}
}

// cutStrips cuts the single pass's sprite sheets into each chunk's PNG
// strip: the tiles whose instants fall in the chunk, left to right.
func cutStrips(t *testing.T, sp *singlePass, chunks []pipeline.ChunkResult, out string) {
	t.Helper()
	sb := sp.res.Storyboard
	per := sb.Columns * sb.Rows
	sheets := map[int]image.Image{}
	tile := func(k int) image.Image {
		s, ok := sheets[k/per]
		if !ok {
			f, err := os.Open(filepath.Join(sp.dir, sb.Sprites[k/per]))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if s, err = jpeg.Decode(f); err != nil {
				t.Fatal(err)
			}
			sheets[k/per] = s
		}
		c := k % per
		x, y := c%sb.Columns*sb.TileWidth, c/sb.Columns*sb.TileHeight
		return s.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(image.Rect(x, y, x+sb.TileWidth, y+sb.TileHeight))
	}
	next := 0
	for i := range chunks {
		first := next
		for next < sb.Thumbnails && (i == len(chunks)-1 || float64(next)*sb.Interval < chunks[i].End-1e-6) {
			next++
		}
		strip := image.NewRGBA(image.Rect(0, 0, (next-first)*sb.TileWidth, sb.TileHeight))
		for k := first; k < next; k++ {
			tl := tile(k)
			draw.Draw(strip, image.Rect((k-first)*sb.TileWidth, 0, (k-first+1)*sb.TileWidth, sb.TileHeight), tl, tl.Bounds().Min, draw.Src)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, strip); err != nil {
			t.Fatal(err)
		}
		name := chunkAttempts[i] + "/storyboard.png"
		if err := os.MkdirAll(filepath.Join(out, chunkAttempts[i]), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		chunks[i].Storyboard = &pipeline.ChunkStoryboard{Image: name, First: first, Tiles: next - first,
			TileWidth: sb.TileWidth, TileHeight: sb.TileHeight, Interval: sb.Interval}
	}
}

// finishFrom lays the single pass out as chunks in a fresh directory and
// finishes them there.
func finishFrom(t *testing.T, sp *singlePass, opt pipeline.Options, patchInit func(int, []byte)) (string, *finishSink, *pipeline.Result) {
	t.Helper()
	plan, err := job.PlanChunks(sp.res.Input.Duration, sp.res.SegmentSeconds, 4)
	if err != nil || plan == nil || len(plan.Chunks) != 3 {
		t.Fatalf("PlanChunks(%v s): %+v, %v; want 3 chunks", sp.res.Input.Duration, plan, err)
	}
	out := filepath.Join(t.TempDir(), "out")
	chunks := layOutChunks(t, sp, plan, out, patchInit)
	sink := &finishSink{dir: out}
	opt.ObjectName = inFolder(finishAttempt)
	res, err := pipeline.FinishChunks(context.Background(), pipeline.FinishOptions{
		Options: opt, Plan: *plan, Chunks: chunks, Open: openIn(out),
	}, sink)
	if err != nil {
		t.Fatalf("FinishChunks: %v", err)
	}
	return out, sink, res
}

// checkFinishedPlaylists: every rendition's playlist lists the single
// pass's segments (durations, target) at URIs relative to its folder that
// resolve to the same bytes.
func checkFinishedPlaylists(t *testing.T, sp *singlePass, out string, res *pipeline.Result) {
	t.Helper()
	if len(res.Renditions) != len(sp.res.Renditions) {
		t.Fatalf("%d renditions, the single pass %d", len(res.Renditions), len(sp.res.Renditions))
	}
	for i, rr := range res.Renditions {
		want := sp.res.Renditions[i]
		if rr.Playlist != want.Name+"/"+finishAttempt+"/index.m3u8" {
			t.Errorf("rendition %s playlist %s", rr.Name, rr.Playlist)
		}
		if rr.Name != want.Name || rr.Segments != want.Segments || math.Abs(rr.Duration-want.Duration) > 1e-9 ||
			rr.Bandwidth != want.Bandwidth || rr.AverageBandwidth != want.AverageBandwidth || slices.Compare(rr.Codecs, want.Codecs) != 0 ||
			rr.Width != want.Width || rr.Height != want.Height || rr.FrameRate != want.FrameRate {
			t.Errorf("rendition %+v,\nsingle pass %+v", rr, want)
		}
		got := readPlaylist(t, filepath.Join(out, filepath.FromSlash(rr.Playlist)))
		ref := readPlaylist(t, filepath.Join(sp.dir, filepath.FromSlash(want.Playlist)))
		if len(got.Segments) != len(ref.Segments) || got.TargetDuration != ref.TargetDuration || got.Version != ref.Version {
			t.Fatalf("%s: %d segments, target %d, version %d; single pass %d, %d, %d", rr.Name,
				len(got.Segments), got.TargetDuration, got.Version, len(ref.Segments), ref.TargetDuration, ref.Version)
		}
		base := path.Dir(rr.Playlist)
		for j, s := range got.Segments {
			if s.Duration != ref.Segments[j].Duration || !strings.HasPrefix(s.URI, "../") {
				t.Errorf("%s segment %d: %s %v s, single pass %s %v s", rr.Name, j, s.URI, s.Duration, ref.Segments[j].URI, ref.Segments[j].Duration)
			}
			a, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(path.Join(base, s.URI))))
			b, _ := os.ReadFile(filepath.Join(sp.dir, want.Name, ref.Segments[j].URI))
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("%s segment %d: %s does not resolve to the single pass's %s: %v", rr.Name, j, s.URI, ref.Segments[j].URI, err)
			}
		}
	}
}

// checkFinishedMaster: the master is the single pass's but for the
// playlists' attempt folder, and it was written last, once.
func checkFinishedMaster(t *testing.T, sp *singlePass, out string, sink *finishSink) {
	t.Helper()
	if n := len(sink.created); n == 0 || sink.created[n-1] != pipeline.MasterName || slices.Index(sink.created, pipeline.MasterName) != n-1 {
		t.Errorf("creates %v: want master.m3u8 once, last", sink.created)
	}
	got, want := readMaster(t, out), readMaster(t, sp.dir)
	if got.Version != want.Version || len(got.Variants) != len(want.Variants) || len(got.Media) != len(want.Media) {
		t.Fatalf("master %+v,\nsingle pass %+v", got, want)
	}
	for i, v := range got.Variants {
		w := want.Variants[i]
		if v.URI != path.Join(path.Dir(w.URI), finishAttempt, path.Base(w.URI)) {
			t.Errorf("variant %d URI %s, single pass %s", i, v.URI, w.URI)
		}
		v.URI = w.URI
		if fmt.Sprint(v) != fmt.Sprint(w) {
			t.Errorf("variant %d %+v,\nsingle pass %+v", i, v, w)
		}
	}
}

// checkFinishedExtras: poster, storyboard, MP4 and quality as the single
// pass's.
func checkFinishedExtras(t *testing.T, sp *singlePass, out string, res *pipeline.Result) {
	t.Helper()
	if res.Poster != chunkAttempts[0]+"/"+pipeline.PosterName || res.Duration != sp.res.Duration || res.Input != sp.res.Input {
		t.Errorf("poster %q duration %v input %p; want the chunk's poster, %v, chunk 0's input", res.Poster, res.Duration, res.Input, sp.res.Duration)
	}
	if qualityText(res.Quality) != qualityText(sp.res.Quality) {
		t.Errorf("quality %s,\nsingle pass %s", qualityText(res.Quality), qualityText(sp.res.Quality))
	}
	sb, want := res.Storyboard, sp.res.Storyboard
	if sb == nil || sb.VTT != finishAttempt+"/"+pipeline.StoryboardName || len(sb.Sprites) != len(want.Sprites) || sb.Thumbnails != want.Thumbnails {
		t.Fatalf("storyboard %+v, single pass %+v", sb, want)
	}
	cues, wantCues := parseStoryboardVTT(t, filepath.Join(out, sb.VTT)), parseStoryboardVTT(t, filepath.Join(sp.dir, want.VTT))
	if fmt.Sprint(cues) != fmt.Sprint(wantCues) {
		t.Errorf("storyboard cues %v,\nsingle pass %v", cues, wantCues)
	}
	for i, n := range sb.Sprites {
		a, b := readJPEG(t, filepath.Join(out, n)), readJPEG(t, filepath.Join(sp.dir, want.Sprites[i]))
		if a.Rect != b.Rect {
			t.Errorf("sprite %s is %v, single pass's %v", n, a.Rect, b.Rect)
		} else if d := meanDiff(a, b); d > 2 {
			t.Errorf("sprite %s differs from the single pass's by %.2f per sample", n, d)
		}
	}
	if res.MP4 == nil || res.MP4.Name != finishAttempt+"/240p.mp4" || res.MP4.Rendition != "240p" {
		t.Fatalf("mp4 %+v", res.MP4)
	}
	mp4, wantMP4 := filepath.Join(out, res.MP4.Name), filepath.Join(sp.dir, sp.res.MP4.Name)
	if !moovFirst(t, mp4) {
		t.Error("the MP4 is not faststart")
	}
	for _, st := range []string{"v:0", "a:0"} {
		a, b := mp4Packets(t, mp4, st), mp4Packets(t, wantMP4, st)
		if a != b || a == "" {
			t.Errorf("MP4 %s: %s packets, single pass %s", st, a, b)
		}
	}
	if a, b := videoPTS(t, mp4), videoPTS(t, wantMP4); !slices.Equal(a, b) {
		t.Errorf("MP4 video timestamps %v,\nsingle pass %v", a, b)
	}
	if a, b := mp4Duration(t, mp4), mp4Duration(t, wantMP4); math.Abs(a-b) > 0.001 {
		t.Errorf("MP4 lasts %v s, single pass %v s", a, b)
	} else {
		t.Logf("MP4: %s video, %s audio packets, %v s", mp4Packets(t, mp4, "v:0"), mp4Packets(t, mp4, "a:0"), a)
	}
}

// qualityText prints figures with the SSIM gains they point to.
func qualityText(qs []pipeline.Quality) string {
	var b strings.Builder
	for _, q := range qs {
		gain := "-"
		if q.SSIMGain != nil {
			gain = fmt.Sprint(*q.SSIMGain)
		}
		fmt.Fprintf(&b, "%s %dx%d ssim %v psnr %v frames %d gain %s dropped %v; ", q.Rendition, q.Width, q.Height, q.SSIM, q.PSNR, q.Frames, gain, q.Dropped)
	}
	return b.String()
}

func readJPEG(t *testing.T, file string) *image.YCbCr {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	y, ok := img.(*image.YCbCr)
	if !ok {
		t.Fatalf("%s: a %T, want YCbCr", file, img)
	}
	return y
}

// meanDiff is the mean absolute difference of two pictures' samples.
func meanDiff(a, b *image.YCbCr) float64 {
	var sum, n float64
	for _, p := range [][2][]byte{{a.Y, b.Y}, {a.Cb, b.Cb}, {a.Cr, b.Cr}} {
		for i := range min(len(p[0]), len(p[1])) {
			sum += math.Abs(float64(p[0][i]) - float64(p[1][i]))
			n++
		}
	}
	return sum / n
}

func videoPTS(t *testing.T, file string) []float64 {
	t.Helper()
	pts, err := testmedia.VideoPTS(file)
	if err != nil {
		t.Fatal(err)
	}
	return pts
}

func mp4Packets(t *testing.T, file, stream string) string {
	n := ffprobeCSV(t, "-select_streams", stream, "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", file)
	if len(n) == 0 {
		return ""
	}
	return strings.TrimSuffix(n[0], ",")
}

func mp4Duration(t *testing.T, file string) float64 {
	t.Helper()
	info, err := testmedia.Probe(file)
	if err != nil {
		t.Fatal(err)
	}
	return info.Format.Seconds()
}

// TestFinishChunksTS: chunks cut from a single pass (MPEG-TS) finish into
// the single pass's presentation: the same segments in the playlists at
// relative URIs, the same master but for the attempt folder (written last),
// poster, storyboard cues, quality, and an MP4 with the same packets.
func TestFinishChunksTS(t *testing.T) {
	requireTools(t)
	sp := runSinglePass(t, pipeline.SegmentTS)
	out, sink, res := finishFrom(t, sp, finishOptions(t, pipeline.SegmentTS), nil)
	checkFinishedPlaylists(t, sp, out, res)
	checkFinishedMaster(t, sp, out, sink)
	checkFinishedExtras(t, sp, out, res)
	if _, err := hlscheck.Check(out, hlscheck.Options{SourceWidth: 640, SourceHeight: 360, SourceDuration: 14,
		ExpectAudio: true, ExpectVideo: true}); err != nil {
		t.Errorf("hlscheck:\n%v", err)
	}

	// With a gate no rung passes but the lowest, 360p is left out of the
	// master and its chunks' segments are deleted after it.
	opt := finishOptions(t, pipeline.SegmentTS)
	opt.Quality.MinSSIMGain = 1
	opt.MP4, opt.Storyboard.Disabled = "", true
	out, sink, res = finishFrom(t, sp, opt, nil)
	if m := readMaster(t, out); len(m.Variants) != 1 || !strings.HasPrefix(m.Variants[0].URI, "240p/") {
		t.Errorf("gated master %+v: want 240p alone", m.Variants)
	}
	if len(res.Quality) != 2 || !res.Quality[0].Dropped || res.Quality[1].Dropped || len(res.Renditions) != 1 {
		t.Errorf("gated quality %+v, %d renditions", res.Quality, len(res.Renditions))
	}
	if m := slices.Index(sink.ops, pipeline.MasterName); len(sink.removed) != sp.res.Renditions[0].Segments ||
		m != len(sink.created)-1 || !slices.Equal(sink.ops[m+1:], sink.ops[len(sink.created):]) {
		t.Errorf("operations %v: want the master created last, then 360p's %d segments removed", sink.ops, sp.res.Renditions[0].Segments)
	}
	for _, n := range sink.removed {
		if !strings.HasPrefix(n, "360p/") {
			t.Errorf("removed %s", n)
		}
	}
}

// TestFinishChunksFMP4: the same with fMP4 segments, the last chunk's
// init.mp4 differing in its bytes (its creation time): its segments get an
// EXT-X-MAP of their own and the MP4 is remuxed across both.
func TestFinishChunksFMP4(t *testing.T) {
	requireTools(t)
	sp := runSinglePass(t, pipeline.SegmentFMP4)
	patch := func(i int, b []byte) {
		if k := bytes.Index(b, []byte("mvhd")); i == 2 && k >= 0 {
			copy(b[k+8:k+12], []byte{0x7f, 0, 0, 1}) // creation_time of a version 0 mvhd
		}
	}
	out, sink, res := finishFrom(t, sp, finishOptions(t, pipeline.SegmentFMP4), patch)
	checkFinishedPlaylists(t, sp, out, res)
	checkFinishedMaster(t, sp, out, sink)
	checkFinishedExtras(t, sp, out, res)
	for i, rr := range res.Renditions {
		pl := readPlaylist(t, filepath.Join(out, filepath.FromSlash(rr.Playlist)))
		var maps []string
		for _, s := range pl.Segments {
			if s.MapURI != "" {
				maps = append(maps, s.MapURI+" before "+s.URI)
			}
		}
		want := []string{"../" + chunkAttempts[2] + "/init.mp4 before ../" + chunkAttempts[2] + "/seg_00004.m4s"}
		if pl.MapURI != "../"+chunkAttempts[0]+"/init.mp4" || !slices.Equal(maps, want) {
			t.Errorf("%s: map %s, then %v; want chunk 0's, then %v", rr.Name, pl.MapURI, maps, want)
		}
		initSize := fileSize(t, filepath.Join(out, rr.Name, chunkAttempts[2], "init.mp4"))
		if rr.Bytes != sp.res.Renditions[i].Bytes+initSize {
			t.Errorf("%s: %d bytes, want the single pass's %d and a second init section", rr.Name, rr.Bytes, sp.res.Renditions[i].Bytes)
		}
	}
	if _, err := hlscheck.Check(out, hlscheck.Options{SourceWidth: 640, SourceHeight: 360, SourceDuration: 14,
		ExpectAudio: true, ExpectVideo: true}); err != nil {
		t.Errorf("hlscheck:\n%v", err)
	}
}

func fileSize(t *testing.T, file string) int64 {
	t.Helper()
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
