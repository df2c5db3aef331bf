package pipeline

import (
	"context"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/hlsfleet/hlsfleet/ladders"
)

// TestFinishMergeQuality: SSIM is the frames-weighted mean, PSNR comes from the
// frames-weighted mean MSE (not the mean of the PSNRs), capped at 100 dB;
// chunks that compared nothing count for nothing.
func TestFinishMergeQuality(t *testing.T) {
	rung := Quality{Rendition: "720p", Width: 1280, Height: 720}
	for _, c := range []struct {
		name   string
		parts  []Quality
		ssim   float64
		psnr   float64
		frames int
	}{
		// MSE 6.5025 (40 dB) over 4 frames and 65.025 (30 dB) over 8:
		// mean 45.5175, 10·log10(255²/45.5175) = 31.549 dB; the mean of the
		// PSNRs would say 33.33.
		{"weighted", []Quality{{SSIM: 0.9, PSNR: 40, Frames: 4}, {SSIM: 0.96, PSNR: 30, Frames: 8}, {SSIM: 0.1, PSNR: 5}}, 0.94, 31.55, 12},
		{"one chunk", []Quality{{SSIM: 0.98765, PSNR: 44.44, Frames: 5}}, 0.98765, 44.44, 5},
		{"identical frames", []Quality{{SSIM: 1, PSNR: 100, Frames: 3}, {SSIM: 1, PSNR: 100, Frames: 3}}, 1, 100, 6},
		{"one identical", []Quality{{SSIM: 1, PSNR: 100, Frames: 1}, {SSIM: 0.99, PSNR: 50, Frames: 1}}, 0.995, 53.01, 2},
		{"nothing measured", []Quality{{SSIM: 0.5, PSNR: 20}}, 0, 0, 0},
		{"no chunks", nil, 0, 0, 0},
	} {
		q := mergeQuality(rung, c.parts)
		if q.Rendition != "720p" || q.Width != 1280 || q.Height != 720 || q.SSIMGain != nil || q.Dropped {
			t.Errorf("%s: %+v lost the rung's name or size or gained a gate result", c.name, q)
		}
		if math.Abs(q.SSIM-c.ssim) > 1e-9 || math.Abs(q.PSNR-c.psnr) > 1e-9 || q.Frames != c.frames {
			t.Errorf("%s: ssim %v psnr %v frames %d, want %v %v %d", c.name, q.SSIM, q.PSNR, q.Frames, c.ssim, c.psnr, c.frames)
		}
	}
}

// TestFinishGateQuality (the gate a single pass and the finish share): the gate walks up from the lowest rung; each rung's gain
// is over the next lower rung kept; the lowest rung and rungs without
// figures stay; without a gate only the gains are set.
func TestFinishGateQuality(t *testing.T) {
	rungs := func() []Quality {
		return []Quality{
			{Rendition: "1080p", SSIM: 0.985, Frames: 12}, // +0.015 over 720p's 0.97 (480p dropped): kept
			{Rendition: "720p", SSIM: 0.97, Frames: 12},   // +0.03 over 360p: kept
			{Rendition: "480p", SSIM: 0.95, Frames: 12},   // +0.01 over 360p: dropped
			{Rendition: "360p", SSIM: 0.94, Frames: 12},
			{Rendition: "240p", Frames: 0}, // no figures: kept, not the base of a gain
		}
	}
	qs := rungs()
	keep := gateQuality(qs, 0.012)
	wantKeep := []bool{true, true, false, true, true}
	wantGain := []float64{0.015, 0.03, 0.01, -1, -1}
	for i, q := range qs {
		if keep[i] != wantKeep[i] || q.Dropped == wantKeep[i] {
			t.Errorf("%s: keep %v dropped %v, want keep %v", q.Rendition, keep[i], q.Dropped, wantKeep[i])
		}
		switch {
		case wantGain[i] < 0 && q.SSIMGain != nil:
			t.Errorf("%s: gain %v, want none", q.Rendition, *q.SSIMGain)
		case wantGain[i] >= 0 && (q.SSIMGain == nil || math.Abs(*q.SSIMGain-wantGain[i]) > 1e-12):
			t.Errorf("%s: gain %v, want %v", q.Rendition, q.SSIMGain, wantGain[i])
		}
	}
	qs = rungs()
	for i, k := range gateQuality(qs, 0) {
		if !k || qs[i].Dropped {
			t.Errorf("no gate dropped %s", qs[i].Rendition)
		}
	}
	if qs[2].SSIMGain == nil || *qs[2].SSIMGain != 0.01 || *qs[0].SSIMGain != 0.015 {
		t.Errorf("no gate: gains %v %v, want 0.01 over 360p and 0.015 over 720p", qs[2].SSIMGain, qs[0].SSIMGain)
	}
}

