package ladders

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/hlsfleet/hlsfleet/fault"

	"gopkg.in/yaml.v3"
)

// ErrInvalid is wrapped by every parse and validation error.
var ErrInvalid = fault.New(fault.Input, "invalid ladder")

// ErrUnknownLadder is returned by Lookup and Load for a name that is neither a
// preset nor (for Load) an existing file.
var ErrUnknownLadder = fault.New(fault.Input, "unknown ladder")

// Rational is an exact ratio such as a frame rate (30000/1001) or a sample
// aspect ratio. The zero value means unknown.
type Rational struct{ Num, Den int }

// Float returns Num/Den, or 0 when Den is 0.
func (r Rational) Float() float64 {
	if r.Den == 0 {
		return 0
	}
	return float64(r.Num) / float64(r.Den)
}

// RateFloat reads a rate written "30000/1001" or "25" (as ffprobe and
// VideoInfo.FrameRate give it) as a number; 0 when it is not one or its
// denominator is 0.
func RateFloat(s string) float64 {
	n, d, ok := strings.Cut(s, "/")
	num, err := strconv.ParseFloat(n, 64)
	if err != nil {
		return 0
	}
	if !ok {
		return num
	}
	den, err := strconv.ParseFloat(d, 64)
	if err != nil || den == 0 {
		return 0
	}
	return num / den
}

// String returns "Num/Den".
func (r Rational) String() string {
	return strconv.Itoa(r.Num) + "/" + strconv.Itoa(r.Den)
}

// Video holds the ladder-wide video encoder settings.
type Video struct {
	Codec   string `json:"codec" yaml:"codec"`     // h264 or hevc
	Preset  string `json:"preset" yaml:"preset"`   // x264 preset name, ultrafast..placebo
	Profile string `json:"profile" yaml:"profile"` // h264: baseline, main, high; hevc: main
}

// Audio holds the audio encoder settings, shared by every rendition.
type Audio struct {
	Codec      string `json:"codec" yaml:"codec"` // aac
	BitrateBPS int64  `json:"bitrate_bps" yaml:"bitrate_bps"`
	Channels   int    `json:"channels" yaml:"channels"`
	SampleRate int    `json:"sample_rate,omitempty" yaml:"sample_rate,omitempty"`
}

// Rendition is one rung of a ladder.
type Rendition struct {
	// Name is the rendition's folder name; default "<height>p".
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Height is the short side of the output frame in pixels.
	Height int `json:"height" yaml:"height"`
	// Width, when set, is the long side; normally it is derived from the
	// source's display aspect ratio (see the package doc).
	Width       int   `json:"width,omitempty" yaml:"width,omitempty"`
	BitrateBPS  int64 `json:"bitrate_bps" yaml:"bitrate_bps"`
	MaxrateBPS  int64 `json:"maxrate_bps,omitempty" yaml:"maxrate_bps,omitempty"`
	BufsizeBits int64 `json:"bufsize_bits,omitempty" yaml:"bufsize_bits,omitempty"`
	// Codec, Profile and Preset override the ladder's video settings.
	Codec   string `json:"codec,omitempty" yaml:"codec,omitempty"`
	Profile string `json:"profile,omitempty" yaml:"profile,omitempty"`
	Preset  string `json:"preset,omitempty" yaml:"preset,omitempty"`
	// FPSMax caps the output frame rate; 0 means the global cap of 60.
	FPSMax float64 `json:"fps_max,omitempty" yaml:"fps_max,omitempty"`
}

