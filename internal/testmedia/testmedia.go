// Package testmedia generates small, real media files for tests and
// benchmarks from FFmpeg's lavfi sources (testsrc2, sine), so no media is
// ever committed to the repository.
//
// Everything here shells out to the ffmpeg and ffprobe command-line tools.
// Test helpers skip the test when ffmpeg is not installed; the error-returning
// functions (GenerateTo, Probe) report ErrNoFFmpeg instead.
//
// Sources are deliberately awkward for a transcoder: the picture moves
// (testsrc2), keyframes come every 37 frames so they line up with no segment
// boundary, and the options below add rotation, anamorphic pixels, interlacing,
// variable frame rate, 10-bit and 4:4:4 pixel formats and several audio tracks.
package testmedia

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNoFFmpeg is returned when the ffmpeg (or ffprobe) binary is not on PATH.
var ErrNoFFmpeg = errors.New("testmedia: ffmpeg not found on PATH")

// Spec describes a clip to generate. The zero value (after defaults) is a
// 2 s, 320x240, 30 fps H.264 + AAC MP4.
type Spec struct {
	// Width and Height of the coded picture; defaults 320x240.
	Width, Height int
	// Duration in seconds; default 2.
	Duration float64
	// FPS is the frame rate as FFmpeg accepts it: "30", "25", "30000/1001".
	// Default "30". For the interlaced kinds it is the frame (not field) rate.
	FPS string

	// Video is the video kind:
	//   "h264" (default; libx264, or vp9 when Container is "webm"),
	//   "hevc10" (libx265, yuv420p10le),
	//   "vp9" (libvpx-vp9),
	//   "mpeg2-interlaced" (mpeg2video, interlaced coding, top field first),
	//   "h264-interlaced" (libx264 +ildct+ilme from tinterlace, top field first),
	//   "none" (no video stream).
	Video string
	// Audio is the audio codec: "aac" (default; opus when Container is
	// "webm"), "opus", "mp3", "none".
	Audio string
	// AudioTracks is the number of audio streams (default 1). Track i is a
	// sine tone of 440+220*i Hz, so tracks are distinguishable.
	AudioTracks int
	// Container is "mp4" (default), "mkv", "webm", "ts" or "mov"; it is also
	// the file extension.
	Container string

	// Rotate is a display rotation of 0, 90, 180 or 270 degrees, written as
	// display-matrix side data (mp4 and mov only). ffprobe reports it as a
	// "rotation" equal to Rotate modulo 360 (90, -180, -90 in FFmpeg 5.1).
	Rotate int
	// SAR is a sample aspect ratio such as "4:3" for anamorphic video; empty
	// means square pixels.
	SAR string
	// VFR drops a pseudo-random (but deterministic) ~30% of the frames and
	// keeps the timestamps of the rest, so the stream's frame intervals are
	// irregular and its average frame rate differs from its nominal one.
	VFR bool
	// PixFmt overrides the encoded pixel format, e.g. "yuv444p" for an H.264
	// High 4:4:4 source. Default yuv420p (yuv420p10le for hevc10).
	PixFmt string
	// Noise overlays strong temporal noise, which is expensive to encode:
	// realistic benchmark content rather than a flat test card.
	Noise bool
	// NoiseStrength is the noise filter's strength (0-100); 0 means 30,
	// the benchmarks' default.
	NoiseStrength int
	// RateSteps makes the video variable-frame-rate another way than VFR:
	// 25 fps for the first 28% of the duration, 30 fps to 61%, 25 fps
	// after (for 180 s: 25 fps to 50.4 s, 30 fps to 109.8 s), every
	// timestamp exact on a 1/90000 time base. FPS is then ignored.
	RateSteps bool
	// Counter burns the frame number (0 for the first frame) into the
	// picture, over the noise: as text with drawtext when the ffmpeg build
	// can (HaveDrawtext), otherwise as a 16-bit binary strip of white
	// (1) and black (0) squares, least significant bit first, along the
	// bottom-left edge.
	Counter bool
	// ToneDBFS, when below 0, makes every audio track an exact sine at
	// this peak level (e.g. -12) in both channels, from aevalsrc; 0 keeps
	// the sine source's fixed 1/8 amplitude (-18 dBFS).
	ToneDBFS float64

	// Name is the file stem; default "source".
	Name string
}

