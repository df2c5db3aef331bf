package chunkcheck

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// toolTimeout bounds one ffprobe or ffmpeg run.
const toolTimeout = 10 * time.Minute

// run runs a tool with args and returns its stdout; an error carries the
// last line of its stderr.
func run(tool string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return nil, fmt.Errorf("%s: %w: %s", tool, err, msg)
	}
	return stdout.Bytes(), nil
}

// probeJSON runs ffprobe -of json with args (the input last).
func probeJSON(out any, args ...string) error {
	b, err := run("ffprobe", append([]string{"-v", "error", "-of", "json"}, args...)...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("ffprobe output: %w", err)
	}
	return nil
}

// stream is the part of ffprobe's stream report used here.
type stream struct {
	Index      int    `json:"index"`
	CodecType  string `json:"codec_type"`
	CodecName  string `json:"codec_name"`
	TimeBase   string `json:"time_base"`
	StartTime  string `json:"start_time"`
	SampleRate string `json:"sample_rate"`
	Channels   int    `json:"channels"`
	ReadFrames string `json:"nb_read_frames"`
}

// streams lists the streams of a file.
func streams(file string) ([]stream, error) {
	var out struct {
		Streams []stream `json:"streams"`
	}
	err := probeJSON(&out, "-show_entries", "stream=index,codec_type,codec_name,time_base,start_time,sample_rate,channels", file)
	return out.Streams, err
}

// rational parses "1/90000".
func rational(s string) (num, den int64, ok bool) {
	n, d, found := strings.Cut(s, "/")
	a, err1 := strconv.ParseInt(n, 10, 64)
	b, err2 := strconv.ParseInt(d, 10, 64)
	if !found || err1 != nil || err2 != nil || b <= 0 {
		return 0, 0, false
	}
	return a, b, true
}