// TestFinishRelURI: segment URIs relative to the folder the playlist is stored in.
func TestFinishRelURI(t *testing.T) {
	for _, c := range [][3]string{
		{"720p/ffffffffff", "720p/aaaaaaaaaa/seg_00010.ts", "../aaaaaaaaaa/seg_00010.ts"},
		{"720p", "720p/aaaaaaaaaa/seg_00010.ts", "aaaaaaaaaa/seg_00010.ts"},
		{"720p/ffffffffff", "720p/ffffffffff/init.mp4", "init.mp4"},
		{"audio/ffffffffff", "audio/x/y/seg_00001.ts", "../x/y/seg_00001.ts"},
	} {
		if got, err := relURI(c[0], c[1]); err != nil || got != c[2] {
			t.Errorf("relURI(%s, %s) = %q, %v; want %q", c[0], c[1], got, err, c[2])
		}
	}
}

// TestFinishRejectsMismatchedChunks: chunks that do not make one
// presentation are refused before anything is written.
func TestFinishRejectsMismatchedChunks(t *testing.T) {
	l, err := ladders.Parse([]byte(`{"name": "x", "segment_seconds": 2, "video": {"codec": "h264"},
		"audio": {"codec": "aac", "bitrate_bps": 64000, "channels": 2}, "renditions": [{"height": 360, "bitrate_bps": 600000}]}`))
	if err != nil {
		t.Fatal(err)
	}
	chunk := func(i int, codec string) ChunkResult {
		return ChunkResult{Index: i, Renditions: []ChunkRendition{{Name: "360p", Width: 640, Height: 360, Codecs: []string{codec},
			Segments: []ChunkSegment{{Name: "360p/a/seg_00000.ts", Duration: 2, Bytes: 100}}}}}
	}
	for _, c := range []struct {
		name   string
		chunks []ChunkResult
		want   string
	}{
		{"none", nil, "no chunks"},
		{"order", []ChunkResult{chunk(1, "avc1.64001e"), chunk(0, "avc1.64001e")}, "plan order"},
		{"codecs", []ChunkResult{chunk(0, "avc1.64001e"), chunk(1, "avc1.640028")}, "chunk 1 rendition 0"},
		{"renditions", []ChunkResult{chunk(0, "avc1.64001e"), {Index: 1}}, "chunk 1 has 0 renditions"},
	} {
		var created []string
		sink := sinkFunc(func(name string) { created = append(created, name) })
		_, err := FinishChunks(context.Background(), FinishOptions{Options: Options{Ladder: l}, Chunks: c.chunks}, sink)
		if err == nil || !strings.Contains(err.Error(), c.want) || len(created) > 0 {
			t.Errorf("%s: err %v after creating %v; want %q and nothing created", c.name, err, created, c.want)
		}
	}
}

// sinkFunc is a Sink that tells f each name created and discards the bytes.
type sinkFunc func(name string)

func (s sinkFunc) Create(name string) (io.WriteCloser, error) {
	s(name)
	return nopWriteCloser{io.Discard}, nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