// Kinds of video accepted by Spec.Video.
const (
	VideoH264            = "h264"
	VideoHEVC10          = "hevc10"
	VideoVP9             = "vp9"
	VideoMPEG2Interlaced = "mpeg2-interlaced"
	VideoH264Interlaced  = "h264-interlaced"
	VideoNone            = "none"
)

// Audio codecs accepted by Spec.Audio.
const (
	AudioAAC  = "aac"
	AudioOpus = "opus"
	AudioMP3  = "mp3"
	AudioNone = "none"
)

// sourceGOP is the keyframe interval of generated sources, in frames: prime,
// so keyframes line up with no segment or GOP boundary a transcoder picks.
const sourceGOP = 37

// HaveFFmpeg reports whether the ffmpeg binary is on PATH.
func HaveFFmpeg() bool {
	_, err := exec.LookPath("ffmpeg")
	return err == nil
}

// haveFFprobe reports whether the ffprobe binary is on PATH.
func haveFFprobe() bool {
	_, err := exec.LookPath("ffprobe")
	return err == nil
}

// withDefaults returns s with every empty field set to its default.
func (s Spec) withDefaults() Spec {
	if s.Width == 0 {
		s.Width = 320
	}
	if s.Height == 0 {
		s.Height = 240
	}
	if s.Duration == 0 {
		s.Duration = 2
	}
	if s.FPS == "" {
		s.FPS = "30"
	}
	if s.Container == "" {
		s.Container = "mp4"
	}
	if s.Video == "" {
		s.Video = VideoH264
		if s.Container == "webm" {
			s.Video = VideoVP9
		}
	}
	if s.Audio == "" {
		s.Audio = AudioAAC
		if s.Container == "webm" {
			s.Audio = AudioOpus
		}
	}
	if s.AudioTracks == 0 {
		s.AudioTracks = 1
	}
	if s.Name == "" {
		s.Name = "source"
	}
	return s
}

// FileName is the name (stem and extension) GenerateTo gives the clip.
func (s Spec) FileName() string {
	s = s.withDefaults()
	return s.Name + "." + s.Container
}

// muxers maps Spec.Container to FFmpeg's muxer name.
var muxers = map[string]string{
	"mp4":  "mp4",
	"mov":  "mov",
	"mkv":  "matroska",
	"webm": "webm",
	"ts":   "mpegts",
}

// validate reports the first thing wrong with a defaulted spec.
func (s Spec) validate() error {
	if s.Width <= 0 || s.Height <= 0 || s.Width%2 != 0 || s.Height%2 != 0 {
		return fmt.Errorf("testmedia: size %dx%d must be positive and even", s.Width, s.Height)
	}
	if s.Duration <= 0 || math.IsNaN(s.Duration) || math.IsInf(s.Duration, 0) {
		return fmt.Errorf("testmedia: duration %v must be positive", s.Duration)
	}
	if _, _, err := parseRate(s.FPS); err != nil {
		return err
	}
	if _, ok := muxers[s.Container]; !ok {
		return fmt.Errorf("testmedia: unknown container %q", s.Container)
	}
	switch s.Video {
	case VideoH264, VideoHEVC10, VideoVP9, VideoMPEG2Interlaced, VideoH264Interlaced, VideoNone:
	default:
		return fmt.Errorf("testmedia: unknown video kind %q", s.Video)
	}
	switch s.Audio {
	case AudioAAC, AudioOpus, AudioMP3, AudioNone:
	default:
		return fmt.Errorf("testmedia: unknown audio codec %q", s.Audio)
	}
	if s.Video == VideoNone && s.Audio == AudioNone {
		return errors.New("testmedia: a clip needs video or audio")
	}
	if s.AudioTracks < 0 {
		return fmt.Errorf("testmedia: %d audio tracks", s.AudioTracks)
	}
	switch s.Rotate {
	case 0:
	case 90, 180, 270:
		if s.Container != "mp4" && s.Container != "mov" {
			return fmt.Errorf("testmedia: rotation needs an mp4 or mov container, not %q", s.Container)
		}
		if s.Video == VideoNone {
			return errors.New("testmedia: rotation needs video")
		}
	default:
		return fmt.Errorf("testmedia: rotation %d is not 0, 90, 180 or 270", s.Rotate)
	}
	if s.SAR != "" {
		if _, _, err := parseRatio(s.SAR); err != nil {
			return err
		}
	}
	if s.RateSteps && (s.VFR || s.interlaced() || s.Video == VideoNone) {
		return errors.New("testmedia: RateSteps needs progressive video and excludes VFR")
	}
	if s.Counter && s.Video == VideoNone {
		return errors.New("testmedia: a frame counter needs video")
	}
	if s.ToneDBFS > 0 || math.IsNaN(s.ToneDBFS) || math.IsInf(s.ToneDBFS, 0) {
		return fmt.Errorf("testmedia: tone level %v dBFS: want below 0", s.ToneDBFS)
	}
	return nil
}

