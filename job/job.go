package job

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hlsfleet/hlsfleet/fault"
)

// Version is the job document version this build writes and reads.
const Version = 1

// MaxSize is the largest marshalled job, in bytes: the SQS message size limit
// hlsfleet designs for (256 KiB).
const MaxSize = 256 << 10

// DefaultLadder is the ladder preset a job with no ladder uses.
const DefaultLadder = "default"

// MinSegmentSeconds and MaxSegmentSeconds bound the segment duration a job
// (or a rule, a ladder, live push) may ask for: shorter segments cost an IDR
// each (a 1e-9 s request once meant one segment per frame, ~44x the CPU),
// and Apple's authoring rules target 6 s.
const (
	MinSegmentSeconds = 1
	MaxSegmentSeconds = 20
)

// SegmentSecondsProblem says what is wrong with a segment duration s, or
// "" when it is in [MinSegmentSeconds, MaxSegmentSeconds].
func SegmentSecondsProblem(s float64) string {
	if s >= MinSegmentSeconds && s <= MaxSegmentSeconds {
		return ""
	}
	return fmt.Sprintf("%v is not in [%d, %d] seconds", s, MinSegmentSeconds, MaxSegmentSeconds)
}

// Segment types a job may ask for. An empty SegmentType means the pipeline's
// default.
const (
	SegmentTS   = "ts"   // MPEG-TS segments
	SegmentFMP4 = "fmp4" // fragmented MP4 segments with an init.mp4
)

// Kind says what work a job asks for.
type Kind string

// The kinds of job.
const (
	KindVOD         Kind = "vod"          // transcode a whole video into an HLS ladder
	KindLiveSegment Kind = "live-segment" // transcode one segment of a live stream; Job.Live says which
	KindChunk       Kind = "chunk"        // transcode one chunk of a long video
)

// valid reports whether k is one of the kinds above.
func (k Kind) valid() bool {
	return k == KindVOD || k == KindLiveSegment || k == KindChunk
}

// sentinel is an error value that wraps a parent, so that ErrInvalid can be
// both itself and ErrPermanent.
type sentinel struct {
	msg    string
	parent error
}

// Error returns the sentinel's message.
func (e *sentinel) Error() string { return e.msg }

// Unwrap returns the parent sentinel, for errors.Is.
func (e *sentinel) Unwrap() error { return e.parent }

var (
	// ErrPermanent marks an error that retrying cannot help: the worker asks
	// errors.Is(err, job.ErrPermanent) and dead-letters the message at once.
	ErrPermanent = fault.New(fault.Input, "permanent error")

	// ErrInvalid is wrapped by every validation and parse problem of this
	// package. It wraps ErrPermanent.
	ErrInvalid error = &sentinel{msg: "invalid job", parent: ErrPermanent}

	// ErrIgnore is returned by ParseMessage for a message that is understood
	// but asks for no work (the S3 "s3:TestEvent", deletions, keys no rule
	// maps): acknowledge it and drop it. It is not an ErrPermanent.
	ErrIgnore = errors.New("message ignored")
)

// invalid returns an error wrapping ErrInvalid with the formatted reason.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Live identifies the segment of a live stream that a live-segment job
// transcodes.
type Live struct {
	// Stream names the live stream (letters, digits, '-', '_' and '.').
	Stream string `json:"stream"`
	// Sequence is the segment's media sequence number, 0 or more. It is
	// meaningless when End is set.
	Sequence int64 `json:"sequence"`
	// End marks the end of the stream: the job closes the stream's playlists
	// (EXT-X-ENDLIST) rather than transcoding a segment.
	End bool `json:"end,omitempty"`
	// Window is the live playlists' sliding window in segments; 0 means the
	// default (6). Event asks for EVENT playlists that keep every segment.
	// The stream's first segment fixes both for the whole stream.
	Window int  `json:"window,omitempty"`
	Event  bool `json:"event,omitempty"`
}

// MaxLiveWindow is the largest Live.Window.
const MaxLiveWindow = 1000

