package job

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Attribute keys of a job made from an S3 event (see Rules.JobFor). Only the
// ones the event carried are set.
const (
	AttrBucket      = "s3.bucket"     // the object's bucket
	AttrKey         = "s3.key"        // the object's key, decoded
	AttrSize        = "s3.size"       // the object's size in bytes, decimal
	AttrETag        = "s3.etag"       // the object's ETag, without quotes
	AttrSequencer   = "s3.sequencer"  // the event's sequencer (orders events on one key)
	AttrVersionID   = "s3.version_id" // the object's version, in a versioned bucket
	AttrEventTime   = "event.time"    // the event's time, RFC 3339, as S3 wrote it
	AttrEventName   = "event.name"    // "ObjectCreated:Put", "Object Created:PutObject", ...
	AttrEventSource = "event.source"  // "aws:s3" (notification), "aws.s3" (EventBridge); "sns+" prefixed when SNS wrapped it
	AttrRegion      = "event.region"  // the bucket's region
	AttrRule        = "rule"          // the index of the rule that made the job
)

// Event is one S3 object-created event, in whichever shape it arrived.
type Event struct {
	Bucket    string    // bucket name
	Key       string    // object key, decoded (never URL-encoded)
	Size      int64     // object size in bytes; -1 when the event did not say
	ETag      string    // object ETag
	Sequencer string    // event sequencer
	VersionID string    // object version ID, if the bucket is versioned
	Time      time.Time // event time; zero when unknown
	RawTime   string    // event time as the event wrote it
	Name      string    // event name, e.g. "ObjectCreated:Put"
	Source    string    // "aws:s3" or "aws.s3", "sns+" prefixed when SNS wrapped it
	Region    string    // AWS region
}

