package job

import (
	"strings"
	"testing"
	"time"
)

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

func TestChunkJob(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	parent := New("s3://b/long.mp4", "s3://b/hls/long/", WithID("movie-1"), WithLadder("mobile"),
		WithSegmentSeconds(6), WithSegmentType(SegmentFMP4), WithChunkSeconds(30), WithSubmittedAt(at),
		WithAttribute("bucket", "b"))
	c := ChunkJob(parent, 7, 30)
	if c.ID != "movie-1-c00007" || c.Kind != KindChunk || *c.Chunk != (ChunkRef{Parent: "movie-1", Index: 7, Count: 30}) {
		t.Fatalf("ChunkJob: id %q kind %q chunk %+v", c.ID, c.Kind, c.Chunk)
	}
	if c.Source != parent.Source || c.Output != parent.Output || c.Ladder != "mobile" || c.SegmentSeconds != 6 ||
		c.SegmentType != SegmentFMP4 || *c.ChunkSeconds != 30 || !c.SubmittedAt.Equal(at) || c.Attributes["bucket"] != "b" {
		t.Errorf("ChunkJob does not carry the parent's options: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if again := ChunkJob(parent, 7, 30); !jobsEqual(again, c) {
		t.Errorf("ChunkJob is not deterministic:\n%+v\n%+v", again, c)
	}
	if parent.Kind != KindVOD || parent.Chunk != nil || parent.ID != "movie-1" {
		t.Errorf("ChunkJob changed the parent: %+v", parent)
	}
	if r := ChunkJobOfRound(parent, 2, 7, 30); r.ID != "movie-1-r2-c00007" || r.Chunk.Parent != "movie-1" {
		t.Errorf("round 2: id %q chunk %+v", r.ID, r.Chunk)
	}
	if p := c.ParentJob(); !jobsEqual(p, parent) {
		t.Errorf("ParentJob:\n got %+v\nwant %+v", p, parent)
	}
	if parent.ParentJob() != parent {
		t.Error("ParentJob of a VOD job is not the job itself")
	}

	long := New("s3://b/k", "s3://b/o", WithID(strings.Repeat("x", 128)))
	lc := ChunkJobOfRound(long, 12, 1999, 2000)
	if err := lc.Validate(); err != nil || lc.Chunk.Parent != long.ID {
		t.Fatalf("chunk of a 128-byte parent ID: %v (%q)", err, lc.ID)
	}
	if lc2 := ChunkJobOfRound(long, 12, 1999, 2000); lc2.ID != lc.ID {
		t.Error("the hashed chunk ID is not deterministic")
	}
}

func TestEffectiveChunkSeconds(t *testing.T) {
	ladder45 := 45.0
	for _, tc := range []struct {
		job    *float64
		ladder *float64
		worker float64
		want   float64
	}{
		{nil, nil, 60, 60},
		{nil, nil, 0, 0},
		{nil, &ladder45, 60, 45},
		{ptr(0.0), &ladder45, 60, 0},
		{ptr(20.0), &ladder45, 60, 20},
		{nil, ptr(0.0), 60, 0},
	} {
		j := &Job{ChunkSeconds: tc.job}
		if got := j.EffectiveChunkSeconds(tc.ladder, tc.worker); got != tc.want {
			t.Errorf("job %v ladder %v worker %v: %v, want %v", tc.job, tc.ladder, tc.worker, got, tc.want)
		}
	}
}

func TestChunkStatusTally(t *testing.T) {
	c := ChunkStatus{Total: 4, Done: 1, Active: map[string]ChunkProgress{
		"1": {Worker: "w1", State: StateRunning, Percent: 50},
		"2": {Worker: "w1", State: StateRunning, Percent: 50},
		"3": {Worker: "w2", State: StateRetrying, Percent: 0},
	}}
	if p := c.Tally(); p != 50 {
		t.Errorf("progress %v, want 50", p)
	}
	if len(c.Running) != 1 || c.Running["w1"] != 2 {
		t.Errorf("running %v, want w1: 2 (a retrying chunk runs nowhere)", c.Running)
	}
	all := ChunkStatus{Total: 2, Done: 2}
	if p := all.Tally(); p >= 100 {
		t.Errorf("every chunk done: %v, want below 100 until published", p)
	}
}

func TestRulesRejectChunkKind(t *testing.T) {
	err := Rules{{Kind: KindChunk, Output: "s3://b/hls/{stem}/"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "chunk jobs are made by workers") {
		t.Fatalf("a rule of kind chunk: %v", err)
	}
}
