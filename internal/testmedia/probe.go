package testmedia

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// Info is the part of ffprobe's JSON report tests look at.
type Info struct {
	Format  Format   `json:"format"`
	Streams []Stream `json:"streams"`
}

// Format is ffprobe's container-level report.
type Format struct {
	FormatName string `json:"format_name"`
	Duration   string `json:"duration"` // seconds, as ffprobe prints it
	Size       string `json:"size"`
	BitRate    string `json:"bit_rate"`
	NbStreams  int    `json:"nb_streams"`
}

// Seconds returns the container duration in seconds, or 0 if unknown.
func (f Format) Seconds() float64 {
	d, _ := strconv.ParseFloat(f.Duration, 64)
	return d
}

// Stream is ffprobe's report on one stream.
type Stream struct {
	Index             int        `json:"index"`
	CodecName         string     `json:"codec_name"`
	CodecType         string     `json:"codec_type"` // "video", "audio", ...
	Profile           string     `json:"profile"`
	Width             int        `json:"width"`
	Height            int        `json:"height"`
	PixFmt            string     `json:"pix_fmt"`
	FieldOrder        string     `json:"field_order"` // "progressive", "tt", "bb", "tb", "bt"
	SampleAspectRatio string     `json:"sample_aspect_ratio"`
	RFrameRate        string     `json:"r_frame_rate"`
	AvgFrameRate      string     `json:"avg_frame_rate"`
	SampleRate        string     `json:"sample_rate"`
	Channels          int        `json:"channels"`
	Duration          string     `json:"duration"`
	SideData          []SideData `json:"side_data_list"`
}

// SideData is one entry of a stream's side-data list.
type SideData struct {
	Type     string `json:"side_data_type"` // e.g. "Display Matrix"
	Rotation int    `json:"rotation"`
}

// Rotation returns the display-matrix rotation ffprobe reports, or 0.
func (s Stream) Rotation() int {
	for _, sd := range s.SideData {
		if sd.Type == "Display Matrix" {
			return sd.Rotation
		}
	}
	return 0
}

// OfType returns the streams of one codec type ("video", "audio").
func (i Info) OfType(codecType string) []Stream {
	var out []Stream
	for _, s := range i.Streams {
		if s.CodecType == codecType {
			out = append(out, s)
		}
	}
	return out
}

// Probe runs ffprobe on path and returns its format and stream report.
func Probe(path string) (Info, error) {
	var info Info
	out, err := ffprobe("-show_format", "-show_streams", "-of", "json", path)
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return info, fmt.Errorf("testmedia: probe %s: %w", path, err)
	}
	return info, nil
}

// VideoPTS returns the presentation times, in seconds and ascending order, of
// the first video stream's packets in path.
func VideoPTS(path string) ([]float64, error) {
	return videoPackets(path, false)
}

// KeyframePTS returns the presentation times, in seconds and ascending order,
// of the first video stream's keyframe packets in path.
func KeyframePTS(path string) ([]float64, error) {
	return videoPackets(path, true)
}

// videoPackets lists the pts of the first video stream's packets, only the
// keyframes' when keyOnly.
func videoPackets(path string, keyOnly bool) ([]float64, error) {
	out, err := ffprobe("-select_streams", "v:0", "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", path)
	if err != nil {
		return nil, err
	}
	var pts []float64
	for _, line := range strings.Fields(string(out)) {
		ptsText, flags, _ := strings.Cut(line, ",")
		if ptsText == "" || ptsText == "N/A" {
			continue
		}
		if keyOnly && !strings.Contains(flags, "K") {
			continue
		}
		t, err := strconv.ParseFloat(ptsText, 64)
		if err != nil {
			return nil, fmt.Errorf("testmedia: pts of %s: %w", path, err)
		}
		pts = append(pts, t)
	}
	slices.Sort(pts)
	return pts, nil
}

// ffprobe runs ffprobe quietly with args and returns its stdout.
func ffprobe(args ...string) ([]byte, error) {
	if !haveFFprobe() {
		return nil, ErrNoFFmpeg
	}
	cmd := exec.Command("ffprobe", append([]string{"-v", "error"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("testmedia: ffprobe %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// TSContinuityErrors joins the MPEG-TS files in order, byte-wise as an HLS
// client's demuxer reads a rendition's segments, and returns the lines of
// ffmpeg's demuxer log that report a continuity counter it did not expect
// or a corrupt packet (at a PES start a jump is only logged at debug level;
// mid-PES the packet is also reported corrupt). The bytes go through a
// pipe: on a seekable file the demuxer also reads near the end to estimate
// the duration, resyncing at an arbitrary offset, and may then report a
// false sync as a packet with the TEI flag.
func TSContinuityErrors(files ...[]byte) ([]string, error) {
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "debug", "-i", "pipe:0",
		"-map", "0", "-c", "copy", "-f", "null", "-")
	cmd.Stdin = bytes.NewReader(bytes.Join(files, nil))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg: %v\n%s", err, out)
	}
	var bad []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "Continuity check failed") || strings.Contains(strings.ToLower(line), "corrupt") {
			bad = append(bad, line)
		}
	}
	return bad, nil
}