// Ladder is a named set of renditions with shared encoder settings.
type Ladder struct {
	Name           string      `json:"name" yaml:"name"`
	SegmentSeconds float64     `json:"segment_seconds" yaml:"segment_seconds"`
	GOPSeconds     float64     `json:"gop_seconds" yaml:"gop_seconds"`
	Video          Video       `json:"video" yaml:"video"`
	Audio          Audio       `json:"audio" yaml:"audio"`
	Renditions     []Rendition `json:"renditions" yaml:"renditions"`
	// MP4Rendition names the rung ("720p", or a height "720") of which a
	// progressive MP4 is written next to the HLS; empty = none.
	MP4Rendition string `json:"mp4_rendition,omitempty" yaml:"mp4_rendition,omitempty"`
	// QualityGate, when set, drops rungs that add too little quality.
	QualityGate *QualityGate `json:"quality_gate,omitempty" yaml:"quality_gate,omitempty"`
	// ChunkSeconds, when set, is how long the chunks of a long VOD job with
	// this ladder are (issue H: a job longer than two chunks is split into
	// chunk jobs that workers transcode in parallel): 0 means never chunk.
	// A job's own chunk_seconds wins over it; without either the worker's
	// --chunk-seconds applies. A length that is not a whole number of
	// segments is rounded up to the next one (job.PlanChunks), so a job
	// that overrides segment_seconds still gets whole segments per chunk.
	ChunkSeconds *float64 `json:"chunk_seconds,omitempty" yaml:"chunk_seconds,omitempty"`
}

// HasRung reports whether choice names a rendition: its name ("720p") or
// its height ("720").
func (l *Ladder) HasRung(choice string) bool {
	h, err := strconv.Atoi(strings.TrimSuffix(choice, "p"))
	for _, r := range l.Renditions {
		if r.Name == choice || (err == nil && r.Height == h) {
			return true
		}
	}
	return false
}

// QualityGate drops a rung whose mean SSIM against the source is less than
// MinSSIMGain above the next lower rung kept (see job.Quality).
type QualityGate struct {
	MinSSIMGain float64 `json:"min_ssim_gain" yaml:"min_ssim_gain"`
}

// Limits and defaults.
const (
	minHeight       = 16
	maxDimension    = 8192
	minSegment      = 1.0  // seconds; job.MinSegmentSeconds
	maxSegment      = 20.0 // seconds; job.MaxSegmentSeconds
	maxRenditions   = 16
	maxFPS          = 120.0
	maxBitrate      = 1_000_000_000
	minAudioBitrate = 16_000
	maxAudioBitrate = 512_000
	maxNameLen      = 64
	maxChunk        = 3600.0 // seconds; job.MaxChunkSeconds

	defaultSegment      = 4.0
	defaultGOP          = 2.0
	defaultCodec        = "h264"
	defaultPreset       = "veryfast"
	defaultAudioCodec   = "aac"
	defaultAudioBitrate = 128_000
	defaultChannels     = 2
	defaultSampleRate   = 48_000
)

var (
	codecProfiles = map[string][]string{
		"h264": {"baseline", "main", "high"},
		"hevc": {"main"},
	}
	defaultProfiles = map[string]string{"h264": "high", "hevc": "main"}
	x264Presets     = []string{"ultrafast", "superfast", "veryfast", "faster", "fast",
		"medium", "slow", "slower", "veryslow", "placebo"}
	aacSampleRates = []int{8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000}
)

// Parse decodes a ladder from JSON (when the first non-blank byte is '{') or
// YAML, rejecting unknown fields, then applies defaults and validates it.
// Every error wraps ErrInvalid.
func Parse(data []byte) (*Ladder, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty document", ErrInvalid)
	}
	var l Ladder
	var err error
	if trimmed[0] == '{' {
		err = decodeJSON(data, &l)
	} else {
		err = decodeYAML(data, &l)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	l.applyDefaults()
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return &l, nil
}

func decodeJSON(data []byte, l *Ladder) error {
	// First the exact field names (encoding/json matches them without regard
	// to case and keeps the last of duplicate keys), with the field's path.
	dec := json.NewDecoder(bytes.NewReader(data))
	err := checkKeys(dec, reflect.TypeFor[Ladder](), "")
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			err = nil
		} else if err == nil {
			err = errors.New("json: data after the ladder object")
		}
	}
	if err == nil {
		dec = json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		err = dec.Decode(l)
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return fmt.Errorf("json: %s: %s is not a valid %s", te.Field, te.Value, te.Type)
	case errors.As(err, &se):
		line, col := position(data, se.Offset)
		return fmt.Errorf("json: line %d column %d: %v", line, col, se)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return errors.New("json: unexpected end of document")
	}
	return err
}