// Job is the versioned document that travels between components.
type Job struct {
	// Version is the document version; this build reads only Version.
	Version int `json:"version"`
	// ID names this job in logs, metrics and the dead-letter queue. It is not
	// what makes work idempotent: see IdempotencyKey.
	ID string `json:"id"`
	// Kind says what work the job asks for.
	Kind Kind `json:"kind"`
	// Source is the input: s3://bucket/key or file:///abs/path.
	Source string `json:"source"`
	// Output is the URL prefix that receives master.m3u8 and the renditions:
	// s3://bucket/prefix or file:///abs/dir.
	Output string `json:"output"`
	// Ladder is a ladder preset name; empty means DefaultLadder.
	Ladder string `json:"ladder,omitempty"`
	// SegmentSeconds is the target segment duration; 0 means the ladder's.
	SegmentSeconds float64 `json:"segment_seconds,omitempty"`
	// SegmentType is SegmentTS or SegmentFMP4; empty means the default.
	SegmentType string `json:"segment_type,omitempty"`
	// Live is set for, and only for, live-segment jobs.
	Live *Live `json:"live,omitempty"`
	// ChunkSeconds is how long the chunks of a long VOD job are, when it is
	// split into chunk jobs that workers transcode in parallel (issue H):
	// nil means the ladder's chunk_seconds, else the worker's default
	// (--chunk-seconds, whose own default is DefaultChunkSeconds); 0 means
	// never chunk this job. It is rounded up to whole segments (PlanChunks).
	ChunkSeconds *float64 `json:"chunk_seconds,omitempty"`
	// Chunk is set for, and only for, chunk jobs: which chunk of which VOD
	// job (see ChunkJob).
	Chunk *ChunkRef `json:"chunk,omitempty"`
	// SubmittedAt is when the job was made (for a job made from an S3 event,
	// the event's time). Zero means unknown.
	SubmittedAt time.Time `json:"submitted_at"`
	// Attributes are free-form notes that travel with the job (for jobs made
	// from events, the event's bucket, key, size, ETag and time; see the Attr
	// constants). They never change the output.
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Option sets an optional field of a job made by New.
type Option func(*Job)

// WithKind sets the job's kind (New's default is KindVOD).
func WithKind(k Kind) Option { return func(j *Job) { j.Kind = k } }

// WithLadder sets the ladder preset name.
func WithLadder(name string) Option { return func(j *Job) { j.Ladder = name } }

// WithSegmentSeconds sets the target segment duration in seconds.
func WithSegmentSeconds(s float64) Option { return func(j *Job) { j.SegmentSeconds = s } }

// WithSegmentType sets the segment type, SegmentTS or SegmentFMP4.
func WithSegmentType(t string) Option { return func(j *Job) { j.SegmentType = t } }

// WithChunkSeconds sets the job's chunk length in seconds (0: never chunk).
func WithChunkSeconds(s float64) Option { return func(j *Job) { j.ChunkSeconds = &s } }

// WithLive makes the job a live-segment job for the given stream segment.
func WithLive(stream string, sequence int64, end bool) Option {
	return func(j *Job) {
		j.Kind = KindLiveSegment
		j.Live = &Live{Stream: stream, Sequence: sequence, End: end}
	}
}

// WithLiveWindow sets a live-segment job's playlist window (segments) and
// EVENT mode; use after WithLive.
func WithLiveWindow(window int, event bool) Option {
	return func(j *Job) {
		if j.Live != nil {
			j.Live.Window, j.Live.Event = window, event
		}
	}
}

// LiveGroup is the FIFO ordering group of a live-segment job (its stream)
// and LiveDedupID its deduplication id (stream and sequence, or END), the
// values an SQS FIFO queue needs; both are "" for other jobs.
func (j *Job) LiveGroup() string {
	if j.Kind != KindLiveSegment || j.Live == nil {
		return ""
	}
	return j.Live.Stream
}

// LiveDedupID: see LiveGroup.
func (j *Job) LiveDedupID() string {
	if j.LiveGroup() == "" {
		return ""
	}
	if j.Live.End {
		return j.Live.Stream + ".END"
	}
	return j.Live.Stream + "." + strconv.FormatInt(j.Live.Sequence, 10)
}

// WithID replaces the random ID New makes.
func WithID(id string) Option { return func(j *Job) { j.ID = id } }

// WithSubmittedAt replaces New's submission time (now).
func WithSubmittedAt(t time.Time) Option { return func(j *Job) { j.SubmittedAt = t } }

// WithAttribute sets one attribute.
func WithAttribute(key, value string) Option {
	return func(j *Job) {
		if j.Attributes == nil {
			j.Attributes = map[string]string{}
		}
		j.Attributes[key] = value
	}
}

// New returns a job for source and output with Version, a random URL-safe
// ID, SubmittedAt (now, UTC) and Kind KindVOD filled in, then applies opts.
// It does not validate: call Validate (or Marshal, which does).
func New(source, output string, opts ...Option) *Job {
	j := &Job{
		Version:     Version,
		ID:          NewID(),
		Kind:        KindVOD,
		Source:      source,
		Output:      output,
		SubmittedAt: time.Now().UTC().Round(0),
	}
	for _, o := range opts {
		o(j)
	}
	return j
}

// NewID returns a random job ID: 32 lowercase hex digits (128 bits).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// LadderName returns the job's ladder preset name, DefaultLadder when empty.
func (j *Job) LadderName() string {
	if j.Ladder == "" {
		return DefaultLadder
	}
	return j.Ladder
}

// Clone returns a deep copy of j.
func (j *Job) Clone() *Job {
	c := *j
	if j.Live != nil {
		l := *j.Live
		c.Live = &l
	}
	if j.ChunkSeconds != nil {
		s := *j.ChunkSeconds
		c.ChunkSeconds = &s
	}
	if j.Chunk != nil {
		r := *j.Chunk
		c.Chunk = &r
	}
	c.Attributes = maps.Clone(j.Attributes)
	return &c
}

// Limits on identifiers.
const (
	maxIDLen   = 128
	maxNameLen = 64
	maxAttrKey = 256
)

// Validate reports whether j is a job this build can run. It checks the
// version, the ID, the kind, the source and output URLs (see ParseLocation;
// a source must name an object, not a prefix), the ladder name, the segment
// and chunk options, the live fields (required for, and only for,
// live-segment jobs), the chunk reference (required for, and only for,
// chunk jobs), the attributes, and the size of the JSON document (at most MaxSize). Every
// problem found is reported in one error wrapping ErrInvalid.
func (j *Job) Validate() error {
	_, err := j.encode()
	return err
}

// problems returns every problem with j's fields, or nil.
func (j *Job) problems() []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	switch {
	case j.Version == 0:
		add("version is missing (this build reads version %d)", Version)
	case j.Version != Version:
		add("version %d is not supported (this build reads version %d)", j.Version, Version)
	}
	if why := checkID(j.ID); why != "" {
		add("id %q %s", j.ID, why)
	}
	if !j.Kind.valid() {
		add("kind %q is not one of %q, %q, %q", j.Kind, KindVOD, KindLiveSegment, KindChunk)
	}
	if j.Source == "" {
		add("source is missing")
	} else if l, err := parseLocation(j.Source); err != "" {
		add("source %q: %s", j.Source, err)
	} else if l.Scheme == SchemeS3 && l.Path == "" {
		add("source %q names a bucket, not an object", j.Source)
	} else if strings.HasSuffix(l.Path, "/") {
		add("source %q ends in '/': it must name an object or file, not a folder", j.Source)
	}
	if j.Output == "" {
		add("output is missing")
	} else if _, err := parseLocation(j.Output); err != "" {
		add("output %q: %s", j.Output, err)
	}
	if j.Ladder != "" {
		if why := checkName(j.Ladder); why != "" {
			add("ladder %q %s", j.Ladder, why)
		}
	}
	if s := j.SegmentSeconds; s != 0 {
		if why := SegmentSecondsProblem(s); why != "" {
			add("segment_seconds %s", why)
		}
	}
	switch j.SegmentType {
	case "", SegmentTS, SegmentFMP4:
	default:
		add("segment_type %q is not %q or %q", j.SegmentType, SegmentTS, SegmentFMP4)
	}
	switch {
	case j.Kind == KindLiveSegment && j.Live == nil:
		add("live is missing: a live-segment job needs live.stream and live.sequence")
	case j.Kind == KindLiveSegment:
		if why := checkName(j.Live.Stream); why != "" {
			add("live.stream %q %s", j.Live.Stream, why)
		}
		if j.Live.Sequence < 0 {
			add("live.sequence %d is negative", j.Live.Sequence)
		}
		if j.Live.Window < 0 || j.Live.Window > MaxLiveWindow {
			add("live.window %d is not in [0, %d]", j.Live.Window, MaxLiveWindow)
		}
	case j.Live != nil && j.Kind.valid():
		add("live is set but kind is %q (only %q jobs have live fields)", j.Kind, KindLiveSegment)
	}
	p = append(p, j.chunkProblems()...)
	if y := j.SubmittedAt.Year(); y < 0 || y > 9999 {
		add("submitted_at %v is outside years 0 to 9999", j.SubmittedAt)
	}
	for k, v := range j.Attributes {
		switch {
		case k == "":
			add("attributes: a key is empty")
		case len(k) > maxAttrKey:
			add("attributes: key %.32q... is longer than %d bytes", k, maxAttrKey)
		case !utf8.ValidString(k):
			add("attributes: key %q is not valid UTF-8", k)
		case !utf8.ValidString(v):
			add("attributes[%q] is not valid UTF-8", k)
		}
	}
	return p
}