// ID returns the job ID for ev: 32 hex digits of a hash of bucket, key, ETag
// and sequencer, so every delivery of the same event gives the same ID (and a
// second upload of the same key a new one).
func (ev Event) ID() string {
	h := sha256.New()
	for _, s := range []string{ev.Bucket, ev.Key, strings.Trim(ev.ETag, `"`), ev.Sequencer} {
		fmt.Fprintf(h, "%d:%s;", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Rule maps S3 objects to jobs. A rule matches an object when Bucket is
// empty or equal to the object's bucket and the key starts with Prefix.
type Rule struct {
	// Bucket is the bucket this rule matches; empty matches any.
	Bucket string `json:"bucket,omitempty"`
	// Prefix is the key prefix this rule matches; empty matches any key.
	Prefix string `json:"prefix"`
	// Output is the job's output URL template. Placeholders:
	//	{bucket}  the object's bucket
	//	{key}     the object's whole key
	//	{stem}    the key after Prefix, less its extension ("a/b" for "a/b.mp4")
	//	{dir}     the directory of the key after Prefix ("a"; "" at the top)
	//	{name}    the file name less its extension ("b")
	//	{stream}  the live stream's name (live-segment rules only)
	// Runs of '/' in the result are collapsed to one.
	Output string `json:"output"`
	// Ladder is the jobs' ladder preset; empty means DefaultLadder.
	Ladder string `json:"ladder,omitempty"`
	// SegmentType is the jobs' segment type; empty means the default.
	SegmentType string `json:"segment_type,omitempty"`
	// SegmentSeconds is the jobs' segment duration; 0 means the ladder's.
	SegmentSeconds float64 `json:"segment_seconds,omitempty"`
	// Kind is the jobs' kind; empty means KindVOD. For KindLiveSegment the
	// key after Prefix must be <stream>/<sequence>.(ts|m4s|mp4) or
	// <stream>/END; other keys under Prefix are ignored.
	Kind Kind `json:"kind,omitempty"`
	// Ignore makes matching objects make no job (ParseMessage gives
	// ErrIgnore); use it to keep outputs from triggering transcodes.
	Ignore bool `json:"ignore,omitempty"`
	// LiveWindow and LiveEvent set live-segment jobs' Live.Window and
	// Live.Event (live-segment rules only).
	LiveWindow int  `json:"live_window,omitempty"`
	LiveEvent  bool `json:"live_event,omitempty"`
}

// Rules map S3 objects to jobs: the first matching rule wins, and an object
// no rule matches makes no job.
type Rules []Rule

// DefaultRules returns rules that just work with one bucket for sources and
// outputs:
//
//	hls/...                                 ignored (our own outputs)
//	live/<stream>/<seq>.(ts|m4s|mp4)        live-segment job → s3://{bucket}/hls/live/{stream}/
//	live/<stream>/END                       live-segment job with Live.End
//	any other key                           vod job → s3://{bucket}/hls/{stem}/, ladder "default"
func DefaultRules() Rules {
	return Rules{
		{Prefix: "hls/", Ignore: true},
		{Prefix: "live/", Kind: KindLiveSegment, Output: "s3://{bucket}/hls/live/{stream}/", Ladder: DefaultLadder},
		{Prefix: "", Output: "s3://{bucket}/hls/{stem}/", Ladder: DefaultLadder},
	}
}

// ParseRules reads rules from a JSON array, strictly (an unknown field is an
// error), and validates them. Errors wrap ErrInvalid.
func ParseRules(data []byte) (Rules, error) {
	var rs Rules
	if err := decodeStrict(data, &rs, "rules", "array"); err != nil {
		return nil, err
	}
	if err := rs.Validate(); err != nil {
		return nil, err
	}
	return rs, nil
}

// templateVars are the placeholders an output template may use.
var templateVars = []string{"bucket", "key", "stem", "dir", "name", "stream"}

// Validate checks every rule: its kind, bucket, ladder and segment options,
// and that its output template uses only known placeholders and makes a
// valid URL. All problems are reported in one error wrapping ErrInvalid.
func (rs Rules) Validate() error {
	var p []string
	add := func(i int, format string, args ...any) {
		p = append(p, fmt.Sprintf("rules[%d]: ", i)+fmt.Sprintf(format, args...))
	}
	for i, r := range rs {
		switch {
		case r.Kind != "" && !r.Kind.valid():
			add(i, "kind %q is not one of %q, %q, %q", r.Kind, KindVOD, KindLiveSegment, KindChunk)
		case r.Kind == KindChunk:
			add(i, "kind %q: chunk jobs are made by workers from a VOD job's plan, not by rules (use %q)", r.Kind, KindVOD)
		}
		if r.Bucket != "" {
			if why := checkBucket(r.Bucket); why != "" {
				add(i, "bucket %q %s", r.Bucket, why)
			}
		}
		if r.Ignore {
			continue
		}
		if r.Ladder != "" {
			if why := checkName(r.Ladder); why != "" {
				add(i, "ladder %q %s", r.Ladder, why)
			}
		}
		switch r.SegmentType {
		case "", SegmentTS, SegmentFMP4:
		default:
			add(i, "segment_type %q is not %q or %q", r.SegmentType, SegmentTS, SegmentFMP4)
		}
		if s := r.SegmentSeconds; s != 0 {
			if why := SegmentSecondsProblem(s); why != "" {
				add(i, "segment_seconds %s", why)
			}
		}
		if r.Output == "" {
			add(i, "output is missing (an output URL template, e.g. s3://{bucket}/hls/{stem}/)")
			continue
		}
		if r.Kind != KindLiveSegment && (r.LiveWindow != 0 || r.LiveEvent) {
			add(i, "live_window and live_event are for live-segment rules only")
		}
		if r.LiveWindow < 0 || r.LiveWindow > MaxLiveWindow {
			add(i, "live_window %d is not in [0, %d]", r.LiveWindow, MaxLiveWindow)
		}
		if r.Kind != KindLiveSegment && strings.Contains(r.Output, "{stream}") {
			add(i, "output %q uses {stream}, which only live-segment rules have", r.Output)
			continue
		}
		sample := map[string]string{"bucket": "bucket", "key": "dir/key.mp4", "stem": "dir/key",
			"dir": "dir", "name": "key", "stream": "stream"}
		out, err := expand(r.Output, sample)
		if err != nil {
			add(i, "output %q: %v", r.Output, err)
			continue
		}
		if _, why := parseLocation(tidy(out)); why != "" {
			add(i, "output %q does not make a valid URL: %s", r.Output, why)
		}
	}
	if len(p) > 0 {
		return invalid("%s", strings.Join(p, "; "))
	}
	return nil
}

// match returns the index of the first rule matching bucket and key, or -1.
func (rs Rules) match(bucket, key string) int {
	for i, r := range rs {
		if (r.Bucket == "" || r.Bucket == bucket) && strings.HasPrefix(key, r.Prefix) {
			return i
		}
	}
	return -1
}

// JobFor maps one S3 object-created event to a job by the first matching
// rule: ID from ev.ID, SubmittedAt the event's time (now when unknown),
// Attributes recording the event (see the Attr constants). The job is
// validated. It returns an error wrapping ErrIgnore for a folder marker (a
// key ending in '/'), a key no rule matches, an Ignore rule, and a key under
// a live-segment rule that is not a segment or END; an error wrapping
// ErrInvalid when the event or the job it makes is not valid; and a plain
// error when the matching rule's template is broken (fix the rules; see
// Rules.Validate).
func (rs Rules) JobFor(ev Event) (*Job, error) {
	src := "s3://" + ev.Bucket + "/" + ev.Key
	if err := ev.check(src); err != nil {
		return nil, err
	}
	i := rs.match(ev.Bucket, ev.Key)
	if i < 0 {
		return nil, fmt.Errorf("%w: no rule matches %s", ErrIgnore, src)
	}
	r := rs[i]
	if r.Ignore {
		return nil, fmt.Errorf("%w: rule %d (prefix %q) ignores %s", ErrIgnore, i, r.Prefix, src)
	}
	rel := strings.TrimLeft(ev.Key[len(r.Prefix):], "/")
	vars := ev.vars(rel)

	j := &Job{
		Version:        Version,
		ID:             ev.ID(),
		Kind:           r.Kind,
		Source:         src,
		Ladder:         r.Ladder,
		SegmentType:    r.SegmentType,
		SegmentSeconds: r.SegmentSeconds,
		SubmittedAt:    ev.Time.UTC(),
	}
	if j.Kind == "" {
		j.Kind = KindVOD
	}
	if ev.Time.IsZero() {
		j.SubmittedAt = time.Now().UTC().Round(0)
	}
	if j.Kind == KindLiveSegment {
		live, ok := parseLiveKey(rel)
		if !ok {
			return nil, fmt.Errorf("%w: %s is under live prefix %q but is not <stream>/<sequence>.(ts|m4s|mp4) or <stream>/END",
				ErrIgnore, src, r.Prefix)
		}
		live.Window, live.Event = r.LiveWindow, r.LiveEvent
		j.Live = live
		vars["stream"] = live.Stream
	} else if rel == "" {
		return nil, fmt.Errorf("%w: %s has no name after prefix %q", ErrIgnore, src, r.Prefix)
	}
	out, err := expand(r.Output, vars)
	if err != nil {
		return nil, fmt.Errorf("job: rules[%d] output %q: %v (fix the rules)", i, r.Output, err)
	}
	j.Output = tidy(out)
	j.Attributes = ev.attributes(i)
	if err := j.Validate(); err != nil {
		return nil, err
	}
	return j, nil
}

// check returns why ev cannot make a job, if it cannot: ErrInvalid for an
// event without a valid bucket or a key, ErrIgnore for a folder marker. src
// is the object's s3:// URL.
func (ev Event) check(src string) error {
	switch {
	case ev.Bucket == "":
		return invalid("S3 event without a bucket name")
	case checkBucket(ev.Bucket) != "":
		return invalid("S3 event: bucket %q %s", ev.Bucket, checkBucket(ev.Bucket))
	case ev.Key == "":
		return invalid("S3 event for bucket %q without an object key", ev.Bucket)
	case strings.HasSuffix(ev.Key, "/"):
		return fmt.Errorf("%w: %s is a folder marker", ErrIgnore, src)
	}
	return nil
}

// vars returns the output template's variables for ev, whose key
// is rel under the matching rule's prefix (JobFor adds "stream" for a live
// segment).
func (ev Event) vars(rel string) map[string]string {
	ext := path.Ext(rel)
	stem := strings.TrimSuffix(rel, ext)
	if stem == "" || strings.HasSuffix(stem, "/") { // a name that is all extension, like ".mp4"
		stem = rel
	}
	dir := path.Dir(rel)
	if dir == "." {
		dir = ""
	}
	return map[string]string{"bucket": ev.Bucket, "key": ev.Key, "stem": stem, "dir": dir, "name": path.Base(stem)}
}

// attributes returns the Attributes of the job ev makes by rule i: those
// of the Attr constants whose value the event carried.
func (ev Event) attributes(rule int) map[string]string {
	attrs := map[string]string{AttrBucket: ev.Bucket, AttrKey: ev.Key, AttrRule: strconv.Itoa(rule)}
	set := func(k, v string) {
		if v != "" {
			attrs[k] = v
		}
	}
	if ev.Size >= 0 {
		set(AttrSize, strconv.FormatInt(ev.Size, 10))
	}
	set(AttrETag, strings.Trim(ev.ETag, `"`))
	set(AttrSequencer, ev.Sequencer)
	set(AttrVersionID, ev.VersionID)
	set(AttrEventTime, ev.RawTime)
	set(AttrEventName, ev.Name)
	set(AttrEventSource, ev.Source)
	set(AttrRegion, ev.Region)
	return attrs
}

// Live segment file extensions a live-segment rule accepts.
var liveExts = map[string]bool{"ts": true, "m4s": true, "mp4": true}

// maxSeqDigits bounds a live sequence number's digits so it fits an int64.
const maxSeqDigits = 18

// parseLiveKey parses "<stream>/<sequence>.<ext>" or "<stream>/END".
func parseLiveKey(rel string) (*Live, bool) {
	stream, file, ok := strings.Cut(rel, "/")
	if !ok || checkName(stream) != "" || strings.Contains(file, "/") {
		return nil, false
	}
	if file == "END" {
		return &Live{Stream: stream, End: true}, true
	}
	digits, ext, ok := strings.Cut(file, ".")
	if !ok || !liveExts[ext] || digits == "" || len(digits) > maxSeqDigits {
		return nil, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return nil, false
		}
	}
	seq, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return nil, false
	}
	return &Live{Stream: stream, Sequence: seq}, true
}

// expand replaces the {name} placeholders in tmpl with vars.
func expand(tmpl string, vars map[string]string) (string, error) {
	var b strings.Builder
	for {
		open := strings.IndexByte(tmpl, '{')
		if open < 0 {
			if strings.IndexByte(tmpl, '}') >= 0 {
				return "", errors.New("a '}' without '{'")
			}
			b.WriteString(tmpl)
			return b.String(), nil
		}
		end := strings.IndexByte(tmpl[open:], '}')
		if end < 0 {
			return "", errors.New("a '{' without '}'")
		}
		name := tmpl[open+1 : open+end]
		v, ok := vars[name]
		if !ok {
			known := false
			for _, t := range templateVars {
				known = known || t == name
			}
			if !known {
				return "", fmt.Errorf("unknown placeholder {%s} (known: {%s})", name, strings.Join(templateVars, "}, {"))
			}
		}
		if strings.IndexByte(tmpl[:open], '}') >= 0 {
			return "", errors.New("a '}' without '{'")
		}
		b.WriteString(tmpl[:open])
		b.WriteString(v)
		tmpl = tmpl[open+end+1:]
	}
}

// tidy collapses runs of '/' after a URL's "scheme://".
func tidy(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	for strings.Contains(rest, "//") {
		rest = strings.ReplaceAll(rest, "//", "/")
	}
	return scheme + "://" + rest
}
