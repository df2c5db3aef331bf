package testmedia

// Sources for chunked (segmented parallel) VOD encoding, issue H: three
// minutes of noisy picture (expensive to encode, like real video) with a
// burned-in frame counter and an exact sine tone, in a constant 30 fps,
// an NTSC 29.97 fps and a variable-rate flavour, and a copy of the first
// with a corrupt region that fails the chunk covering it.

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// ChunkVariant names a flavour of the chunking source.
type ChunkVariant string

// The chunking sources.
const (
	// ChunkCFR is 30 fps in MP4.
	ChunkCFR ChunkVariant = "cfr"
	// ChunkNTSC is 30000/1001 fps in MP4: no frame falls on a whole second
	// after the first, so chunk and segment boundaries fall between frames.
	ChunkNTSC ChunkVariant = "ntsc"
	// ChunkVFR is variable-frame-rate Matroska (Spec.RateSteps): 25 fps
	// to 50.4 s, 30 fps to 109.8 s, 25 fps to the end, stored with
	// Matroska's millisecond timestamps, so the 30 fps part's intervals
	// jitter between 33 and 34 ms as in a real VFR recording.
	ChunkVFR ChunkVariant = "vfr"
)

// ChunkVariants lists every variant.
var ChunkVariants = []ChunkVariant{ChunkCFR, ChunkNTSC, ChunkVFR}

// Figures of the chunking sources.
const (
	ChunkSourceSeconds = 180.0 // duration
	ChunkSourceWidth   = 1280  // ChunkSource's size (the benchmark makes 1920x1080)
	ChunkSourceHeight  = 720
	ChunkToneHz        = 440   // the audio: a sine of this frequency,
	ChunkToneDBFS      = -12.0 // at this peak level, 48 kHz stereo AAC
	// ChunkCorruptFrom and ChunkCorruptTo bound the corrupt region of
	// ChunkCorruptSource, in seconds: 56 of the 60 s of the chunk
	// [60 s, 120 s) of the default 60-second plan.
	ChunkCorruptFrom = 62.0
	ChunkCorruptTo   = 118.0
)

// ChunkSpec is the spec of a chunking source of variant v at width x
// height: ChunkSourceSeconds long, heavy noise (strength 30), the frame
// counter burned in, a ChunkToneHz sine at ChunkToneDBFS, keyframes every
// 37 frames as every generated source.
func ChunkSpec(v ChunkVariant, width, height int) Spec {
	s := Spec{Width: width, Height: height, Duration: ChunkSourceSeconds, Noise: true, NoiseStrength: 30,
		Counter: true, ToneDBFS: ChunkToneDBFS, Video: VideoH264, Audio: AudioAAC,
		Name: fmt.Sprintf("chunk-%s-%dx%d", v, width, height)}
	switch v {
	case ChunkNTSC:
		s.FPS = "30000/1001"
	case ChunkVFR:
		s.RateSteps, s.Container = true, "mkv"
	default:
		s.FPS = "30"
	}
	return s
}

// ChunkSource returns the path of the 1280x720 chunking source of variant
// v, generated once into CacheDir and shared by every test binary (about
// 30 s of two cores the first time, 150-250 MB on disk).
func ChunkSource(tb testing.TB, v ChunkVariant) string {
	tb.Helper()
	return Cached(tb, ChunkSpec(v, ChunkSourceWidth, ChunkSourceHeight))
}