// encode validates j and returns its JSON document.
func (j *Job) encode() ([]byte, error) {
	p := j.problems()
	if len(p) == 0 {
		data, err := json.Marshal(j)
		if err != nil {
			p = append(p, err.Error())
		} else if len(data) > MaxSize {
			p = append(p, fmt.Sprintf("the JSON document is %d bytes, over the %d-byte limit", len(data), MaxSize))
		} else {
			return data, nil
		}
	}
	if checkID(j.ID) == "" {
		return nil, invalid("job %s: %s", j.ID, strings.Join(p, "; "))
	}
	return nil, invalid("%s", strings.Join(p, "; "))
}

// Marshal validates j and returns its JSON document.
func (j *Job) Marshal() ([]byte, error) {
	return j.encode()
}

// Parse reads one job document: strict JSON (an unknown field is an error
// that names it, trailing data is an error), an empty kind read as KindVOD,
// then Validate. Every error wraps ErrInvalid.
func Parse(data []byte) (*Job, error) {
	if len(data) > MaxSize {
		return nil, invalid("the job document is %d bytes, over the %d-byte limit", len(data), MaxSize)
	}
	var j Job
	if err := decodeStrict(data, &j, "job document", "object"); err != nil {
		return nil, err
	}
	if j.Kind == "" {
		j.Kind = KindVOD
	}
	if err := j.Validate(); err != nil {
		return nil, err
	}
	return &j, nil
}