// checkKeys reads one JSON value from dec and checks that every object key is
// a field of t (by its exact json tag) and appears once. A nil t skips.
func checkKeys(dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		isStruct := t != nil && t.Kind() == reflect.Struct
		fields := map[string]reflect.Type{}
		if isStruct {
			for f := range t.Fields() {
				if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
					fields[name] = f.Type
				}
			}
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			fieldPath := key
			if path != "" {
				fieldPath = path + "." + key
			}
			ft, ok := fields[key]
			if isStruct && !ok {
				hint := ""
				for name := range fields {
					if strings.EqualFold(name, key) {
						hint = " (field names are case-sensitive)"
					}
				}
				return fmt.Errorf("json: unknown field %q%s", fieldPath, hint)
			}
			if seen[key] {
				return fmt.Errorf("json: duplicate field %q", fieldPath)
			}
			seen[key] = true
			if err := checkKeys(dec, ft, fieldPath); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	case json.Delim('['):
		var et reflect.Type
		if t != nil && t.Kind() == reflect.Slice {
			et = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := checkKeys(dec, et, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	}
	return nil
}

func decodeYAML(data []byte, l *Ladder) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(l); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("yaml: empty document")
		}
		// yaml.v3 lists several problems on separate lines; keep one line.
		head, rest, _ := strings.Cut(err.Error(), "\n")
		var more []string
		for _, line := range strings.Split(rest, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				more = append(more, line)
			}
		}
		if len(more) > 0 {
			head += " " + strings.Join(more, "; ")
		}
		return errors.New(head)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("yaml: more than one document")
	}
	return nil
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// applyDefaults fills every zero field that has a default.
func (l *Ladder) applyDefaults() {
	if l.SegmentSeconds == 0 {
		l.SegmentSeconds = defaultSegment
	}
	if l.GOPSeconds == 0 {
		l.GOPSeconds = defaultGOP
	}
	if l.Video.Codec == "" {
		l.Video.Codec = defaultCodec
	}
	if l.Video.Preset == "" {
		l.Video.Preset = defaultPreset
	}
	if l.Video.Profile == "" {
		l.Video.Profile = defaultProfiles[l.Video.Codec]
	}
	if l.Audio.Codec == "" {
		l.Audio.Codec = defaultAudioCodec
	}
	if l.Audio.BitrateBPS == 0 {
		l.Audio.BitrateBPS = defaultAudioBitrate
	}
	if l.Audio.Channels == 0 {
		l.Audio.Channels = defaultChannels
	}
	if l.Audio.SampleRate == 0 {
		l.Audio.SampleRate = defaultSampleRate
	}
	for i := range l.Renditions {
		r := &l.Renditions[i]
		if r.Name == "" {
			r.Name = strconv.Itoa(r.Height) + "p"
		}
		if r.MaxrateBPS == 0 && r.BitrateBPS > 0 && r.BitrateBPS <= maxBitrate {
			r.MaxrateBPS = (r.BitrateBPS*107 + 50) / 100
		}
		if r.BufsizeBits == 0 && r.BitrateBPS > 0 && r.BitrateBPS <= maxBitrate {
			r.BufsizeBits = r.BitrateBPS * 3 / 2
		}
	}
}

// resolved returns the rung's codec, profile and preset: its own override,
// else the ladder's. A rung that switches codec without naming a profile gets
// that codec's default profile.
func (l *Ladder) resolved(r Rendition) (codec, profile, preset string) {
	codec, profile, preset = l.Video.Codec, l.Video.Profile, l.Video.Preset
	if r.Codec != "" && r.Codec != codec {
		codec = r.Codec
		profile = defaultProfiles[codec]
	}
	if r.Profile != "" {
		profile = r.Profile
	}
	if r.Preset != "" {
		preset = r.Preset
	}
	return codec, profile, preset
}

// fieldError is one validation problem at a field path.
type fieldError struct{ path, msg string }

func (e *fieldError) Error() string { return e.path + ": " + e.msg }
func (e *fieldError) Unwrap() error { return ErrInvalid }

// validationError joins every problem found in one ladder on a single line.
type validationError struct {
	ladder   string
	problems []error
}

