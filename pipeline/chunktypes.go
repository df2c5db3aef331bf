package pipeline

// The types a chunked (segmented parallel) VOD job passes between its
// chunk transcodes (chunk.go, TranscodeChunk) and its finish
// (chunkfinish.go, FinishChunks). A ChunkResult is stored as JSON in the
// job's chunks.json between the two, so every field is plain data.

import (
	"github.com/hlsfleet/hlsfleet/job"
)

// ChunkOptions configure the transcode of one chunk of a long VOD job.
// Options are the job's, as a single pass would have them (ObjectName
// being this chunk attempt's); Plan is the job's chunk plan and Span the
// chunk's entry in it.
type ChunkOptions struct {
	Options
	Plan job.ChunkPlan
	Span job.ChunkSpan
}

// ChunkSegment is one media segment a chunk wrote.
type ChunkSegment struct {
	Name     string  `json:"name"` // stored name, e.g. "720p/<attempt>/seg_00010.ts"
	Duration float64 `json:"duration_seconds"`
	Bytes    int64   `json:"bytes"`
}

// ChunkRendition is what a chunk wrote for one rendition (a video rung, or
// an audio-only playlist).
type ChunkRendition struct {
	Name      string   `json:"name"`
	Width     int      `json:"width,omitempty"`
	Height    int      `json:"height,omitempty"`
	FrameRate float64  `json:"frame_rate,omitempty"`
	Codecs    []string `json:"codecs"`
	Language  string   `json:"language,omitempty"` // audio-only playlists
	// Init is the stored name of the chunk's init.mp4 (fMP4 only).
	Init     string         `json:"init,omitempty"`
	InitSize int64          `json:"init_bytes,omitempty"`
	Segments []ChunkSegment `json:"segments"`
	// Frames is the number of video frames encoded into the segments.
	Frames int64 `json:"frames,omitempty"`
}

// ChunkStoryboard is a chunk's share of the storyboard: the tiles whose
// instants fall in the chunk, left to right in one PNG strip (Image, a
// stored name), the first being tile number First of the presentation.
type ChunkStoryboard struct {
	Image      string  `json:"image"`
	First      int     `json:"first"`
	Tiles      int     `json:"tiles"`
	TileWidth  int     `json:"tile_width"`
	TileHeight int     `json:"tile_height"`
	Interval   float64 `json:"interval_seconds"`
}

// ChunkResult describes one transcoded chunk.
type ChunkResult struct {
	Index int     `json:"index"`
	Start float64 `json:"start_seconds"` // first video frame's time
	End   float64 `json:"end_seconds"`   // end of the last frame (or audio packet)
	// Renditions are the video rungs, in ladder order; Audio the
	// audio-only playlists (several audio tracks, or no video).
	Renditions []ChunkRendition `json:"renditions"`
	Audio      []ChunkRendition `json:"audio,omitempty"`
	// Poster is the stored name of poster.jpg when the poster instant fell
	// in this chunk.
	Poster     string           `json:"poster,omitempty"`
	Storyboard *ChunkStoryboard `json:"storyboard,omitempty"`
	// Quality holds this chunk's measurements per rung (Frames compared,
	// mean SSIM and PSNR over them); FinishChunks weighs them by Frames.
	Quality []Quality `json:"quality,omitempty"`
	// MP4 names the rendition the finish remuxes into a progressive MP4.
	MP4     string  `json:"mp4,omitempty"`
	Frames  int64   `json:"frames"` // video frames decoded in the window
	Elapsed float64 `json:"elapsed_seconds"`
	Input   *Info   `json:"input,omitempty"`
}

// FinishOptions configure FinishChunks: the job's Options (ladder, segment
// type, extras, ObjectName of the finishing attempt), its plan, every
// chunk's result in plan order, and Open, which reads back a stored object
// the chunks wrote (segments for the MP4 remux, storyboard strips).
type FinishOptions struct {
	Options
	Plan   job.ChunkPlan
	Chunks []ChunkResult
	Open   func(name string) (ReadSeekCloser, int64, error)
}

// ReadSeekCloser is a stored object opened for reading.
type ReadSeekCloser interface {
	Read(p []byte) (int, error)
	Seek(offset int64, whence int) (int64, error)
	Close() error
}
