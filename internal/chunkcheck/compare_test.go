package chunkcheck

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/pipeline/hls"
)

// The test outputs: a 10 s 640x360 source with the chunking sources' tone
// and counter, transcoded once per test binary by `hlsfleet transcode`
// with 2 s segments (5 per rendition, 2 renditions: 360p and 240p).
const (
	srcSeconds = 10
	segSeconds = 2
)

var (
	binOnce sync.Once
	binPath string
	binDir  string
	binErr  error

	outMu   sync.Mutex
	outDirs = map[string]string{} // segment type -> transcoded output
)

// hlsfleet returns the hlsfleet binary: $HLSFLEET_BIN, else one built once
// per test binary.
func hlsfleet(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("chunkcheck: %s not installed", tool)
		}
	}
	binOnce.Do(func() {
		if binPath = os.Getenv("HLSFLEET_BIN"); binPath != "" {
			return
		}
		if binDir, binErr = os.MkdirTemp("", "chunkcheck-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "hlsfleet")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/hlsfleet")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/hlsfleet: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	for _, d := range outDirs {
		os.RemoveAll(filepath.Dir(d))
	}
	os.Exit(code)
}

// singlePass returns the single-pass output of the test source with
// segments of segType ("ts" or "fmp4"), made once per test binary. Tests
// must not modify it: copy it first.
func singlePass(t *testing.T, segType string) string {
	t.Helper()
	bin := hlsfleet(t)
	outMu.Lock()
	defer outMu.Unlock()
	if d, ok := outDirs[segType]; ok {
		return d
	}
	src := testmedia.Cached(t, testmedia.Spec{Width: 640, Height: 360, Duration: srcSeconds, Noise: true,
		Counter: true, ToneDBFS: testmedia.ChunkToneDBFS, Name: "chunkcheck-source"})
	base, err := os.MkdirTemp("", "chunkcheck-out-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(base, segType)
	cmd := exec.Command(bin, "transcode", "--no-storyboard", "--no-quality", "--segment-type", segType,
		"--segment-seconds", fmt.Sprint(segSeconds), src, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hlsfleet transcode: %v\n%s", err, b)
	}
	outDirs[segType] = out
	return out
}

// copyDir copies the tree src into a new temporary folder.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		return copyFile(p, filepath.Join(dst, rel))
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// editPlaylist rewrites a media playlist through the hls package.
func editPlaylist(t *testing.T, file string, edit func(*hls.MediaPlaylist)) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := hls.ParseMedia(data)
	if err != nil {
		t.Fatal(err)
	}
	edit(pl)
	if err := os.WriteFile(file, pl.Encode(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// mustCompare runs Compare and logs the report.
func mustCompare(t *testing.T, single, chunked string, joins ...float64) Report {
	t.Helper()
	rep, err := Compare(single, chunked, joins...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", rep)
	return rep
}

// wantProblems fails t unless every substring appears in some problem.
func wantProblems(t *testing.T, rep Report, substrings ...string) {
	t.Helper()
	all := strings.Join(rep.Problems, "\n")
	for _, s := range substrings {
		if !strings.Contains(all, s) {
			t.Errorf("no problem mentions %q; problems:\n%s", s, all)
		}
	}
}

func TestCompareSelf(t *testing.T) {
	for _, segType := range []string{"ts", "fmp4"} {
		t.Run(segType, func(t *testing.T) {
			out := singlePass(t, segType)
			rep := mustCompare(t, out, filepath.Join(out, "master.m3u8"), 4, 6)
			if len(rep.Problems) != 0 {
				t.Fatalf("problems comparing an output with itself:\n%s", strings.Join(rep.Problems, "\n"))
			}
			if len(rep.Renditions) != 2 {
				t.Fatalf("%d renditions, want 2", len(rep.Renditions))
			}
			for _, r := range rep.Renditions {
				if !r.Video || r.SingleSegments != srcSeconds/segSeconds || r.ChunkedFrames != srcSeconds*30 ||
					r.PTSMismatches != 0 || len(r.ChunkedKeyframeMisses) != 0 || r.ChunkedSamples < srcSeconds*48000-1024 {
					t.Errorf("%+v", r)
				}
				if (r.ChunkedContinuityErrors == 0) != (segType == "ts") {
					t.Errorf("%s: continuity errors %d", r.Name, r.ChunkedContinuityErrors)
				}
				if len(r.Joins) != 2 || r.Joins[0].MaxDiff != 0 || r.Elsewhere != 0 {
					t.Errorf("%s: joins %+v, elsewhere %v", r.Name, r.Joins, r.Elsewhere)
				}
				tone := 2 * 0.2512 * 0.0288 // 2·A·sin(π·440/48000)
				if r.ToneStep < 0.8*tone || r.ToneStep > 1.5*tone || r.Joins[0].MaxStep > 2*r.ToneStep {
					t.Errorf("%s: tone step %v (about %v), join step %v", r.Name, r.ToneStep, tone, r.Joins[0].MaxStep)
				}
			}
		})
	}
}

// attemptLayout rewrites a copy of the output in the shape of a chunked
// fleet output: each rendition's segments 0-1 in <rung>/chunk0/, 2-4 in
// <rung>/chunk1/, its playlist (and init.mp4) in <rung>/final/ naming
// them ../chunk0/seg_00000.ts and so on.
func attemptLayout(t *testing.T, out string) string {
	t.Helper()
	dir := copyDir(t, out)
	master, err := os.ReadFile(filepath.Join(dir, "master.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := hls.ParseMaster(master)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range m.Variants {
		rung := filepath.Dir(v.URI)
		for _, sub := range []string{"chunk0", "chunk1", "final"} {
			if err := os.MkdirAll(filepath.Join(dir, rung, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		pl := filepath.Join(dir, rung, "final", "index.m3u8")
		if err := os.Rename(filepath.Join(dir, v.URI), pl); err != nil {
			t.Fatal(err)
		}
		editPlaylist(t, pl, func(p *hls.MediaPlaylist) {
			if p.MapURI != "" {
				if err := os.Rename(filepath.Join(dir, rung, p.MapURI), filepath.Join(dir, rung, "final", p.MapURI)); err != nil {
					t.Fatal(err)
				}
			}
			for j := range p.Segments {
				sub := "chunk0"
				if j >= 2 {
					sub = "chunk1"
				}
				if err := os.Rename(filepath.Join(dir, rung, p.Segments[j].URI), filepath.Join(dir, rung, sub, p.Segments[j].URI)); err != nil {
					t.Fatal(err)
				}
				p.Segments[j].URI = "../" + sub + "/" + p.Segments[j].URI
			}
		})
		m.Variants[i].URI = rung + "/final/index.m3u8"
	}
	if err := os.WriteFile(filepath.Join(dir, "master.m3u8"), m.Encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCompareAttemptLayout(t *testing.T) {
	for _, segType := range []string{"ts", "fmp4"} {
		t.Run(segType, func(t *testing.T) {
			single := singlePass(t, segType)
			chunked := attemptLayout(t, single)
			rep := mustCompare(t, single, chunked)
			if len(rep.Problems) != 0 {
				t.Fatalf("problems:\n%s", strings.Join(rep.Problems, "\n"))
			}
			if rep.JoinsFrom != "attempt folders" || len(rep.Joins) != 1 || rep.Joins[0] != 2*segSeconds {
				t.Errorf("joins %v from %s, want [4] from attempt folders", rep.Joins, rep.JoinsFrom)
			}
			if rep.Renditions[0].ChunkedFrames != srcSeconds*30 {
				t.Errorf("%d frames", rep.Renditions[0].ChunkedFrames)
			}
		})
	}
}

func TestCompareRemovedSegment(t *testing.T) {
	single := singlePass(t, "ts")
	chunked := copyDir(t, single)
	pl := filepath.Join(chunked, "360p", "index.m3u8")
	editPlaylist(t, pl, func(p *hls.MediaPlaylist) {
		os.Remove(filepath.Join(chunked, "360p", p.Segments[3].URI))
		p.Segments = append(p.Segments[:3], p.Segments[4:]...)
	})
	rep := mustCompare(t, single, chunked, 4)
	wantProblems(t, rep, "360p: 4 segments, single pass 5", "360p: 240 video frames decoded, single pass 300",
		"360p: 60 frames' pts differ from the single pass's, the first frame 180", "MPEG-TS continuity errors",
		"audio samples decoded per channel")
	for _, p := range rep.Problems {
		if strings.HasPrefix(p, "240p") {
			t.Errorf("a problem with the untouched rendition: %s", p)
		}
	}
}

func TestCompareShiftedSegment(t *testing.T) {
	single := singlePass(t, "ts")
	chunked := copyDir(t, single)
	// Segment 2 of 360p remuxed with its timestamps 100 ms later.
	seg := filepath.Join(chunked, "360p", "seg_00002.ts")
	shifted := seg + ".shifted.ts"
	cmd := exec.Command("ffmpeg", "-v", "error", "-copyts", "-i", seg, "-map", "0", "-c", "copy",
		"-output_ts_offset", "0.1", "-muxdelay", "0", "-muxpreload", "0", "-f", "mpegts", shifted)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	if err := os.Rename(shifted, seg); err != nil {
		t.Fatal(err)
	}
	rep := mustCompare(t, single, chunked, 4)
	wantProblems(t, rep, "360p: 60 frames' pts differ from the single pass's, the first frame 120", "by up to 0.100000 s")
	r := rep.Renditions[0]
	if r.PTSMismatches != 60 || r.MaxPTSDiff < 0.0999 || r.MaxPTSDiff > 0.1001 {
		t.Errorf("%d pts mismatches, max %.6f s", r.PTSMismatches, r.MaxPTSDiff)
	}
}

func TestCompareMissingChunked(t *testing.T) {
	single := singlePass(t, "ts")
	rep, err := Compare(single, filepath.Join(t.TempDir(), "nothing"))
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, rep, "chunked output:")
	if _, err := Compare(filepath.Join(t.TempDir(), "nothing"), single); err == nil {
		t.Error("no error for a missing single pass")
	}
}

// dropFirstPicture removes from an MPEG-TS segment the transport packets
// of its first video PES packet (the IDR access unit with its SPS and
// PPS), so that it starts with a P picture.
func dropFirstPicture(t *testing.T, data []byte) []byte {
	t.Helper()
	const size = 188
	videoPID, dropping, done := -1, false, false
	var out []byte
	for off := 0; off+size <= len(data); off += size {
		p := data[off : off+size]
		pid := int(p[1]&0x1f)<<8 | int(p[2])
		pusi := p[1]&0x40 != 0
		payload := p[4:]
		if p[3]&0x20 != 0 { // adaptation field
			payload = p[5+int(p[4]):]
		}
		if pusi && videoPID < 0 && len(payload) > 3 && payload[0] == 0 && payload[1] == 0 && payload[2] == 1 && payload[3]&0xf0 == 0xe0 {
			videoPID = pid
		}
		if pid == videoPID && !done {
			if pusi {
				if dropping {
					done = true // the second PES packet: keep from here
				} else {
					dropping = true
				}
			}
			if dropping && !done {
				continue
			}
		}
		out = append(out, p...)
	}
	if !done {
		t.Fatal("no second video PES packet in the segment")
	}
	return out
}

func TestCompareSegmentWithoutIDR(t *testing.T) {
	single := singlePass(t, "ts")
	chunked := copyDir(t, single)
	seg := filepath.Join(chunked, "240p", "seg_00003.ts")
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seg, dropFirstPicture(t, data), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := mustCompare(t, single, chunked, 6)
	wantProblems(t, rep, "240p: 1 segments do not start with an IDR picture, the first segment 3 (seg_00003.ts)",
		"240p: 299 video frames decoded, single pass 300")
	if r := rep.Renditions[1]; len(r.ChunkedKeyframeMisses) != 1 || r.ChunkedKeyframeMisses[0] != 3 || len(r.SingleKeyframeMisses) != 0 {
		t.Errorf("keyframe misses %v (single pass %v)", r.ChunkedKeyframeMisses, r.SingleKeyframeMisses)
	}
}
