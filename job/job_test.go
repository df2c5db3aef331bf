package job

import (
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

// validJob returns a job that validates, with fixed ID and time.
func validJob() *Job {
	return New("s3://src-bucket/uploads/clip.mp4", "s3://out-bucket/hls/clip/",
		WithID("job-1"), WithSubmittedAt(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)))
}

func TestNewFillsDefaults(t *testing.T) {
	before := time.Now()
	j := New("file:///in/a.mp4", "file:///out/a")
	if j.Version != Version || j.Kind != KindVOD {
		t.Errorf("New: version %d kind %q, want %d %q", j.Version, j.Kind, Version, KindVOD)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(j.ID) {
		t.Errorf("New: ID %q is not 32 hex digits", j.ID)
	}
	if j.SubmittedAt.Before(before.Add(-time.Second)) || j.SubmittedAt.Location() != time.UTC {
		t.Errorf("New: SubmittedAt %v is not now in UTC", j.SubmittedAt)
	}
	if other := New("file:///in/a.mp4", "file:///out/a"); other.ID == j.ID {
		t.Errorf("two New jobs share ID %q", j.ID)
	}
	if err := j.Validate(); err != nil {
		t.Errorf("New job does not validate: %v", err)
	}
	if j.LadderName() != DefaultLadder {
		t.Errorf("LadderName() = %q, want %q", j.LadderName(), DefaultLadder)
	}
}

func TestNewOptions(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	j := New("s3://b/live/cam1/000001.ts", "s3://b/hls/live/cam1/",
		WithLadder("mobile"), WithSegmentSeconds(2), WithSegmentType(SegmentFMP4),
		WithLive("cam1", 1, false), WithID("fixed"), WithSubmittedAt(at), WithAttribute("who", "test"))
	want := &Job{Version: 1, ID: "fixed", Kind: KindLiveSegment, Source: "s3://b/live/cam1/000001.ts",
		Output: "s3://b/hls/live/cam1/", Ladder: "mobile", SegmentSeconds: 2, SegmentType: "fmp4",
		Live: &Live{Stream: "cam1", Sequence: 1}, SubmittedAt: at, Attributes: map[string]string{"who": "test"}}
	if !jobsEqual(j, want) {
		t.Errorf("New with options:\n got %+v\nwant %+v", j, want)
	}
	if err := j.Validate(); err != nil {
		t.Error(err)
	}
	if k := New("s3://b/k", "s3://b/o", WithKind(KindChunk)); k.Kind != KindChunk {
		t.Errorf("WithKind: %q", k.Kind)
	}
}

func TestErrorsChain(t *testing.T) {
	if !errors.Is(ErrInvalid, ErrPermanent) {
		t.Error("ErrInvalid does not wrap ErrPermanent")
	}
	if errors.Is(ErrIgnore, ErrPermanent) || errors.Is(ErrIgnore, ErrInvalid) {
		t.Error("ErrIgnore must be neither permanent nor invalid")
	}
	err := (&Job{}).Validate()
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrPermanent) {
		t.Errorf("Validate error %v does not wrap ErrInvalid and ErrPermanent", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Job)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(*Job) {}, ""},
		{"file URLs", func(j *Job) { j.Source, j.Output = "file:///data/in/a b.mp4", "file:///data/out" }, ""},
		{"s3 output at bucket root", func(j *Job) { j.Output = "s3://out" }, ""},
		{"s3 output at bucket root slash", func(j *Job) { j.Output = "s3://out/" }, ""},
		{"odd but legal key chars", func(j *Job) { j.Source = "s3://b/a%20b?c#d+e.mp4" }, ""},
		{"unicode key", func(j *Job) { j.Source = "s3://b/vidéos/日本.mp4" }, ""},
		{"legacy bucket name", func(j *Job) { j.Source = "s3://Old_Bucket/k.mp4" }, ""},
		{"dotted names are not dot-dot", func(j *Job) { j.Source = "s3://b/a/..b/c...mp4" }, ""},
		{"live segment", func(j *Job) {
			j.Kind, j.Live = KindLiveSegment, &Live{Stream: "cam1", Sequence: 123}
		}, ""},
		{"live end", func(j *Job) { j.Kind, j.Live = KindLiveSegment, &Live{Stream: "cam1", End: true} }, ""},
		{"chunk", func(j *Job) { j.Kind, j.Chunk = KindChunk, &ChunkRef{Parent: "p", Index: 2, Count: 3} }, ""},
		{"chunk seconds", func(j *Job) { j.ChunkSeconds = ptr(90.0) }, ""},
		{"never chunk", func(j *Job) { j.ChunkSeconds = ptr(0.0) }, ""},
		{"segment options", func(j *Job) { j.SegmentSeconds, j.SegmentType = 20, SegmentTS }, ""},
		{"shortest segment", func(j *Job) { j.SegmentSeconds = 1 }, ""},
		{"longest segment", func(j *Job) { j.SegmentSeconds = 20 }, ""},
		{"ladder name", func(j *Job) { j.Ladder = "hd-hevc_2.v1" }, ""},
		{"zero time is allowed", func(j *Job) { j.SubmittedAt = time.Time{} }, ""},

		{"missing version", func(j *Job) { j.Version = 0 }, "version is missing"},
		{"unknown version", func(j *Job) { j.Version = 2 }, "version 2 is not supported"},
		{"negative version", func(j *Job) { j.Version = -1 }, "version -1 is not supported"},
		{"missing id", func(j *Job) { j.ID = "" }, `id "" is empty`},
		{"id with slash", func(j *Job) { j.ID = "a/b" }, "may hold only"},
		{"id starting with dot", func(j *Job) { j.ID = ".x" }, "must not start"},
		{"long id", func(j *Job) { j.ID = strings.Repeat("a", 129) }, "longer than 128"},
		{"missing kind", func(j *Job) { j.Kind = "" }, `kind "" is not one of`},
		{"unknown kind", func(j *Job) { j.Kind = "image" }, `kind "image" is not one of`},
		{"missing source", func(j *Job) { j.Source = "" }, "source is missing"},
		{"missing output", func(j *Job) { j.Output = "" }, "output is missing"},
		{"plain path source", func(j *Job) { j.Source = "/data/a.mp4" }, "is not a URL"},
		{"http source", func(j *Job) { j.Source = "https://example.com/a.mp4" }, `scheme "https" is not supported`},
		{"upper-case scheme", func(j *Job) { j.Source = "S3://b/a.mp4" }, `scheme "S3" is not supported`},
		{"gs output", func(j *Job) { j.Output = "gs://b/o" }, `scheme "gs"`},
		{"s3 without bucket", func(j *Job) { j.Source = "s3:///a.mp4" }, "needs a bucket"},
		{"s3 empty", func(j *Job) { j.Output = "s3://" }, "needs a bucket"},
		{"s3 bad bucket", func(j *Job) { j.Source = "s3://b@d/a.mp4" }, `bucket "b@d"`},
		{"s3 source is a bucket", func(j *Job) { j.Source = "s3://b" }, "names a bucket, not an object"},
		{"s3 source is a bucket slash", func(j *Job) { j.Source = "s3://b/" }, "names a bucket, not an object"},
		{"s3 source is a folder", func(j *Job) { j.Source = "s3://b/dir/" }, "ends in '/'"},
		{"file source is a folder", func(j *Job) { j.Source = "file:///dir/" }, "ends in '/'"},
		{"s3 absolute key", func(j *Job) { j.Source = "s3://b//etc/passwd" }, "key starts with '/'"},
		{"s3 dot-dot key", func(j *Job) { j.Source = "s3://b/a/../../x.mp4" }, `".." segment`},
		{"s3 dot-dot output", func(j *Job) { j.Output = "s3://b/out/.." }, `".." segment`},
		{"s3 dot-dot leading", func(j *Job) { j.Output = "s3://b/../out" }, `".." segment`},
		{"file relative", func(j *Job) { j.Source = "file://data/a.mp4" }, "needs an absolute path"},
		{"file host", func(j *Job) { j.Output = "file://host/out" }, "needs an absolute path"},
		{"file dot-dot", func(j *Job) { j.Output = "file:///out/../../etc" }, `".." segment`},
		{"control character", func(j *Job) { j.Source = "s3://b/a\nb.mp4" }, "control character"},
		{"invalid utf-8", func(j *Job) { j.Source = "s3://b/\xff.mp4" }, "not valid UTF-8"},
		{"ladder path", func(j *Job) { j.Ladder = "../ladders/x" }, `ladder "../ladders/x"`},
		{"ladder with space", func(j *Job) { j.Ladder = "my ladder" }, "may hold only"},
		{"ladder leading dash", func(j *Job) { j.Ladder = "-x" }, "must not start"},
		{"ladder too long", func(j *Job) { j.Ladder = strings.Repeat("l", 65) }, "longer than 64"},
		{"negative segment", func(j *Job) { j.SegmentSeconds = -2 }, "segment_seconds -2 is not in [1, 20] seconds"},
		{"sub-second segment", func(j *Job) { j.SegmentSeconds = 1e-9 }, "segment_seconds 1e-09 is not in [1, 20]"},
		{"long segment", func(j *Job) { j.SegmentSeconds = 20.5 }, "segment_seconds 20.5"},
		{"bidi override in the output", func(j *Job) { j.Output = "s3://b/hls/clip\u202egpj.mp4/" }, "control character U+202E"},
		{"zero-width bidi mark in the source", func(j *Job) { j.Source = "s3://b/in/a\u200fb.mp4" }, "control character U+200F"},
		{"NaN segment", func(j *Job) { j.SegmentSeconds = math.NaN() }, "segment_seconds NaN"},
		{"Inf segment", func(j *Job) { j.SegmentSeconds = math.Inf(1) }, "segment_seconds +Inf"},
		{"segment type", func(j *Job) { j.SegmentType = "mp4" }, `segment_type "mp4"`},
		{"segment type case", func(j *Job) { j.SegmentType = "TS" }, `segment_type "TS"`},
		{"live missing", func(j *Job) { j.Kind = KindLiveSegment }, "live is missing"},
		{"live without stream", func(j *Job) {
			j.Kind, j.Live = KindLiveSegment, &Live{Sequence: 1}
		}, `live.stream "" is empty`},
		{"live bad stream", func(j *Job) {
			j.Kind, j.Live = KindLiveSegment, &Live{Stream: "a/b"}
		}, `live.stream "a/b"`},
		{"live negative sequence", func(j *Job) {
			j.Kind, j.Live = KindLiveSegment, &Live{Stream: "a", Sequence: -1}
		}, "live.sequence -1 is negative"},
		{"live on vod", func(j *Job) { j.Live = &Live{Stream: "a"} }, `live is set but kind is "vod"`},
		{"negative chunk seconds", func(j *Job) { j.ChunkSeconds = ptr(-1.0) }, "chunk_seconds -1 is not 0 (never chunk) or in (0, 3600]"},
		{"NaN chunk seconds", func(j *Job) { j.ChunkSeconds = ptr(math.NaN()) }, "chunk_seconds NaN"},
		{"long chunk", func(j *Job) { j.ChunkSeconds = ptr(3601.0) }, "chunk_seconds 3601"},
		{"chunk missing", func(j *Job) { j.Kind = KindChunk }, "chunk is missing"},
		{"chunk bad parent", func(j *Job) { j.Kind, j.Chunk = KindChunk, &ChunkRef{Parent: "a/b", Count: 1} }, `chunk.parent "a/b"`},
		{"chunk index past count", func(j *Job) { j.Kind, j.Chunk = KindChunk, &ChunkRef{Parent: "p", Index: 3, Count: 3} }, "chunk.index 3 is not in [0, chunk.count 3)"},
		{"chunk negative index", func(j *Job) { j.Kind, j.Chunk = KindChunk, &ChunkRef{Parent: "p", Index: -1, Count: 3} }, "chunk.index -1"},
		{"chunk count zero", func(j *Job) { j.Kind, j.Chunk = KindChunk, &ChunkRef{Parent: "p"} }, "chunk.count 0 is not in [1, 2000]"},
		{"chunk count over the limit", func(j *Job) { j.Kind, j.Chunk = KindChunk, &ChunkRef{Parent: "p", Count: 2001} }, "chunk.count 2001"},
		{"chunk on vod", func(j *Job) { j.Chunk = &ChunkRef{Parent: "p", Count: 1} }, `chunk is set but kind is "vod"`},
		{"time out of range", func(j *Job) { j.SubmittedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "submitted_at"},
		{"empty attribute key", func(j *Job) { j.Attributes = map[string]string{"": "x"} }, "a key is empty"},
		{"long attribute key", func(j *Job) {
			j.Attributes = map[string]string{strings.Repeat("k", 257): "x"}
		}, "longer than 256"},
		{"bad attribute value", func(j *Job) { j.Attributes = map[string]string{"k": "\xfe"} }, `attributes["k"] is not valid UTF-8`},
		{"bad attribute key", func(j *Job) { j.Attributes = map[string]string{"\xfe": "v"} }, "is not valid UTF-8"},
		{"too big", func(j *Job) {
			j.Attributes = map[string]string{"big": strings.Repeat("x", MaxSize)}
		}, "over the 262144-byte limit"},
		{"every problem at once", func(j *Job) { j.Version, j.Source, j.Ladder = 9, "", "a b" },
			"job job-1: version 9 is not supported (this build reads version 1); source is missing; ladder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := validJob()
			tt.modify(j)
			err := j.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.want)
			}
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrPermanent) {
				t.Errorf("error %v does not wrap ErrInvalid and ErrPermanent", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %q, want it to contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "invalid job") {
				t.Errorf("error %q does not start with %q", err, "invalid job")
			}
			if _, merr := j.Marshal(); merr == nil {
				t.Error("Marshal of an invalid job succeeded")
			}
		})
	}
}

