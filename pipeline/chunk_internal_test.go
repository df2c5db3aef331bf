package pipeline

import (
	"math"
	"testing"

	"github.com/hlsfleet/hlsfleet/ladders"
)

// TestAudioGridStart: a chunk's resampler starts on the single pass's
// grid of 1024-sample frames, at a whole input sample, between the warm-up
// after the first decoded audio and two frames before the chunk.
func TestAudioGridStart(t *testing.T) {
	for _, c := range []struct {
		in           int64
		from, first  float64
		wantOutFirst int64 // 0: only check the rules
	}{
		{48000, 6, 4.0, 258 * 1024}, // ceil(5.5 s / 1024 samples)
		{48000, 6, 5.9, 279 * 1024}, // late audio: two frames before the start
		{44100, 6, 4.0, 0},
		{32000, 120, 117.9, 0},
	} {
		fp := audioGridStart(48000, 1024, c.in, c.from, c.first)
		out := fp * 48000 / c.in
		if out*c.in != fp*48000 {
			t.Errorf("%+v: first_pts %d is not a whole output sample", c, fp)
		}
		sec := float64(out) / 48000
		switch {
		case out%1024 != 0:
			t.Errorf("%+v: starts at output sample %d, off the 1024-sample grid", c, out)
		case c.wantOutFirst != 0 && out != c.wantOutFirst:
			t.Errorf("%+v: starts at output sample %d, want %d", c, out, c.wantOutFirst)
		case sec > c.from-2*1024.0/48000+1e-9 || sec < c.from-chunkAudioPreroll-0.2:
			t.Errorf("%+v: starts at %.4f s", c, sec)
		}
	}
}

// TestWindowSlots: the muxed audio of a chunk is cut where the rung's
// first frame slot at or after each boundary is.
func TestWindowSlots(t *testing.T) {
	w := &window{span: span{from: 6, to: 12}}
	for _, c := range []struct {
		fps      ladders.Rational
		from, to float64
	}{
		{ladders.Rational{Num: 30000, Den: 1001}, 180 * 1001.0 / 30000, 360 * 1001.0 / 30000},
		{ladders.Rational{Num: 30, Den: 1}, 6, 12},
		{ladders.Rational{Num: 24000, Den: 1001}, 144 * 1001.0 / 24000, 288 * 1001.0 / 24000},
	} {
		s := w.slots(c.fps)
		if math.Abs(s.from-c.from) > 1e-9 || math.Abs(s.to-c.to) > 1e-9 {
			t.Errorf("%v fps: [%v, %v), want [%v, %v)", c.fps, s.from, s.to, c.from, c.to)
		}
	}
	open := &window{span: span{from: math.Inf(-1), to: math.Inf(1)}}
	if s := open.slots(ladders.Rational{Num: 25, Den: 1}); !math.IsInf(s.from, -1) || !math.IsInf(s.to, 1) {
		t.Errorf("open window's slots [%v, %v)", s.from, s.to)
	}
	if !w.has(6) || w.has(12) || !w.has(11.99) || w.has(5.99) {
		t.Error("span [6, 12) holds the wrong instants")
	}
}

// TestStoryboardWindow: a chunk takes the thumbnails of the instants in
// its span, in one row.
func TestStoryboardWindow(t *testing.T) {
	s := newStoryboard(StoryboardOptions{}, nil, 640, 360, 20)
	s.window(6, 12, "strip.png")
	if s.first != 3 || s.stop != 6 || s.n != 3 || s.next != 6 || s.opt.Columns != 3 || s.opt.Rows != 1 {
		t.Errorf("window [6, 12): first %d stop %d n %d next %v %dx%d", s.first, s.stop, s.n, s.next, s.opt.Columns, s.opt.Rows)
	}
	s = newStoryboard(StoryboardOptions{Interval: 10}, nil, 640, 360, 20)
	s.window(12, 18, "strip.png")
	if !math.IsInf(s.next, 1) {
		t.Errorf("no instant in [12, 18) every 10 s, yet the next thumbnail is at %v", s.next)
	}
}