func (e *validationError) Error() string {
	parts := make([]string, len(e.problems))
	for i, p := range e.problems {
		parts[i] = p.Error()
	}
	head := ErrInvalid.Error()
	if e.ladder != "" {
		head += " " + strconv.Quote(e.ladder)
	}
	return head + ": " + strings.Join(parts, "; ")
}

func (e *validationError) Unwrap() []error { return e.problems }

// Validate checks the ladder as it stands (defaults are not applied) and
// reports every problem at once. Each problem wraps ErrInvalid and names its
// field path, e.g. "renditions[2].height: 9000 is above 8192".
func (l *Ladder) Validate() error {
	var ps problems
	l.checkTiming(&ps)
	ps.checkVideo("video.", l.Video.Codec, l.Video.Profile, l.Video.Preset)
	if g := l.QualityGate; g != nil && !(g.MinSSIMGain > 0 && g.MinSSIMGain < 1) {
		ps.add("quality_gate.min_ssim_gain", "%v is not in (0, 1)", g.MinSSIMGain)
	}
	if l.MP4Rendition != "" && !l.HasRung(l.MP4Rendition) {
		ps.add("mp4_rendition", "%q names no rendition (want a name such as 720p or a height such as 720)", l.MP4Rendition)
	}
	l.Audio.check(&ps)
	if len(l.Renditions) == 0 {
		ps.add("renditions", "at least one rendition is required")
	} else if len(l.Renditions) > maxRenditions {
		ps.add("renditions", "%d renditions: at most %d", len(l.Renditions), maxRenditions)
	}
	seen := make(map[string]int) // rendition name -> index of its first use
	for i, r := range l.Renditions {
		p := fmt.Sprintf("renditions[%d].", i)
		r.checkSize(&ps, p)
		if msg := checkName(r.Name); msg != "" {
			ps.add(p+"name", "%q %s", r.Name, msg)
		} else if j, dup := seen[r.Name]; dup {
			ps.add(p+"name", "%q is already used by renditions[%d]", r.Name, j)
		} else {
			seen[r.Name] = i
		}
		r.checkRates(&ps, p)
		l.checkOverrides(&ps, p, r)
	}
	if len(ps) == 0 {
		return nil
	}
	return &validationError{ladder: l.Name, problems: ps}
}

// problems collects the validation problems of one ladder.
type problems []error

// add records a problem at field path.
func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, &fieldError{path, fmt.Sprintf(format, args...)})
}

// checkTiming checks segment_seconds and gop_seconds.
func (l *Ladder) checkTiming(ps *problems) {
	if !(l.SegmentSeconds >= minSegment && l.SegmentSeconds <= maxSegment) {
		ps.add("segment_seconds", "%v is not in [%v, %v]", l.SegmentSeconds, minSegment, maxSegment)
	}
	switch {
	case !(l.GOPSeconds > 0):
		ps.add("gop_seconds", "%v is not above 0", l.GOPSeconds)
	case l.GOPSeconds > l.SegmentSeconds:
		ps.add("gop_seconds", "%v is above segment_seconds %v", l.GOPSeconds, l.SegmentSeconds)
	}
	if c := l.ChunkSeconds; c != nil && !(*c == 0 || *c > 0 && *c <= maxChunk) {
		ps.add("chunk_seconds", "%v is not 0 (never chunk) or in (0, %v]", *c, maxChunk)
	}
}

// checkVideo checks a codec, profile and preset, reporting them under
// path+"codec", path+"profile" and path+"preset".
func (ps *problems) checkVideo(path, codec, profile, preset string) {
	profiles, ok := codecProfiles[codec]
	if !ok {
		ps.add(path+"codec", "%q is not one of h264, hevc", codec)
	} else if !slices.Contains(profiles, profile) {
		ps.add(path+"profile", "%q is not valid for %s (want one of %s)", profile, codec, strings.Join(profiles, ", "))
	}
	if !slices.Contains(x264Presets, preset) {
		ps.add(path+"preset", "%q is not one of %s", preset, strings.Join(x264Presets, ", "))
	}
}