// parseRate parses "30" or "30000/1001" into a positive fraction.
func parseRate(r string) (num, den int, err error) {
	n, d, ok := strings.Cut(r, "/")
	if !ok {
		d = "1"
	}
	num, err1 := strconv.Atoi(n)
	den, err2 := strconv.Atoi(d)
	if err1 != nil || err2 != nil || num <= 0 || den <= 0 {
		return 0, 0, fmt.Errorf("testmedia: bad frame rate %q", r)
	}
	return num, den, nil
}

// parseRatio parses "4:3" (or "4/3") into a positive ratio.
func parseRatio(r string) (num, den int, err error) {
	n, d, ok := strings.Cut(strings.ReplaceAll(r, "/", ":"), ":")
	if !ok {
		return 0, 0, fmt.Errorf("testmedia: bad aspect ratio %q", r)
	}
	num, err1 := strconv.Atoi(n)
	den, err2 := strconv.Atoi(d)
	if err1 != nil || err2 != nil || num <= 0 || den <= 0 {
		return 0, 0, fmt.Errorf("testmedia: bad aspect ratio %q", r)
	}
	return num, den, nil
}

// seconds formats a duration for the ffmpeg command line.
func seconds(d float64) string { return strconv.FormatFloat(d, 'f', -1, 64) }

// ffmpegArgs builds the ffmpeg arguments that encode a defaulted, validated
// spec into out. Rotation is not part of it: see GenerateTo.
func ffmpegArgs(s Spec, out string) []string {
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}
	dur := seconds(s.Duration)
	tracks := 0
	if s.Audio != AudioNone {
		tracks = s.AudioTracks
	}
	args = append(args, inputArgs(s, tracks, dur)...)
	args = append(args, mapArgs(s, tracks)...)
	if s.Video != VideoNone {
		args = append(args, videoArgs(s)...)
	}
	if tracks > 0 {
		args = append(args, audioArgs(s)...)
	}
	return append(args, "-t", dur, "-f", muxers[s.Container], out)
}

// interlaced reports whether s is of an interlaced video kind.
func (s Spec) interlaced() bool {
	return s.Video == VideoMPEG2Interlaced || s.Video == VideoH264Interlaced
}