// jsonReason turns an encoding/json error into a short reason.
func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("field %q: a JSON %s cannot be a %s", te.Field, te.Value, te.Type)
	}
	if err == io.EOF {
		return "empty document"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// IdempotencyKey returns a stable hex SHA-256 of what determines the job's
// output: kind, source, output (less a trailing '/'), ladder (empty read as
// DefaultLadder), segment seconds and type, and for live-segment jobs the
// stream, sequence and end flag. ID, SubmittedAt and Attributes do not take
// part: two deliveries of the same work give the same key.
func (j *Job) IdempotencyKey() string {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s;", len(s), s) }
	field("hlsfleet-job-v1")
	field(string(j.Kind))
	field(j.Source)
	field(strings.TrimRight(j.Output, "/"))
	field(j.LadderName())
	field(strconv.FormatFloat(j.SegmentSeconds, 'g', -1, 64))
	field(j.SegmentType)
	if j.Live != nil {
		field(j.Live.Stream)
		field(strconv.FormatInt(j.Live.Sequence, 10))
		field(strconv.FormatBool(j.Live.End))
	}
	if j.Chunk != nil {
		field(j.Chunk.Parent)
		field(strconv.Itoa(j.Chunk.Index))
		field(strconv.Itoa(j.Chunk.Count))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkID returns why id cannot be a job ID, or "".
func checkID(id string) string {
	switch {
	case id == "":
		return "is empty"
	case len(id) > maxIDLen:
		return fmt.Sprintf("is longer than %d bytes", maxIDLen)
	case id[0] == '.' || id[0] == '-':
		return "must not start with '.' or '-'"
	case !nameChars(id):
		return "may hold only letters, digits, '-', '_' and '.'"
	}
	return ""
}

// checkName returns why name cannot be a ladder or stream name, or "".
func checkName(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > maxNameLen:
		return fmt.Sprintf("is longer than %d bytes", maxNameLen)
	case name[0] == '.' || name[0] == '-':
		return "must not start with '.' or '-'"
	case !nameChars(name):
		return "may hold only letters, digits, '-', '_' and '.'"
	}
	return ""
}

// nameChars reports whether s holds only ASCII letters, digits, '-', '_'
// and '.'.
func nameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// decodeStrict decodes one JSON value into v: unknown fields and trailing
// data are errors wrapping ErrInvalid, named after what.
func decodeStrict(data []byte, v any, what, kind string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("%s: %s", what, jsonReason(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("%s: trailing data after the JSON %s", what, kind)
	}
	return nil
}
