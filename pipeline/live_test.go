package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline"
)

// tsPacket is one packet as ffprobe lists it, times in 90 kHz ticks.
type tsPacket struct {
	video    bool
	pts, dur int64
	key      bool
}

func tsPackets(t *testing.T, path string) []tsPacket {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=codec_type,pts,duration,flags",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var pk []tsPacket
	for _, line := range strings.Fields(string(out)) {
		f := strings.Split(line, ",")
		if len(f) < 4 {
			continue
		}
		pts, err1 := strconv.ParseInt(f[1], 10, 64)
		dur, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: packet line %q", path, line)
		}
		pk = append(pk, tsPacket{video: f[0] == "video", pts: pts, dur: dur, key: strings.Contains(f[3], "K")})
	}
	return pk
}

// span returns the first pts, the end (last pts + duration) and the count
// of the video or audio packets.
func span(pk []tsPacket, video bool) (first, end int64, n int) {
	first = -1
	for _, p := range pk {
		if p.video != video {
			continue
		}
		if first < 0 || p.pts < first {
			first = p.pts
		}
		end = max(end, p.pts+p.dur)
		n++
	}
	return first, end, n
}

// dirSink writes files straight into a directory.
type dirSink string

func (d dirSink) Create(name string) (io.WriteCloser, error) {
	p := filepath.Join(string(d), filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	return os.Create(p)
}

// cutSource cuts src into 2 s source segments with CutLive (unpaced).
func cutSource(t *testing.T, src string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	err := pipeline.CutLive(context.Background(), pipeline.CutOptions{Input: src, SegmentSeconds: 2}, func(s pipeline.CutSegment) error {
		if s.Index != len(paths) {
			return fmt.Errorf("segment %d arrived as number %d", s.Index, len(paths))
		}
		p := filepath.Join(dir, fmt.Sprintf("%d.ts", s.Index))
		paths = append(paths, p)
		return os.WriteFile(p, s.Data, 0o644)
	})
	if err != nil {
		t.Fatalf("CutLive: %v", err)
	}
	return paths
}

// Consecutive live segments transcoded by independent runs splice: every
// rendition's segment starts with a keyframe at its source segment's first
// timestamp, video frames and AAC frames (copied) follow on without a gap or
// an overlap across boundaries, and the concatenation decodes cleanly with
// the source's duration.
func TestLiveSegmentsSplice(t *testing.T) {
	requireTools(t)
	src := testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 6, FPS: "30"})
	segs := cutSource(t, src)
	if len(segs) != 3 {
		t.Fatalf("cut %d source segments from 6 s, want 3", len(segs))
	}
	out := t.TempDir()
	l := loadSmallLadder(t)
	var cont map[string]map[uint16]uint8 // what the previous segment ended with
	for i, s := range segs {
		res, err := pipeline.TranscodeLiveSegment(context.Background(), pipeline.LiveOptions{
			Input: s, Ladder: l, SegmentName: fmt.Sprintf("%d.ts", i), Continuity: cont,
		}, dirSink(out))
		if err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
		cont = map[string]map[uint16]uint8{}
		for _, r := range res.Renditions {
			if len(r.Continuity) < 3 { // PAT, PMT, video, audio (and SDT)
				t.Errorf("segment %d %s: continuity counters %v", i, r.Name, r.Continuity)
			}
			cont[r.Name] = r.Continuity
		}
		if !res.AudioCopied {
			t.Errorf("segment %d: AAC audio was re-encoded, want copied", i)
		}
		if len(res.Renditions) != 2 || res.Renditions[0].Name != "360p" {
			t.Fatalf("segment %d renditions %+v", i, res.Renditions)
		}
		if d := res.Duration; d < 2-0.001 || d > 2+0.001 {
			t.Errorf("segment %d: duration %.4f, want 2", i, d)
		}
		if want := 10 + 2*float64(i); res.Start < want-0.001 || res.Start > want+0.001 {
			t.Errorf("segment %d starts at %.4f, want %.4f (the source timeline)", i, res.Start, want)
		}
		if res.RealtimeFactor <= 0 {
			t.Errorf("segment %d: realtime factor %v", i, res.RealtimeFactor)
		}
	}
	for _, r := range []string{"360p", "240p"} {
		var prevV, prevA, firstV int64 = -1, -1, -1
		var frames, samples int
		var parts []string
		for i, s := range segs {
			srcPk := tsPackets(t, s)
			sv, sve, svn := span(srcPk, true)
			sa, _, san := span(srcPk, false)
			p := filepath.Join(out, r, fmt.Sprintf("%d.ts", i))
			parts = append(parts, p)
			pk := tsPackets(t, p)
			v, ve, vn := span(pk, true)
			a, ae, an := span(pk, false)
			if v != sv || ve != sve || vn != svn {
				t.Errorf("%s segment %d: video [%d,%d) %d frames, source [%d,%d) %d frames", r, i, v, ve, vn, sv, sve, svn)
			}
			if a != sa || an != san {
				t.Errorf("%s segment %d: audio starts %d with %d frames, source %d with %d", r, i, a, an, sa, san)
			}
			first := pk[0]
			for _, q := range pk {
				if q.video {
					first = q
					break
				}
			}
			if !first.key || first.pts != v {
				t.Errorf("%s segment %d: first video packet pts %d key %v, want a keyframe at %d", r, i, first.pts, first.key, v)
			}
			if prevV >= 0 && v != prevV {
				t.Errorf("%s segment %d: video starts at %d, the previous ended at %d", r, i, v, prevV)
			}
			if prevA >= 0 && a != prevA {
				t.Errorf("%s segment %d: audio starts at %d, the previous ended at %d", r, i, a, prevA)
			}
			prevV, prevA = ve, ae
			if firstV < 0 {
				firstV = v
			}
			frames += vn
			samples += an * 1024
		}
		if frames != 180 {
			t.Errorf("%s: %d video frames in 6 s at 30 fps, want 180", r, frames)
		}
		if samples < 6*48000 || samples > 6*48000+2048 {
			t.Errorf("%s: %d audio samples, want 6 s at 48 kHz (+ at most the priming)", r, samples)
		}
		checkDecodes(t, r, parts)
		if d := prevV - firstV; d < 6*90000-3000 || d > 6*90000+3000 {
			t.Errorf("%s: the segments span %d ticks, want 6 s (540000) within one frame", r, d)
		}
	}
}