// inputArgs returns the lavfi inputs of dur seconds: the picture first,
// then one tone per audio track.
func inputArgs(s Spec, tracks int, dur string) []string {
	var args []string
	if s.Video != VideoNone {
		rate := s.FPS
		if s.interlaced() {
			// Two progressive frames are woven into one interlaced frame.
			num, den, _ := parseRate(s.FPS)
			rate = fmt.Sprintf("%d/%d", 2*num, den)
		}
		if s.RateSteps {
			rate = "30" // the fastest step: enough frames for any mix
		}
		args = append(args, "-f", "lavfi", "-i",
			fmt.Sprintf("testsrc2=size=%dx%d:rate=%s:duration=%s", s.Width, s.Height, rate, dur))
	}
	for i := range tracks {
		freq := 440 + 220*i
		src := fmt.Sprintf("sine=frequency=%d:sample_rate=48000:duration=%s", freq, dur)
		if s.ToneDBFS < 0 {
			amp := strconv.FormatFloat(math.Pow(10, s.ToneDBFS/20), 'f', 7, 64)
			src = fmt.Sprintf("aevalsrc=%s*sin(2*PI*%d*t):sample_rate=48000:channel_layout=stereo:duration=%s", amp, freq, dur)
		}
		args = append(args, "-f", "lavfi", "-i", src)
	}
	return args
}

// mapArgs maps the inputs inputArgs returns to output streams, in order.
func mapArgs(s Spec, tracks int) []string {
	var args []string
	first := 0
	if s.Video != VideoNone {
		args = append(args, "-map", "0:v")
		first = 1
	}
	for i := range tracks {
		args = append(args, "-map", fmt.Sprintf("%d:a", first+i))
	}
	return args
}

// videoArgs returns the video filters and encoder options of a spec with
// video.
func videoArgs(s Spec) []string {
	var args []string
	if filters := videoFilters(s); len(filters) > 0 {
		args = append(args, "-vf", strings.Join(filters, ","))
	}
	if s.VFR {
		args = append(args, "-fps_mode", "vfr")
	}
	if s.RateSteps {
		// The encoder's time base would be 1/30 (the picture's nominal
		// rate), putting 25 fps frames on a 1/30 s grid where some collide
		// and are dropped: keep the filters' 1/90000.
		args = append(args, "-fps_mode", "vfr", "-enc_time_base:v", "1/90000")
	}
	return append(args, videoEncoderArgs(s)...)
}

// videoFilters returns the filters that give the picture its noise, frame
// drops (VFR), interlacing and sample aspect ratio.
func videoFilters(s Spec) []string {
	var filters []string
	if s.RateSteps {
		filters = append(filters, rateStepsFilters(s.Duration)...)
	}
	if s.Noise {
		strength := s.NoiseStrength
		if strength <= 0 {
			strength = 30
		}
		filters = append(filters, fmt.Sprintf("noise=alls=%d:allf=t+u", strength))
	}
	if s.VFR {
		// random(0) is a deterministic generator seeded from 0; the first
		// frame is always kept so the stream starts at zero.
		filters = append(filters, "select='eq(n,0)+gte(random(0),0.3)'")
	}
	if s.Counter {
		filters = append(filters, counterFilters(s.Height)...)
	}
	if s.interlaced() {
		filters = append(filters, "tinterlace=mode=merge", "setfield=tff")
	}
	if s.SAR != "" {
		num, den, _ := parseRatio(s.SAR)
		filters = append(filters, fmt.Sprintf("setsar=%d/%d", num, den))
	}
	return filters
}

// videoEncoderArgs returns the encoder options of s.Video, ending with the
// pixel format (s.PixFmt, else the kind's default).
func videoEncoderArgs(s Spec) []string {
	var args []string
	pix := s.PixFmt
	gop := strconv.Itoa(sourceGOP)
	switch s.Video {
	case VideoH264, VideoH264Interlaced:
		if pix == "" {
			pix = "yuv420p"
		}
		args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-g", gop, "-crf", "23")
		args = append(args, bitrateCap(s)...)
		if s.Video == VideoH264Interlaced {
			args = append(args, "-flags", "+ildct+ilme")
		}
	case VideoHEVC10:
		if pix == "" {
			pix = "yuv420p10le"
		}
		args = append(args, "-c:v", "libx265", "-preset", "ultrafast", "-crf", "26",
			"-x265-params", "log-level=error:keyint="+gop+":min-keyint="+gop)
		args = append(args, bitrateCap(s)...)
		if s.Container == "mp4" || s.Container == "mov" {
			args = append(args, "-tag:v", "hvc1")
		}
	case VideoVP9:
		if pix == "" {
			pix = "yuv420p"
		}
		args = append(args, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
			"-row-mt", "1", "-g", gop, "-b:v", strconv.Itoa(capBits(s)/4))
	case VideoMPEG2Interlaced:
		if pix == "" {
			pix = "yuv420p"
		}
		args = append(args, "-c:v", "mpeg2video", "-q:v", "4", "-g", gop,
			"-flags", "+ildct+ilme", "-top", "1")
	}
	return append(args, "-pix_fmt", pix)
}