// check checks the audio settings.
func (a Audio) check(ps *problems) {
	if a.Codec != "aac" {
		ps.add("audio.codec", "%q is not aac", a.Codec)
	}
	if a.Channels != 1 && a.Channels != 2 {
		ps.add("audio.channels", "%d is not 1 or 2", a.Channels)
	}
	if a.BitrateBPS < minAudioBitrate || a.BitrateBPS > maxAudioBitrate {
		ps.add("audio.bitrate_bps", "%d is not in [%d, %d]", a.BitrateBPS, minAudioBitrate, maxAudioBitrate)
	}
	if a.SampleRate != 0 && !slices.Contains(aacSampleRates, a.SampleRate) {
		ps.add("audio.sample_rate", "%d is not an AAC sample rate", a.SampleRate)
	}
}

// checkSize checks the rung's height and width; p is its path prefix.
func (r Rendition) checkSize(ps *problems, p string) {
	switch {
	case r.Height < minHeight:
		ps.add(p+"height", "%d is below %d", r.Height, minHeight)
	case r.Height > maxDimension:
		ps.add(p+"height", "%d is above %d", r.Height, maxDimension)
	}
	switch {
	case r.Width == 0:
	case r.Width < 0 || r.Width%2 != 0:
		ps.add(p+"width", "%d is not a positive even number", r.Width)
	case r.Width > maxDimension:
		ps.add(p+"width", "%d is above %d", r.Width, maxDimension)
	case r.Width < r.Height:
		ps.add(p+"width", "%d is below height %d (width is the long side)", r.Width, r.Height)
	}
}

// checkRates checks the rung's bitrate, maxrate, buffer size and frame-rate
// cap; p is its path prefix.
func (r Rendition) checkRates(ps *problems, p string) {
	switch {
	case r.BitrateBPS <= 0:
		ps.add(p+"bitrate_bps", "%d is not above 0", r.BitrateBPS)
	case r.BitrateBPS > maxBitrate:
		ps.add(p+"bitrate_bps", "%d is above %d", r.BitrateBPS, maxBitrate)
	case r.MaxrateBPS < r.BitrateBPS:
		ps.add(p+"maxrate_bps", "%d is below bitrate_bps %d", r.MaxrateBPS, r.BitrateBPS)
	}
	if r.MaxrateBPS > 2*maxBitrate {
		ps.add(p+"maxrate_bps", "%d is above %d", r.MaxrateBPS, 2*maxBitrate)
	}
	if r.BufsizeBits < 0 || r.BufsizeBits == 0 && r.BitrateBPS > 0 {
		ps.add(p+"bufsize_bits", "%d is not above 0", r.BufsizeBits)
	}
	if !(r.FPSMax >= 0 && r.FPSMax <= maxFPS) {
		ps.add(p+"fps_max", "%v is not in [0, %v]", r.FPSMax, maxFPS)
	}
}

// checkOverrides checks the video settings a rung overrides, as resolved
// against the ladder's, and reports only what the rung itself gets wrong
// (a bad ladder-wide setting is reported once, under video.); p is the
// rung's path prefix.
func (l *Ladder) checkOverrides(ps *problems, p string, r Rendition) {
	if r.Codec == "" && r.Profile == "" && r.Preset == "" {
		return
	}
	codec, profile, preset := l.resolved(r)
	var found problems
	found.checkVideo(p, codec, profile, preset)
	for _, e := range found {
		field := strings.TrimPrefix(e.(*fieldError).path, p)
		if (field == "codec" && r.Codec != "") ||
			(field == "profile" && (r.Profile != "" || r.Codec != "")) ||
			(field == "preset" && r.Preset != "") {
			*ps = append(*ps, e)
		}
	}
}

// checkName returns why name cannot be a rendition (folder) name, or "".
func checkName(name string) string {
	if name == "" {
		return "is empty"
	}
	if len(name) > maxNameLen {
		return fmt.Sprintf("is longer than %d bytes", maxNameLen)
	}
	if name[0] == '.' || name[0] == '-' {
		return "must not start with '.' or '-'"
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "may hold only letters, digits, '-', '_' and '.'"
		}
	}
	return ""
}