// ChunkCorruptSource returns the path of ChunkSource(ChunkCFR) with the
// video of [ChunkCorruptFrom, ChunkCorruptTo) corrupt (see CorruptTo),
// cached like it.
//
// What it fails: the pipeline's decode loop ends a run with ErrCorrupt
// when more than half of the video packets it read failed to decode
// (pipeline/decode.go). The chunk [60 s, 120 s) of the default plan reads
// about 1800 video packets of which the 1680 in the region fail (93%): it
// fails with ErrCorrupt. The chunks before and after decode clean. A
// single pass over the whole input sees 1680 of 5400 fail (31%), under
// the threshold: it goes through, concealing the region.
func ChunkCorruptSource(tb testing.TB) string {
	tb.Helper()
	src := ChunkSource(tb, ChunkCFR)
	path, err := CorruptCached(src, ChunkCorruptFrom, ChunkCorruptTo)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// RateStepFrames returns, for a RateSteps clip of d seconds, how many
// frames the first (25 fps) and second (30 fps) parts hold; the third part
// (25 fps) runs to the end.
func RateStepFrames(d float64) (n25, n30 int) {
	return int(math.Round(0.28 * d * 25)), int(math.Round(0.33 * d * 30))
}

// RateStepTimes returns when a RateSteps clip of d seconds switches to 30
// fps and back to 25 fps, in seconds.
func RateStepTimes(d float64) (t30, t25 float64) {
	a, b := RateStepFrames(d)
	return float64(a) / 25, float64(a)/25 + float64(b)/30
}

// rateStepsFilters retime the 30 fps test picture: each frame's pts is the
// sum of the intervals before it (3600 ticks of 1/90000 s at 25 fps, 3000
// at 30 fps), so frames are dropped from nothing and every timestamp is
// exact.
func rateStepsFilters(d float64) []string {
	a, b := RateStepFrames(d)
	n2 := a + b
	expr := fmt.Sprintf("if(lt(N,%d),N*3600,if(lt(N,%d),%d+(N-%d)*3000,%d+(N-%d)*3600))",
		a, n2, a*3600, a, a*3600+b*3000, n2)
	return []string{"settb=1/90000", "setpts='" + expr + "'"}
}

var (
	drawtextOnce sync.Once
	drawtextOK   bool
)

// HaveDrawtext reports whether the ffmpeg CLI can burn text into a
// picture: a build with the drawtext filter and a font fontconfig finds.
// Spec.Counter falls back to a binary strip when it cannot.
func HaveDrawtext() bool {
	drawtextOnce.Do(func() {
		cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
			"-f", "lavfi", "-i", "color=size=64x64:duration=0.04", "-vf", "drawtext=text=0", "-f", "null", "-")
		drawtextOK = cmd.Run() == nil
	})
	return drawtextOK
}

// counterBits is the width of the binary frame counter.
const counterBits = 16

// counterFilters burn the frame number into a picture of height h.
func counterFilters(h int) []string {
	if HaveDrawtext() {
		size := max(12, h/12)
		// Bottom left: testsrc2 draws its own clock top left.
		return []string{fmt.Sprintf("drawtext=text='%%{frame_num}':x=%d:y=h-%d:fontsize=%d:fontcolor=white:box=1:boxcolor=black:boxborderw=%d",
			size/2, 3*size/2, size, max(2, size/8))}
	}
	sq := max(4, h/45) // 16 px at 720p
	f := []string{fmt.Sprintf("drawbox=x=0:y=ih-%d:w=%d:h=%d:color=black:t=fill", 3*sq, (2*counterBits+1)*sq, 3*sq)}
	for k := range counterBits {
		f = append(f, fmt.Sprintf("drawbox=x=%d:y=ih-%d:w=%d:h=%d:color=white:t=fill:enable='mod(floor(n/%d),2)'",
			sq+2*k*sq, 2*sq, sq, sq, 1<<k))
	}
	return f
}

// CorruptTo writes into dir a copy of the MP4 (or MOV) src whose video
// packets with a presentation time in [from, to) seconds are overwritten,
// byte for byte in place, with pseudo-random garbage (the same on every
// call), and returns its path (stem.corrupt.ext).
//
// The container stays intact: the sample tables still give every
// packet's offset and size, so a demuxer reads each packet as before, but
// the H.264 decoder rejects every one in the region (its NAL length
// prefixes are garbage: "Invalid NAL unit size", "Error splitting the
// input into NAL units"), which the pipeline counts as a decode error.
// Audio is left alone: the pipeline drops a damaged audio packet and
// fills the gap, so audio damage fails nothing. Use DecodeFailures to see
// the effect.
func CorruptTo(dir, src string, from, to float64) (string, error) {
	if !(from < to) {
		return "", fmt.Errorf("testmedia: corrupt region [%v, %v) is empty", from, to)
	}
	ext := strings.ToLower(filepath.Ext(src))
	if ext != ".mp4" && ext != ".mov" {
		return "", fmt.Errorf("testmedia: corrupt %s: only MP4 and MOV keep every packet's place when damaged", src)
	}
	pkts, err := videoPacketPlaces(src)
	if err != nil {
		return "", err
	}
	stem := strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
	out := filepath.Join(dir, stem+".corrupt"+filepath.Ext(src))
	if err := copyFile(out, src); err != nil {
		return "", err
	}
	f, err := os.OpenFile(out, os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("testmedia: corrupt: %w", err)
	}
	rng := rand.New(rand.NewPCG(0x636f7272, 0x75707421))
	n := 0
	for _, p := range pkts {
		if p.pts < from || p.pts >= to || p.pos < 0 || p.size <= 0 {
			continue
		}
		buf := make([]byte, p.size)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(buf, p.pos); err != nil {
			f.Close()
			return "", fmt.Errorf("testmedia: corrupt %s: %w", out, err)
		}
		n++
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("testmedia: corrupt: %w", err)
	}
	if n == 0 {
		return "", fmt.Errorf("testmedia: corrupt %s: no video packet in [%v, %v)", src, from, to)
	}
	return out, nil
}