func TestSizeLimitBoundary(t *testing.T) {
	j := validJob()
	j.Attributes = map[string]string{"pad": ""}
	base, err := j.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	j.Attributes["pad"] = strings.Repeat("x", MaxSize-len(base))
	data, err := j.Marshal()
	if err != nil || len(data) != MaxSize {
		t.Fatalf("a job of exactly MaxSize: %d bytes, %v", len(data), err)
	}
	if _, err := Parse(data); err != nil {
		t.Fatalf("Parse of exactly MaxSize: %v", err)
	}
	j.Attributes["pad"] += "x"
	if _, err := j.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a job of MaxSize+1: %v, want ErrInvalid", err)
	}
	if _, err := Parse(append(data, ' ')); err == nil || !strings.Contains(err.Error(), "over the") {
		t.Fatalf("Parse of MaxSize+1 bytes: %v", err)
	}
}

func TestMarshalParseRoundTrip(t *testing.T) {
	jobs := []*Job{
		validJob(),
		New("file:///in/x y.mov", "file:///out/x", WithLadder("mobile"), WithSegmentSeconds(2.5),
			WithSegmentType(SegmentFMP4), WithAttribute("k", "v <&> \u2028 日本")),
		New("s3://b/live/cam1/000123.ts", "s3://b/hls/live/cam1/", WithLive("cam1", 123, false)),
		New("s3://b/live/cam1/END", "s3://b/hls/live/cam1/", WithLive("cam1", 0, true)),
		ChunkJob(New("s3://b/big.mp4", "s3://b/hls/big/", WithChunkSeconds(30)), 4, 9),
		New("s3://b/big.mp4", "s3://b/hls/big/", WithChunkSeconds(0)),
	}
	for _, j := range jobs {
		data, err := j.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		got, err := Parse(data)
		if err != nil {
			t.Fatalf("Parse(%s): %v", data, err)
		}
		if !jobsEqual(got, j) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, j)
		}
		msg, err := ParseMessage(data, nil)
		if err != nil || len(msg) != 1 || !jobsEqual(msg[0], j) {
			t.Errorf("ParseMessage of a job document: %v, %+v", err, msg)
		}
		if got.IdempotencyKey() != j.IdempotencyKey() {
			t.Error("IdempotencyKey changed over a round trip")
		}
	}
}

