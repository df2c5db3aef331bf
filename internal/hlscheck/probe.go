package hlscheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// probeTimeout bounds one ffprobe run.
const probeTimeout = 2 * time.Minute

// stream is the part of ffprobe's stream section the checks use.
type stream struct {
	Index             int    `json:"index"`
	CodecType         string `json:"codec_type"`
	CodecName         string `json:"codec_name"`
	Profile           string `json:"profile"`
	Level             int    `json:"level"`
	Width             int    `json:"width"`
	Height            int    `json:"height"`
	SampleAspectRatio string `json:"sample_aspect_ratio"`
	SampleRate        string `json:"sample_rate"`
	Channels          int    `json:"channels"`
	AvgFrameRate      string `json:"avg_frame_rate"`
	RFrameRate        string `json:"r_frame_rate"`
}

// entry is a packet or frame of ffprobe's -show_packets/-show_frames.
type entry struct {
	Type         string `json:"type"` // "packet" or "frame" in packets_and_frames
	StreamIndex  int    `json:"stream_index"`
	PTSTime      string `json:"pts_time"`
	DurationTime string `json:"duration_time"`
	Flags        string `json:"flags"`
	KeyFrame     int    `json:"key_frame"`
	PictType     string `json:"pict_type"`
}

type probeOutput struct {
	Streams          []stream `json:"streams"`
	Packets          []entry  `json:"packets"`
	PacketsAndFrames []entry  `json:"packets_and_frames"`
}

// ffprobe runs ffprobe with args (the input last) and decodes its JSON.
func ffprobe(args ...string) (*probeOutput, error) {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffprobe", append([]string{"-v", "error", "-of", "json"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return nil, fmt.Errorf("ffprobe: %w: %s", err, msg)
	}
	var out probeOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("ffprobe output: %w", err)
	}
	return &out, nil
}

// segmentProbe is what one segment's probe found about its video.
type segmentProbe struct {
	video       *stream
	hasFrame    bool // a first video frame was decoded
	keyFrame    bool
	pictType    string
	pts         float64 // of the first video frame, or of the first packet when none decoded
	packetFlags string  // of the first video packet: "K_" for a keyframe
	havePacket  bool
}

// probeSegment reads the first video packet of a segment file and decodes it.
func probeSegment(path string) (*segmentProbe, error) {
	out, err := ffprobe("-select_streams", "v:0", "-read_intervals", "%+#1",
		"-show_entries", "stream=index,codec_type,codec_name,profile,level,width,height,sample_aspect_ratio"+
			":packet=pts_time,flags:frame=key_frame,pict_type,pts_time",
		path)
	if err != nil {
		return nil, err
	}
	sp := &segmentProbe{}
	if len(out.Streams) > 0 {
		sp.video = &out.Streams[0]
	}
	for _, e := range out.PacketsAndFrames {
		switch {
		case e.Type == "packet" && !sp.havePacket:
			sp.havePacket = true
			sp.packetFlags = e.Flags
			if !sp.hasFrame {
				sp.pts = parseTime(e.PTSTime)
			}
		case e.Type == "frame" && !sp.hasFrame:
			sp.hasFrame = true
			sp.keyFrame = e.KeyFrame == 1
			sp.pictType = e.PictType
			sp.pts = parseTime(e.PTSTime)
		}
	}
	return sp, nil
}

// wholeProbe is what the probe of a whole rendition found.
type wholeProbe struct {
	streams []stream
	// span is the presentation time covered by each stream's packets
	// (end of the last minus start of the first), by stream index.
	span map[int]float64
}

// probeWhole lists every packet of a rendition file (no decoding).
func probeWhole(path string) (*wholeProbe, error) {
	out, err := ffprobe("-show_entries",
		"stream=index,codec_type,codec_name,profile,level,width,height,sample_rate,channels,avg_frame_rate,r_frame_rate"+
			":packet=stream_index,pts_time,duration_time",
		path)
	if err != nil {
		return nil, err
	}
	w := &wholeProbe{streams: out.Streams, span: make(map[int]float64)}
	start, end := map[int]float64{}, map[int]float64{}
	for _, p := range out.Packets {
		pts := parseTime(p.PTSTime)
		if math.IsNaN(pts) {
			continue
		}
		e := pts
		if d := parseTime(p.DurationTime); !math.IsNaN(d) {
			e += d
		}
		if s, ok := start[p.StreamIndex]; !ok || pts < s {
			start[p.StreamIndex] = pts
		}
		if e > end[p.StreamIndex] {
			end[p.StreamIndex] = e
		}
	}
	for i, s := range start {
		w.span[i] = end[i] - s
	}
	return w, nil
}

// parseTime reads an ffprobe *_time value; "N/A" and "" are NaN.
func parseTime(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

// Concat writes the files in order into a new file dst, as a player joins
// a rendition's segments (an fMP4 initialization section first).
func Concat(dst string, srcs ...string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	for _, s := range srcs {
		in, err := os.Open(s)
		if err != nil {
			f.Close()
			return err
		}
		_, err = io.Copy(f, in)
		in.Close()
		if err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