// CorruptCached is CorruptTo into CacheDir, made once like GenerateCached.
func CorruptCached(src string, from, to float64) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("testmedia: corrupt: %w", err)
	}
	stem := strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
	name := stem + ".corrupt" + filepath.Ext(src)
	key := cacheKey("corrupt", src, strconv.FormatInt(fi.Size(), 10), fi.ModTime().String(),
		strconv.FormatFloat(from, 'g', -1, 64), strconv.FormatFloat(to, 'g', -1, 64))
	return cached(key, name, func(dir string) (string, error) { return CorruptTo(dir, src, from, to) })
}

// packetPlace is where a video packet sits in its file.
type packetPlace struct {
	pts       float64
	pos, size int64
}

// videoPacketPlaces lists the first video stream's packets: pts, byte
// offset and size.
func videoPacketPlaces(path string) ([]packetPlace, error) {
	out, err := ffprobe("-select_streams", "v:0", "-show_entries", "packet=pts_time,pos,size", "-of", "csv=p=0", path)
	if err != nil {
		return nil, err
	}
	var pkts []packetPlace
	for _, line := range strings.Fields(string(out)) {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		pts, err1 := strconv.ParseFloat(f[0], 64)
		size, err2 := strconv.ParseInt(f[1], 10, 64)
		pos, err3 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue // N/A fields
		}
		pkts = append(pkts, packetPlace{pts: pts, pos: pos, size: size})
	}
	if len(pkts) == 0 {
		return nil, fmt.Errorf("testmedia: %s: no video packets with a place", path)
	}
	return pkts, nil
}

// DecodeCount is what DecodeFailures counted in one window.
type DecodeCount struct {
	From, To float64 // seconds of presentation time, [From, To)
	Packets  int     // video packets in the window
	Failed   int     // of them, those no decoded frame came from
}

// DecodeFailures decodes the first video stream of path once with ffprobe
// and counts, for each window [from, to) in seconds, the video packets
// with a presentation time in it and those of them no decoded frame came
// from (matched by byte position).
func DecodeFailures(path string, windows ...[2]float64) ([]DecodeCount, error) {
	out, err := ffprobe("-select_streams", "v:0", "-show_entries", "packet=pts_time,pos:frame=pkt_pos", "-of", "csv=p=1", path)
	if err != nil {
		return nil, err
	}
	decoded := map[string]bool{}
	type pkt struct {
		pts float64
		pos string
	}
	var pkts []pkt
	for _, line := range strings.Fields(string(out)) {
		f := strings.Split(line, ",")
		switch {
		case f[0] == "frame" && len(f) >= 2:
			decoded[f[1]] = true
		case f[0] == "packet" && len(f) >= 3:
			if pts, err := strconv.ParseFloat(f[1], 64); err == nil {
				pkts = append(pkts, pkt{pts, f[2]})
			}
		}
	}
	counts := make([]DecodeCount, len(windows))
	for i, w := range windows {
		counts[i] = DecodeCount{From: w[0], To: w[1]}
		for _, p := range pkts {
			if p.pts >= w[0] && p.pts < w[1] {
				counts[i].Packets++
				if !decoded[p.pos] {
					counts[i].Failed++
				}
			}
		}
	}
	return counts, nil
}

// copyFile copies src to dst.
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("testmedia: copy: %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("testmedia: copy: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("testmedia: copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("testmedia: copy: %w", err)
	}
	return nil
}
