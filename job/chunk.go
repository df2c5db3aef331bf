package job

import (
	"fmt"
	"math"
)

// DefaultChunkSeconds is the chunk length of a long VOD job when neither
// the job, its ladder nor the worker says otherwise (issue H).
const DefaultChunkSeconds = 60

// MaxChunks bounds how many chunks one job is split into.
const MaxChunks = 2000

// ChunkRef names the chunk a chunk job transcodes: chunk Index of Count of
// the VOD job Parent. The chunk job's Source, Output, Ladder and segment
// options are its parent's.
type ChunkRef struct {
	Parent string `json:"parent"`
	Index  int    `json:"index"`
	Count  int    `json:"count"`
}

// ChunkSpan is one chunk of a presentation on the single pass's timeline
// (seconds from the input's start): [Start, End), End 0 for the last chunk
// (to the end of the input). FirstSegment is the index of its first media
// segment in every rendition.
type ChunkSpan struct {
	Index        int     `json:"index"`
	Start        float64 `json:"start_seconds"`
	End          float64 `json:"end_seconds,omitempty"`
	FirstSegment int     `json:"first_segment"`
}

// ChunkPlan splits a presentation into chunks on segment boundaries.
type ChunkPlan struct {
	Duration       float64     `json:"duration_seconds"`
	SegmentSeconds float64     `json:"segment_seconds"`
	ChunkSeconds   float64     `json:"chunk_seconds"`
	Chunks         []ChunkSpan `json:"chunks"`
}

// PlanChunks splits duration seconds of media into chunks of chunkSeconds
// (rounded up to a whole number of segments of segSeconds). It returns nil
// when the media is not longer than two chunks or chunkSeconds is 0 (never
// chunk). The last chunk runs to the end, so it holds between one and two
// chunks' worth: no chunk is a sliver.
func PlanChunks(duration, segSeconds, chunkSeconds float64) (*ChunkPlan, error) {
	if chunkSeconds <= 0 || duration <= 0 {
		return nil, nil
	}
	if segSeconds <= 0 {
		return nil, fmt.Errorf("segment duration %v: want more than 0", segSeconds)
	}
	segs := math.Ceil(chunkSeconds/segSeconds - 1e-9)
	c := segs * segSeconds
	if duration <= 2*c {
		return nil, nil
	}
	n := int(math.Floor(duration/c + 1e-9))
	if n > MaxChunks {
		return nil, fmt.Errorf("%.0f s in chunks of %.0f s: %d chunks, more than %d", duration, c, n, MaxChunks)
	}
	p := &ChunkPlan{Duration: duration, SegmentSeconds: segSeconds, ChunkSeconds: c}
	for i := range n {
		s := ChunkSpan{Index: i, Start: float64(i) * c, FirstSegment: i * int(segs)}
		if i < n-1 {
			s.End = float64(i+1) * c
		}
		p.Chunks = append(p.Chunks, s)
	}
	return p, nil
}