// checkDecodes decodes every segment on its own with -xerror, then the
// byte concatenation, as an HLS client's demuxer reads it: that must decode
// cleanly too, with continuity counters running on across the joins.
func checkDecodes(t *testing.T, r string, parts []string) {
	t.Helper()
	var files [][]byte
	for _, p := range parts {
		if b, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", p, "-f", "null", "-").CombinedOutput(); err != nil || len(strings.TrimSpace(string(b))) > 0 {
			t.Errorf("%s: %s does not decode cleanly: %v\n%s", r, p, err, b)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, data)
	}
	b, err := exec.Command("ffmpeg", "-v", "error", "-i", "concat:"+strings.Join(parts, "|"), "-f", "null", "-").CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(b))) > 0 {
		t.Errorf("%s: the concatenated segments do not decode cleanly: %v\n%s", r, err, b)
	}
	bad, err := testmedia.TSContinuityErrors(files...)
	if err != nil {
		t.Fatalf("%s: %v", r, err)
	}
	for _, line := range bad {
		t.Errorf("%s: joined segments: %s", r, line)
	}
}

// A segment whose audio is not AAC is re-encoded without the encoder's
// priming frame: its audio starts at the segment's video start, never
// before it.
func TestLiveSegmentReencodesOtherAudio(t *testing.T) {
	requireTools(t)
	src := testmedia.Generate(t, testmedia.Spec{Width: 320, Height: 240, Duration: 2, Container: "ts", Audio: testmedia.AudioMP3})
	out := t.TempDir()
	res, err := pipeline.TranscodeLiveSegment(context.Background(), pipeline.LiveOptions{
		Input: src, Ladder: loadSmallLadder(t), SegmentName: "7.ts",
	}, dirSink(out))
	if err != nil {
		t.Fatal(err)
	}
	if res.AudioCopied {
		t.Fatal("MP3 audio was copied, want AAC")
	}
	pk := tsPackets(t, filepath.Join(out, "240p", "7.ts"))
	v, _, _ := span(pk, true)
	a, ae, an := span(pk, false)
	if an == 0 || a < v || a > v+90000*1024/48000 {
		t.Fatalf("audio starts at %d (%d frames), video at %d: want audio from the video start, no priming before it", a, an, v)
	}
	if ae < v+2*90000-90000*1024/48000 {
		t.Fatalf("audio ends at %d, before the segment's end %d", ae, v+2*90000)
	}
}

