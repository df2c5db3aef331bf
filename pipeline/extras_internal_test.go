package pipeline

import (
	"testing"

	"github.com/asticode/go-astiav"
	"go.uber.org/zap"
)

func blackFrame(t *testing.T, pts int64) *astiav.Frame {
	t.Helper()
	f := astiav.AllocFrame()
	f.SetWidth(64)
	f.SetHeight(36)
	f.SetPixelFormat(astiav.PixelFormatYuv420P)
	if err := f.AllocBuffer(0); err != nil {
		t.Fatal(err)
	}
	if err := f.ImageFillBlack(); err != nil {
		t.Fatal(err)
	}
	f.SetPts(pts)
	return f
}

// TestQualityReferencesFreed: a sampled source frame is kept only until
// every rendition's probe has measured or passed it.
func TestQualityReferencesFreed(t *testing.T) {
	tb := astiav.NewRational(1, 25)
	q := newQualityRefs(4, 32, 18, 4, 1, astiav.NewRational(25, 1)) // instants 0, 1.04, 2.08, 3.12 (a few frames into each GOP)
	defer q.free()
	q.users = 2
	for i := int64(0); i < 100; i++ {
		f := blackFrame(t, i)
		if err := q.capture(f, tb, float64(i)/25); err != nil {
			t.Fatal(err)
		}
		f.Free()
	}
	if n := q.heldReferences(); n != 4 {
		t.Fatalf("%d references captured, want 4", n)
	}
	cp := astiav.AllocCodecParameters()
	defer cp.Free()
	a, _ := newQualityProbe(q, "a", cp, tb, 25, zap.NewNop())
	b, _ := newQualityProbe(q, "b", cp, tb, 25, zap.NewNop())
	defer a.free()
	defer b.free()
	a.markDone(0)
	if n := q.heldReferences(); n != 4 {
		t.Errorf("freed after one of two probes: %d held", n)
	}
	b.markDone(0)
	b.markDone(0) // twice is once
	if n := q.heldReferences(); n != 3 {
		t.Errorf("%d held after both probes finished instant 0, want 3", n)
	}
	// A key packet at 2 s: both probes are past the 1.04 s reference.
	for _, p := range []*qualityProbe{a, b} {
		for _, i := range q.passed(2, p.done) {
			p.markDone(i)
		}
	}
	if n := q.heldReferences(); n != 2 {
		t.Errorf("%d held after both passed 1.5 s, want 2", n)
	}
	a.releaseAll()
	b.releaseAll()
	if n := q.heldReferences(); n != 0 {
		t.Errorf("%d held after both probes finished, want 0", n)
	}
}

// TestStoryboardPlan: the interval grows for long inputs (at most 600
// thumbnails), tiles follow the top rung's aspect with even sides, and
// WebVTT times are hh:mm:ss.ttt.
func TestStoryboardPlan(t *testing.T) {
	for _, c := range []struct {
		w, h         int
		duration     float64
		interval     float64
		tileW, tileH int
	}{
		{1920, 1080, 60, 2, 160, 90},
		{1920, 1080, 7200, 12, 160, 90},
		{1080, 1920, 30, 2, 160, 284},
		{120, 90, 10, 2, 120, 90},
		{1280, 720, 0, 2, 160, 90},
	} {
		s := newStoryboard(StoryboardOptions{}, nil, c.w, c.h, c.duration)
		if s.opt.Interval != c.interval || s.tileW != c.tileW || s.tileH != c.tileH {
			t.Errorf("%dx%d %v s: interval %v tile %dx%d, want %v %dx%d", c.w, c.h, c.duration, s.opt.Interval, s.tileW, s.tileH, c.interval, c.tileW, c.tileH)
		}
		if c.duration > 0 && c.duration/s.opt.Interval > maxStoryboardThumbs {
			t.Errorf("%v s: %v thumbnails", c.duration, c.duration/s.opt.Interval)
		}
	}
	for sec, want := range map[float64]string{0: "00:00:00.000", 1.5: "00:00:01.500", 3725.0125: "01:02:05.013", 59.9996: "00:01:00.000"} {
		if got := vttTime(sec); got != want {
			t.Errorf("vttTime(%v) = %s, want %s", sec, got, want)
		}
	}
}
