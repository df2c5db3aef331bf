package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// Ladder is the benchmark's ladder file (bench/bench4.json). It is read here
// rather than through package ladders so the benchmark depends only on the
// file format, which is the contract the hlsfleet binary reads too.
type Ladder struct {
	Name           string      `json:"name"`
	SegmentSeconds float64     `json:"segment_seconds"`
	GOPSeconds     float64     `json:"gop_seconds"`
	Video          VideoParams `json:"video"`
	Audio          AudioParams `json:"audio"`
	Renditions     []Rendition `json:"renditions"`
}

// VideoParams are the encoder settings shared by every rendition.
type VideoParams struct {
	Codec   string `json:"codec"`   // "h264"
	Preset  string `json:"preset"`  // x264 preset, e.g. "veryfast"
	Profile string `json:"profile"` // e.g. "high"
}

// AudioParams are the audio encoder settings shared by every rendition.
type AudioParams struct {
	Codec         string `json:"codec"` // "aac"
	BitsPerSecond int64  `json:"bitrate_bps"`
	Channels      int    `json:"channels"`
}

// Rendition is one rung of the ladder.
type Rendition struct {
	Height        int   `json:"height"`
	BitsPerSecond int64 `json:"bitrate_bps"`
	MaxRate       int64 `json:"maxrate_bps"`  // 0: 1.07 × BitsPerSecond
	BufSizeBits   int64 `json:"bufsize_bits"` // 0: 1.5 × BitsPerSecond
}

// maxRate returns the rendition's VBV peak rate.
func (r Rendition) maxRate() int64 {
	if r.MaxRate > 0 {
		return r.MaxRate
	}
	return int64(math.Round(1.07 * float64(r.BitsPerSecond)))
}

// bufSize returns the rendition's VBV buffer size.
func (r Rendition) bufSize() int64 {
	if r.BufSizeBits > 0 {
		return r.BufSizeBits
	}
	return int64(math.Round(1.5 * float64(r.BitsPerSecond)))
}

// loadLadder reads and checks a ladder file.
func loadLadder(path string) (Ladder, error) {
	var l Ladder
	data, err := os.ReadFile(path)
	if err != nil {
		return l, fmt.Errorf("read ladder: %w", err)
	}
	if err := json.Unmarshal(data, &l); err != nil {
		return l, fmt.Errorf("parse ladder %s: %w", path, err)
	}
	if err := l.validate(); err != nil {
		return l, fmt.Errorf("ladder %s: %w", path, err)
	}
	return l, nil
}

// validate reports the first thing the baseline cannot run with.
func (l Ladder) validate() error {
	if len(l.Renditions) == 0 {
		return errors.New("no renditions")
	}
	if l.SegmentSeconds <= 0 || l.GOPSeconds <= 0 {
		return fmt.Errorf("segment_seconds %v and gop_seconds %v must be positive", l.SegmentSeconds, l.GOPSeconds)
	}
	if _, ok := videoEncoders[l.Video.Codec]; !ok {
		return fmt.Errorf("video codec %q: the baseline knows only h264", l.Video.Codec)
	}
	if _, ok := audioEncoders[l.Audio.Codec]; !ok {
		return fmt.Errorf("audio codec %q: the baseline knows only aac", l.Audio.Codec)
	}
	for i, r := range l.Renditions {
		if r.Height <= 0 || r.Height%2 != 0 || r.BitsPerSecond <= 0 {
			return fmt.Errorf("rendition %d: height %d must be positive and even, bitrate %d positive", i, r.Height, r.BitsPerSecond)
		}
	}
	return nil
}

// videoEncoders and audioEncoders map ladder codec names to FFmpeg encoders.
var (
	videoEncoders = map[string]string{"h264": "libx264"}
	audioEncoders = map[string]string{"aac": "aac"}
)

// baselineArgs builds the ffmpeg command line that produces ladder l from src
// in one process: one decode, split into one scaler and one x264 encoder per
// rendition, a fixed GOP of gop_seconds × fps frames with no scene-cut
// keyframes, the ladder's typed rates, the audio re-encoded for every
// rendition, and the hls muxer writing a VOD playlist per rendition plus
// outDir/master.m3u8.
func baselineArgs(l Ladder, src, outDir string, fps float64) []string {
	n := len(l.Renditions)
	gop := strconv.Itoa(int(math.Round(l.GOPSeconds * fps)))

	// [0:v]split=4[s0][s1]...;[s0]scale=-2:1080[v0];...
	var graph strings.Builder
	fmt.Fprintf(&graph, "[0:v]split=%d", n)
	for i := range n {
		fmt.Fprintf(&graph, "[s%d]", i)
	}
	for i, r := range l.Renditions {
		fmt.Fprintf(&graph, ";[s%d]scale=-2:%d[v%d]", i, r.Height, i)
	}

	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y",
		"-i", src, "-filter_complex", graph.String()}
	for i := range n {
		args = append(args, "-map", fmt.Sprintf("[v%d]", i), "-map", "0:a:0")
	}
	args = append(args,
		"-c:v", videoEncoders[l.Video.Codec], "-preset", l.Video.Preset, "-profile:v", l.Video.Profile,
		"-g", gop, "-keyint_min", gop, "-sc_threshold", "0")
	for i, r := range l.Renditions {
		args = append(args,
			fmt.Sprintf("-b:v:%d", i), strconv.FormatInt(r.BitsPerSecond, 10),
			fmt.Sprintf("-maxrate:v:%d", i), strconv.FormatInt(r.maxRate(), 10),
			fmt.Sprintf("-bufsize:v:%d", i), strconv.FormatInt(r.bufSize(), 10))
	}
	args = append(args, "-c:a", audioEncoders[l.Audio.Codec])
	if l.Audio.BitsPerSecond > 0 {
		args = append(args, "-b:a", strconv.FormatInt(l.Audio.BitsPerSecond, 10))
	}
	if l.Audio.Channels > 0 {
		args = append(args, "-ac", strconv.Itoa(l.Audio.Channels))
	}

	streams := make([]string, n)
	for i := range n {
		streams[i] = fmt.Sprintf("v:%d,a:%d", i, i)
	}
	return append(args,
		"-f", "hls",
		"-hls_time", strconv.FormatFloat(l.SegmentSeconds, 'f', -1, 64),
		"-hls_playlist_type", "vod",
		"-hls_flags", "independent_segments",
		"-hls_segment_filename", outDir+"/stream_%v/segment_%05d.ts",
		"-master_pl_name", "master.m3u8",
		"-var_stream_map", strings.Join(streams, " "),
		outDir+"/stream_%v/index.m3u8")
}