func TestLiveSegmentBadInput(t *testing.T) {
	requireTools(t)
	_, err := pipeline.TranscodeLiveSegment(context.Background(), pipeline.LiveOptions{
		Input: testmedia.Garbage(t, 4096), Ladder: loadSmallLadder(t), SegmentName: "3.ts",
	}, dirSink(t.TempDir()))
	if !errors.Is(err, pipeline.ErrInput) {
		t.Fatalf("garbage segment: %v, want ErrInput", err)
	}
	_, err = pipeline.TranscodeLiveSegment(context.Background(), pipeline.LiveOptions{
		Input: testmedia.Generate(t, testmedia.Spec{Video: testmedia.VideoNone}), Ladder: loadSmallLadder(t), SegmentName: "3.ts",
	}, dirSink(t.TempDir()))
	if !errors.Is(err, pipeline.ErrNoStream) {
		t.Fatalf("audio-only segment: %v, want ErrNoStream", err)
	}
}

// Frame-rate conversion at segment boundaries neither drops nor repeats a
// frame: 60 fps source segments become 30 fps segments of exactly half the
// frames each, on one continuous timeline.
func TestLiveSegmentsFrameRateConversion(t *testing.T) {
	requireTools(t)
	src := testmedia.Generate(t, testmedia.Spec{Width: 320, Height: 240, Duration: 4, FPS: "60"})
	segs := cutSource(t, src)
	if len(segs) != 2 {
		t.Fatalf("cut %d segments, want 2", len(segs))
	}
	l, err := ladders.Parse([]byte(`{"name":"fps","segment_seconds":2,"gop_seconds":2,
		"video":{"codec":"h264","preset":"veryfast","profile":"high"},
		"audio":{"codec":"aac","bitrate_bps":64000,"channels":2},
		"renditions":[{"height":240,"bitrate_bps":300000,"fps_max":30}]}`))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	prevEnd := int64(-1)
	for i, s := range segs {
		if _, err := pipeline.TranscodeLiveSegment(context.Background(), pipeline.LiveOptions{
			Input: s, Ladder: l, SegmentName: fmt.Sprintf("%d.ts", i)}, dirSink(out)); err != nil {
			t.Fatal(err)
		}
		sv, sve, _ := span(tsPackets(t, s), true)
		pk := tsPackets(t, filepath.Join(out, "240p", fmt.Sprintf("%d.ts", i)))
		v, ve, n := span(pk, true)
		if n != 60 || v != sv || ve != sve {
			t.Errorf("segment %d: %d frames over [%d,%d), want 60 over the source's [%d,%d)", i, n, v, ve, sv, sve)
		}
		if prevEnd >= 0 && v != prevEnd {
			t.Errorf("segment %d starts at %d, the previous ended at %d", i, v, prevEnd)
		}
		prevEnd = ve
		for _, p := range pk {
			if p.video && p.dur != 3000 {
				t.Fatalf("segment %d: a frame lasts %d ticks, want 3000 (30 fps)", i, p.dur)
			}
		}
	}
}
