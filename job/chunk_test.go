package job

import "testing"

func TestPlanChunks(t *testing.T) {
	for _, tc := range []struct {
		dur, seg, chunk float64
		want            int
		lastStart       float64
	}{
		{180, 6, 60, 3, 120},
		{119, 6, 60, 0, 0},  // not longer than two chunks
		{121, 6, 60, 2, 60}, // the last chunk holds the remainder
		{180, 4, 62, 2, 64}, // 62 s rounds up to 16 segments of 4 s
		{180, 6, 0, 0, 0},   // never chunk
	} {
		p, err := PlanChunks(tc.dur, tc.seg, tc.chunk)
		if err != nil {
			t.Fatal(err)
		}
		if tc.want == 0 {
			if p != nil {
				t.Errorf("%v: planned %d chunks, want none", tc, len(p.Chunks))
			}
			continue
		}
		if p == nil || len(p.Chunks) != tc.want {
			t.Fatalf("%v: plan %+v, want %d chunks", tc, p, tc.want)
		}
		last := p.Chunks[len(p.Chunks)-1]
		if last.Start != tc.lastStart || last.End != 0 {
			t.Errorf("%v: last chunk %+v, want start %v and open end", tc, last, tc.lastStart)
		}
		for i, c := range p.Chunks {
			if c.FirstSegment != int(c.Start/tc.seg+0.5) || c.Index != i {
				t.Errorf("%v: chunk %+v: first segment or index wrong", tc, c)
			}
			if i > 0 && p.Chunks[i-1].End != c.Start {
				t.Errorf("%v: chunk %d starts at %v, previous ends at %v", tc, i, c.Start, p.Chunks[i-1].End)
			}
		}
	}
	if _, err := PlanChunks(1e9, 1, 1); err == nil {
		t.Error("a billion chunks were planned")
	}
}