// audioArgs returns the audio encoder options of a spec with audio tracks.
func audioArgs(s Spec) []string {
	var args []string
	switch s.Audio {
	case AudioAAC:
		args = append(args, "-c:a", "aac", "-b:a", "128000")
	case AudioOpus:
		args = append(args, "-c:a", "libopus", "-b:a", "96000")
	case AudioMP3:
		args = append(args, "-c:a", "libmp3lame", "-b:a", "128000")
	}
	return append(args, "-ac", "2", "-ar", "48000")
}

// capBits is a sane peak video bitrate for the spec: 0.3 bit per pixel per
// frame (about 18.7 Mbit/s at 1080p30), which keeps noisy sources at
// mezzanine-like rates instead of the 130 Mbit/s ultrafast would emit.
func capBits(s Spec) int {
	num, den, _ := parseRate(s.FPS)
	return int(0.3 * float64(s.Width*s.Height) * float64(num) / float64(den))
}

// bitrateCap returns VBV options limiting the bitrate to capBits.
func bitrateCap(s Spec) []string {
	c := capBits(s)
	return []string{"-maxrate", strconv.Itoa(c), "-bufsize", strconv.Itoa(2 * c)}
}

// runFFmpeg runs ffmpeg with args and returns an error carrying its stderr.
func runFFmpeg(args []string) error {
	cmd := exec.Command("ffmpeg", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ffmpeg %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// GenerateTo writes the clip s describes into dir and returns its path
// (dir/Name.Container). It returns ErrNoFFmpeg when ffmpeg is missing, and
// ffmpeg's command line and stderr when it fails.
func GenerateTo(dir string, s Spec) (string, error) {
	s = s.withDefaults()
	if err := s.validate(); err != nil {
		return "", err
	}
	if !HaveFFmpeg() {
		return "", ErrNoFFmpeg
	}
	out := filepath.Join(dir, s.FileName())
	if s.Rotate == 0 {
		if err := runFFmpeg(ffmpegArgs(s, out)); err != nil {
			return "", fmt.Errorf("testmedia: generate %s: %w", out, err)
		}
		return out, nil
	}
	// FFmpeg 5.1's CLI turns the legacy "rotate" tag into a display matrix
	// only when the video is stream-copied, so encode first, then remux.
	tmp := filepath.Join(dir, s.Name+".unrotated."+s.Container)
	if err := runFFmpeg(ffmpegArgs(s, tmp)); err != nil {
		return "", fmt.Errorf("testmedia: generate %s: %w", out, err)
	}
	defer os.Remove(tmp)
	if err := runFFmpeg(rotateArgs(tmp, out, s.Rotate)); err != nil {
		return "", fmt.Errorf("testmedia: rotate %s: %w", out, err)
	}
	return out, nil
}

// rotateArgs builds the ffmpeg arguments that copy in to out with a display
// rotation of deg degrees.
func rotateArgs(in, out string, deg int) []string {
	return []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", in,
		"-map", "0", "-c", "copy", "-metadata:s:v:0", "rotate=" + strconv.Itoa(deg), out}
}

// BenchTools checks what a benchmark against the ffmpeg CLI needs: the
// hlsfleet binary at path (made absolute) and the ffmpeg CLI on PATH.
func BenchTools(path string) (string, error) {
	fleet, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("hlsfleet binary: %w", err)
	}
	if _, err := os.Stat(fleet); err != nil {
		return "", fmt.Errorf("hlsfleet binary (build it with `make build`): %w", err)
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return "", fmt.Errorf("the baseline needs the ffmpeg CLI: %w", err)
	}
	return fleet, nil
}
