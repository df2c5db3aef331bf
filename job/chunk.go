package job

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
)

// DefaultChunkSeconds is the chunk length of a long VOD job when neither
// the job, its ladder nor the worker says otherwise (issue H).
const DefaultChunkSeconds = 60

// MaxChunks bounds how many chunks one job is split into.
const MaxChunks = 2000

// MaxChunkSeconds bounds a chunk length a job (or a ladder) may ask for.
const MaxChunkSeconds = 3600

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

// chunkProblems returns what is wrong with j's chunk fields.
func (j *Job) chunkProblems() []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if c := j.ChunkSeconds; c != nil && !(*c == 0 || *c > 0 && *c <= MaxChunkSeconds) {
		add("chunk_seconds %v is not 0 (never chunk) or in (0, %d]", *c, MaxChunkSeconds)
	}
	switch r := j.Chunk; {
	case j.Kind == KindChunk && r == nil:
		add("chunk is missing: a chunk job needs chunk.parent, chunk.index and chunk.count")
	case j.Kind == KindChunk:
		if why := checkID(r.Parent); why != "" {
			add("chunk.parent %q %s", r.Parent, why)
		}
		if !(r.Count > 0 && r.Count <= MaxChunks) {
			add("chunk.count %d is not in [1, %d]", r.Count, MaxChunks)
		}
		if r.Index < 0 || r.Index >= r.Count {
			add("chunk.index %d is not in [0, chunk.count %d)", r.Index, r.Count)
		}
	case r != nil && j.Kind.valid():
		add("chunk is set but kind is %q (only %q jobs have a chunk)", j.Kind, KindChunk)
	}
	return p
}

// ChunkJob returns the job of chunk i of n of the VOD job parent, as the
// worker sends it once parent's plan is made: ID "<parent>-c00007" (see
// ChunkJobOfRound), kind chunk, Chunk {parent, i, n}, and the parent's
// source, output, ladder, segment and chunk options, attributes and
// SubmittedAt. The same arguments always give the same job, so a resend
// is deduplicated by its ID (queue.SendJob).
func ChunkJob(parent *Job, i, n int) *Job { return ChunkJobOfRound(parent, 0, i, n) }

// ChunkJobOfRound is ChunkJob for the given round of the plan: a failed
// plan that a resubmission of its parent re-opens sends its chunk jobs
// again in the next round, under IDs ("<parent>-r1-c00007") that a
// FIFO queue's deduplication of the first round's cannot drop. A parent ID
// too long for the suffix is replaced by its SHA-256 (32 hex digits, "h"
// first), so the ID stays within 128 bytes.
func ChunkJobOfRound(parent *Job, round, i, n int) *Job {
	c := parent.Clone()
	c.Kind, c.Live = KindChunk, nil
	c.Chunk = &ChunkRef{Parent: parent.ID, Index: i, Count: n}
	suffix := fmt.Sprintf("-c%05d", i)
	if round > 0 {
		suffix = fmt.Sprintf("-r%d-c%05d", round, i)
	}
	base := parent.ID
	if len(base)+len(suffix) > maxIDLen {
		sum := sha256.Sum256([]byte(base))
		base = "h" + hex.EncodeToString(sum[:16])
	}
	c.ID = base + suffix
	return c
}

// ParentJob returns the VOD job a chunk job belongs to, as far as the chunk
// job tells it (ID, source, output, ladder and options; Kind vod): the job
// whose job.json, events and status a chunk job's worker writes. For any
// other job it returns j itself.
func (j *Job) ParentJob() *Job {
	if j.Kind != KindChunk || j.Chunk == nil {
		return j
	}
	p := j.Clone()
	p.ID, p.Kind, p.Chunk = j.Chunk.Parent, KindVOD, nil
	return p
}

// EffectiveChunkSeconds is the chunk length that applies to j: its own
// chunk_seconds, else the ladder's (nil: the ladder sets none), else the
// worker's default (its --chunk-seconds, by default DefaultChunkSeconds).
// 0 means never chunk.
func (j *Job) EffectiveChunkSeconds(ladder *float64, worker float64) float64 {
	switch {
	case j.ChunkSeconds != nil:
		return *j.ChunkSeconds
	case ladder != nil:
		return *ladder
	}
	return max(worker, 0)
}

// ChunkReport is what a job process reports of a chunked job, on its done
// event (jobexec/protocol) and in the worker's outcome.
//
// For a VOD job whose run made (or found) a chunk plan instead of
// transcoding: the plan's id, chunk count and round, how many chunks are
// done and which are pending (the chunk jobs the worker sends). For a
// chunk job: its index and what became of it (Result).
type ChunkReport struct {
	PlanID  string `json:"plan_id,omitempty"`
	Count   int    `json:"count"`
	Round   int    `json:"round,omitempty"`
	Done    int    `json:"done"`
	Pending []int  `json:"pending,omitempty"`
	Index   int    `json:"index,omitempty"`
	Result  string `json:"result,omitempty"`
}

// Results of a chunk job (ChunkReport.Result).
const (
	// ChunkTranscoded: this run transcoded the chunk and recorded it done.
	ChunkTranscoded = "transcoded"
	// ChunkDuplicate: the chunk was already done (an earlier delivery, or
	// an attempt that recorded it first, whose objects are kept).
	ChunkDuplicate = "duplicate"
	// ChunkSkipped: nothing to do: the output is published, or the plan
	// failed or was replaced.
	ChunkSkipped = "skipped"
)