// seconds parses ffprobe's decimal seconds ("N/A" → NaN).
func seconds(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

// videoFrames decodes the first video stream of file (ffprobe
// -count_frames) and returns its frames' pts, in presentation order, and
// the stream's time base.
func videoFrames(file string) (pts []int64, num, den int64, err error) {
	var out struct {
		Streams []stream `json:"streams"`
		Frames  []struct {
			PTS *int64 `json:"pts"`
		} `json:"frames"`
	}
	if err := probeJSON(&out, "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=index,time_base,nb_read_frames:frame=pts", file); err != nil {
		return nil, 0, 0, err
	}
	if len(out.Streams) == 0 {
		return nil, 0, 0, fmt.Errorf("no video stream")
	}
	var ok bool
	if num, den, ok = rational(out.Streams[0].TimeBase); !ok {
		return nil, 0, 0, fmt.Errorf("video time base %q", out.Streams[0].TimeBase)
	}
	for _, f := range out.Frames {
		if f.PTS != nil {
			pts = append(pts, *f.PTS)
		}
	}
	if n, err := strconv.Atoi(out.Streams[0].ReadFrames); err == nil && n != len(out.Frames) {
		return nil, 0, 0, fmt.Errorf("ffprobe counted %d frames but listed %d", n, len(out.Frames))
	}
	return pts, num, den, nil
}

// firstPicture is what the first video packet of a segment holds.
type firstPicture struct {
	hasPacket, hasFrame bool
	keyFrame            bool
	pictType            string
	idr                 bool
	nalTypes            []int
	pts                 float64
}

// ok reports whether the segment starts with an IDR picture.
func (f firstPicture) ok() bool { return f.hasFrame && f.keyFrame && f.pictType == "I" && f.idr }

// String says what the first picture is.
func (f firstPicture) String() string {
	switch {
	case !f.hasPacket:
		return "no video packet"
	case !f.hasFrame:
		return fmt.Sprintf("first video packet (pts %.3f s) decodes to no picture on its own", f.pts)
	}
	return fmt.Sprintf("first picture (pts %.3f s) has key_frame=%d pict_type=%s, NAL unit types %v", f.pts, b2i(f.keyFrame), f.pictType, f.nalTypes)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// probeFirst reads the first video packet of a segment file (for fMP4,
// the initialization section and the fragment joined), decodes it and
// looks at its NAL units for an IDR picture.
func probeFirst(file string) (firstPicture, error) {
	var out struct {
		Streams []stream `json:"streams"`
		Entries []struct {
			Type     string `json:"type"`
			PTSTime  string `json:"pts_time"`
			Data     string `json:"data"`
			KeyFrame int    `json:"key_frame"`
			PictType string `json:"pict_type"`
		} `json:"packets_and_frames"`
	}
	var f firstPicture
	if err := probeJSON(&out, "-select_streams", "v:0", "-read_intervals", "%+#1", "-show_data",
		"-show_entries", "stream=codec_name:packet=pts_time,data:frame=key_frame,pict_type,pts_time", file); err != nil {
		return f, err
	}
	codec := ""
	if len(out.Streams) > 0 {
		codec = out.Streams[0].CodecName
	}
	for _, e := range out.Entries {
		switch {
		case e.Type == "packet" && !f.hasPacket:
			f.hasPacket = true
			f.pts = seconds(e.PTSTime)
			f.idr, f.nalTypes = isIDR(codec, hexDump(e.Data))
		case e.Type == "frame" && !f.hasFrame:
			f.hasFrame = true
			f.keyFrame, f.pictType = e.KeyFrame == 1, e.PictType
			f.pts = seconds(e.PTSTime)
		}
	}
	return f, nil
}

// hexDump decodes ffprobe's -show_data dump ("00000000: 0000 0001 09f0
// ...  ascii") back into bytes.
func hexDump(s string) []byte {
	var b []byte
	for _, line := range strings.Split(s, "\n") {
		_, rest, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		if i := strings.Index(rest, "  "); i >= 0 {
			rest = rest[:i] // the ASCII column
		}
		d, err := hex.DecodeString(strings.ReplaceAll(rest, " ", ""))
		if err != nil {
			break
		}
		b = append(b, d...)
	}
	return b
}

// nalUnits splits an access unit into NAL units: Annex B (start codes,
// as in MPEG-TS) or 4-byte length prefixes (as in MP4).
func nalUnits(b []byte) [][]byte {
	if bytes.HasPrefix(b, []byte{0, 0, 1}) || bytes.HasPrefix(b, []byte{0, 0, 0, 1}) {
		var nals [][]byte
		for _, part := range bytes.Split(b, []byte{0, 0, 1}) {
			part = bytes.TrimRight(part, "\x00")
			if len(part) > 0 {
				nals = append(nals, part)
			}
		}
		return nals
	}
	var nals [][]byte
	for len(b) >= 4 {
		n := int(binary.BigEndian.Uint32(b))
		if n <= 0 || n > len(b)-4 {
			break
		}
		nals = append(nals, b[4:4+n])
		b = b[4+n:]
	}
	return nals
}

// isIDR reports whether the access unit's first picture is an IDR one
// (H.264 NAL type 5; HEVC 19 or 20), and lists its NAL unit types.
func isIDR(codec string, au []byte) (bool, []int) {
	var types []int
	idr, decided := false, false
	for _, nal := range nalUnits(au) {
		var t int
		switch codec {
		case "hevc":
			t = int(nal[0]>>1) & 0x3f
			if !decided && t <= 31 { // the first VCL NAL unit decides
				idr, decided = t == 19 || t == 20, true
			}
		default: // h264
			t = int(nal[0] & 0x1f)
			if !decided && t >= 1 && t <= 5 {
				idr, decided = t == 5, true
			}
		}
		types = append(types, t)
	}
	return idr, types
}

// decodePCM decodes the first audio stream of file to interleaved 32-bit
// float samples at its own rate and channel count.
func decodePCM(file string) ([]float32, error) {
	b, err := run("ffmpeg", "-nostdin", "-v", "error", "-i", file, "-map", "0:a:0", "-f", "f32le", "-")
	if err != nil {
		return nil, err
	}
	pcm := make([]float32, len(b)/4)
	for i := range pcm {
		pcm[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return pcm, nil
}