func TestMarshalShape(t *testing.T) {
	data, err := validJob().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":1,"id":"job-1","kind":"vod","source":"s3://src-bucket/uploads/clip.mp4",` +
		`"output":"s3://out-bucket/hls/clip/","submitted_at":"2025-03-01T12:00:00Z"}`
	if string(data) != want {
		t.Errorf("Marshal:\n got %s\nwant %s", data, want)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, doc, want string // want: substring of the error, "" for success
	}{
		{"minimal, kind defaults to vod", `{"version":1,"id":"a","source":"s3://b/k.mp4","output":"s3://b/o/"}`, ""},
		{"whitespace around", " \n{\"version\":1,\"id\":\"a\",\"source\":\"s3://b/k\",\"output\":\"s3://b/o\"}\n ", ""},
		{"unknown field", `{"version":1,"id":"a","source":"s3://b/k","output":"s3://b/o","ladr":"x"}`, `unknown field "ladr"`},
		{"wrong type", `{"version":"1","id":"a","source":"s3://b/k","output":"s3://b/o"}`, `field "version"`},
		{"trailing data", `{"version":1,"id":"a","source":"s3://b/k","output":"s3://b/o"} {}`, "trailing data"},
		{"not an object", `[1,2]`, "cannot unmarshal"},
		{"empty", ``, "empty document"},
		{"truncated", `{"version":1,`, "unexpected EOF"},
		{"future version", `{"version":2,"id":"a","source":"s3://b/k","output":"s3://b/o"}`, "version 2 is not supported"},
		{"bad time", `{"version":1,"id":"a","source":"s3://b/k","output":"s3://b/o","submitted_at":"yesterday"}`, "yesterday"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := Parse([]byte(tt.doc))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if j.Kind != KindVOD {
					t.Errorf("kind %q, want vod", j.Kind)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func TestIdempotencyKey(t *testing.T) {
	base := func() *Job {
		return New("s3://b/in.mp4", "s3://b/hls/in/", WithLive("cam", 7, false))
	}
	key := base().IdempotencyKey()
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(key) {
		t.Fatalf("key %q is not 64 hex digits", key)
	}
	same := []struct {
		name   string
		modify func(*Job)
	}{
		{"another ID", func(j *Job) { j.ID = "other" }},
		{"another time", func(j *Job) { j.SubmittedAt = j.SubmittedAt.Add(time.Hour) }},
		{"attributes", func(j *Job) { j.Attributes = map[string]string{"a": "b"} }},
		{"explicit default ladder", func(j *Job) { j.Ladder = DefaultLadder }},
		{"output without trailing slash", func(j *Job) { j.Output = "s3://b/hls/in" }},
		{"chunk seconds", func(j *Job) { j.ChunkSeconds = ptr(30.0) }},
	}
	for _, tt := range same {
		j := base()
		tt.modify(j)
		if got := j.IdempotencyKey(); got != key {
			t.Errorf("%s changed the key", tt.name)
		}
	}
	differ := []struct {
		name   string
		modify func(*Job)
	}{
		{"source", func(j *Job) { j.Source = "s3://b/in2.mp4" }},
		{"source bucket", func(j *Job) { j.Source = "s3://c/in.mp4" }},
		{"output", func(j *Job) { j.Output = "s3://b/hls/other/" }},
		{"ladder", func(j *Job) { j.Ladder = "mobile" }},
		{"segment seconds", func(j *Job) { j.SegmentSeconds = 6 }},
		{"segment type", func(j *Job) { j.SegmentType = SegmentFMP4 }},
		{"kind", func(j *Job) { j.Kind, j.Live = KindVOD, nil }},
		{"stream", func(j *Job) { j.Live.Stream = "cam2" }},
		{"sequence", func(j *Job) { j.Live.Sequence = 8 }},
		{"end", func(j *Job) { j.Live.End = true }},
		{"chunk", func(j *Job) { j.Kind, j.Live, j.Chunk = KindChunk, nil, &ChunkRef{Parent: "p", Index: 1, Count: 3} }},
		{"field boundary", func(j *Job) { j.Source, j.Output = "s3://b/in.mp4s3://b/hls/in", "" }},
	}
	seen := map[string]string{key: "base"}
	for _, tt := range differ {
		j := base()
		tt.modify(j)
		got := j.IdempotencyKey()
		if prev, dup := seen[got]; dup {
			t.Errorf("changing %s gives the same key as %s", tt.name, prev)
		}
		seen[got] = tt.name
	}
	// Stability: the key of a fixed job is fixed across builds.
	fixed := &Job{Version: 1, ID: "x", Kind: KindVOD, Source: "s3://b/k.mp4", Output: "s3://b/o/"}
	if got, want := fixed.IdempotencyKey(), fixedKey; got != want {
		t.Errorf("IdempotencyKey of a fixed job = %s, want %s (changing it re-runs finished work)", got, want)
	}
}

// fixedKey is the IdempotencyKey of TestIdempotencyKey's fixed job.
const fixedKey = "0c97c40ffd785cbe3e23e1b014866161b1148c8792f8f23ad1b1566e18fd4988"

func TestClone(t *testing.T) {
	j := New("s3://b/k", "s3://b/o", WithLive("s", 1, false), WithAttribute("a", "1"))
	c := j.Clone()
	c.Live.Sequence = 2
	c.Attributes["a"] = "2"
	if j.Live.Sequence != 1 || j.Attributes["a"] != "1" {
		t.Error("Clone shares Live or Attributes with the original")
	}
	k := ChunkJob(New("s3://b/k", "s3://b/o", WithChunkSeconds(30)), 1, 2)
	kc := k.Clone()
	*kc.ChunkSeconds, kc.Chunk.Index = 60, 0
	if *k.ChunkSeconds != 30 || k.Chunk.Index != 1 {
		t.Error("Clone shares ChunkSeconds or Chunk with the original")
	}
}

func TestParseLocation(t *testing.T) {
	tests := []struct {
		raw  string
		want Location
		err  string
	}{
		{"s3://b/a/b.mp4", Location{SchemeS3, "b", "a/b.mp4"}, ""},
		{"s3://b", Location{SchemeS3, "b", ""}, ""},
		{"s3://b/", Location{SchemeS3, "b", ""}, ""},
		{"s3://b/my video%20(2).mp4", Location{SchemeS3, "b", "my video%20(2).mp4"}, ""},
		{"file:///abs/dir", Location{SchemeFile, "", "/abs/dir"}, ""},
		{"file:///", Location{SchemeFile, "", "/"}, ""},
		{"file://rel", Location{}, "absolute path"},
		{"ftp://x/y", Location{}, "not supported"},
		{"s3:/b/k", Location{}, "not a URL"},
	}
	for _, tt := range tests {
		got, err := ParseLocation(tt.raw)
		if tt.err != "" {
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseLocation(%q) = %v, want ErrInvalid containing %q", tt.raw, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseLocation(%q) = %+v, %v, want %+v", tt.raw, got, err, tt.want)
		}
		if again, err := ParseLocation(got.String()); err != nil || again != got {
			t.Errorf("ParseLocation(%q.String()) = %+v, %v", tt.raw, again, err)
		}
	}
}

// jobsEqual compares jobs field by field (times with Equal).
func jobsEqual(a, b *Job) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb) && a.SubmittedAt.Equal(b.SubmittedAt)
}

func TestLiveGroupAndDedup(t *testing.T) {
	j := New("s3://b/live/cam1/17.ts", "s3://b/hls/live/cam1/", WithLive("cam1", 17, false), WithLiveWindow(10, true))
	if err := j.Validate(); err != nil {
		t.Fatal(err)
	}
	if j.LiveGroup() != "cam1" || j.LiveDedupID() != "cam1.17" || j.Live.Window != 10 || !j.Live.Event {
		t.Fatalf("group %q dedup %q live %+v", j.LiveGroup(), j.LiveDedupID(), j.Live)
	}
	end := New("s3://b/live/cam1/END", "s3://b/hls/live/cam1/", WithLive("cam1", 0, true))
	if end.LiveDedupID() != "cam1.END" {
		t.Fatalf("end dedup %q", end.LiveDedupID())
	}
	if v := New("s3://b/a.mp4", "s3://b/out/"); v.LiveGroup() != "" || v.LiveDedupID() != "" {
		t.Fatal("a VOD job has a live group")
	}
	bad := New("s3://b/live/cam1/1.ts", "s3://b/o/", WithLive("cam1", 1, false), WithLiveWindow(MaxLiveWindow+1, false))
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "live.window") {
		t.Fatalf("window over the limit: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
