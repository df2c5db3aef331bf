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
	q := newQualityRefs(4, 32, 18, 4, 1, astiav.NewRational(25, 1)) // instants 0.5, 1.5, 2.5, 3.5
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
	// A key packet at 2 s: both probes are past the 1.5 s reference.
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
