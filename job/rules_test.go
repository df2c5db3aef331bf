package job

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultRules(t *testing.T) {
	if err := DefaultRules().Validate(); err != nil {
		t.Fatalf("DefaultRules do not validate: %v", err)
	}
	tests := []struct {
		key     string
		output  string // "" means ignored
		kind    Kind
		live    *Live
		ignored string // substring of the ErrIgnore reason
	}{
		{key: "clip.mp4", output: "s3://media/hls/clip/", kind: KindVOD},
		{key: "uploads/2025/holiday.mov", output: "s3://media/hls/uploads/2025/holiday/", kind: KindVOD},
		{key: "noext", output: "s3://media/hls/noext/", kind: KindVOD},
		{key: ".mp4", output: "s3://media/hls/.mp4/", kind: KindVOD},
		{key: "a.b.c.mkv", output: "s3://media/hls/a.b.c/", kind: KindVOD},
		{key: "my video(2).mp4", output: "s3://media/hls/my video(2)/", kind: KindVOD},
		{key: "dir//x.mp4", output: "s3://media/hls/dir/x/", kind: KindVOD},
		{key: "live/cam1/000123.ts", output: "s3://media/hls/live/cam1/", kind: KindLiveSegment,
			live: &Live{Stream: "cam1", Sequence: 123}},
		{key: "live/cam-2_x/0.m4s", output: "s3://media/hls/live/cam-2_x/", kind: KindLiveSegment,
			live: &Live{Stream: "cam-2_x", Sequence: 0}},
		{key: "live/s/999999999999999999.mp4", output: "s3://media/hls/live/s/", kind: KindLiveSegment,
			live: &Live{Stream: "s", Sequence: 999999999999999999}},
		{key: "live/cam1/END", output: "s3://media/hls/live/cam1/", kind: KindLiveSegment,
			live: &Live{Stream: "cam1", End: true}},

		{key: "hls/clip/720p/seg_00001.ts", ignored: "ignores"},
		{key: "hls/clip/master.m3u8", ignored: "ignores"},
		{key: "uploads/", ignored: "folder marker"},
		{key: "live/cam1/init.mp4", ignored: "is not <stream>/<sequence>"},
		{key: "live/cam1/index.m3u8", ignored: "is not <stream>/<sequence>"},
		{key: "live/cam1/12.flv", ignored: "is not <stream>/<sequence>"},
		{key: "live/cam1/12.ts.tmp", ignored: "is not <stream>/<sequence>"},
		{key: "live/cam1/-1.ts", ignored: "is not <stream>/<sequence>"},
		{key: "live/cam1/1e3.ts", ignored: "is not <stream>/<sequence>"},
		{key: "live/cam1/1234567890123456789.ts", ignored: "is not <stream>/<sequence>"},
		{key: "live/cam1/end", ignored: "is not <stream>/<sequence>"},
		{key: "live/cam1/sub/1.ts", ignored: "is not <stream>/<sequence>"},
		{key: "live/1.ts", ignored: "is not <stream>/<sequence>"},
		{key: "live/.hidden/1.ts", ignored: "is not <stream>/<sequence>"},
		{key: "live/cam 1/1.ts", ignored: "is not <stream>/<sequence>"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			j, err := DefaultRules().JobFor(Event{Bucket: "media", Key: tt.key, Size: -1})
			if tt.output == "" {
				if !errors.Is(err, ErrIgnore) || !strings.Contains(err.Error(), tt.ignored) {
					t.Fatalf("JobFor = %v, %v; want ErrIgnore containing %q", j, err, tt.ignored)
				}
				return
			}
			if err != nil {
				t.Fatalf("JobFor: %v", err)
			}
			if j.Output != tt.output || j.Kind != tt.kind || j.Ladder != DefaultLadder {
				t.Errorf("got output %q kind %q ladder %q, want %q %q %q", j.Output, j.Kind, j.Ladder, tt.output, tt.kind, DefaultLadder)
			}
			if j.Source != "s3://media/"+tt.key {
				t.Errorf("source %q", j.Source)
			}
			if (j.Live == nil) != (tt.live == nil) || j.Live != nil && *j.Live != *tt.live {
				t.Errorf("live %+v, want %+v", j.Live, tt.live)
			}
		})
	}
}

func TestRulesMatching(t *testing.T) {
	rules := Rules{
		{Bucket: "studio", Prefix: "raw/4k/", Output: "s3://studio-out/{dir}/{name}/", Ladder: "hd-hevc", SegmentType: SegmentFMP4},
		{Bucket: "studio", Prefix: "raw/", Output: "s3://studio-out/sd/{stem}/", Ladder: "mobile", SegmentSeconds: 6},
		{Prefix: "raw/", Output: "s3://{bucket}-hls/{key}/"},
		{Bucket: "archive", Prefix: "", Output: "file:///srv/hls/{bucket}/{stem}"},
		{Prefix: "cams/", Kind: KindLiveSegment, Output: "s3://{bucket}/out/{stream}/{dir}"},
	}
	if err := rules.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		bucket, key string
		rule        string
		output      string
		ladder      string
		segType     string
		segSeconds  float64
		ignored     bool
	}{
		{bucket: "studio", key: "raw/4k/show/ep1.mov", rule: "0", output: "s3://studio-out/show/ep1/", ladder: "hd-hevc", segType: "fmp4"},
		{bucket: "studio", key: "raw/4k/ep1.mov", rule: "0", output: "s3://studio-out/ep1/", ladder: "hd-hevc", segType: "fmp4"},
		{bucket: "studio", key: "raw/show/ep1.mov", rule: "1", output: "s3://studio-out/sd/show/ep1/", ladder: "mobile", segSeconds: 6},
		{bucket: "other", key: "raw/4k/ep1.mov", rule: "2", output: "s3://other-hls/raw/4k/ep1.mov/"},
		{bucket: "archive", key: "x/y.mp4", rule: "3", output: "file:///srv/hls/archive/x/y"},
		{bucket: "archive", key: "raw/y.mp4", rule: "2", output: "s3://archive-hls/raw/y.mp4/"},
		{bucket: "any", key: "cams/door/17.ts", rule: "4", output: "s3://any/out/door/door"},
		{bucket: "studio", key: "elsewhere/a.mp4", ignored: true},
		{bucket: "studio", key: "Raw/a.mp4", ignored: true}, // prefixes are case-sensitive
	}
	for _, tt := range tests {
		t.Run(tt.bucket+"/"+tt.key, func(t *testing.T) {
			j, err := rules.JobFor(Event{Bucket: tt.bucket, Key: tt.key, Size: -1})
			if tt.ignored {
				if !errors.Is(err, ErrIgnore) || !strings.Contains(err.Error(), "no rule matches") {
					t.Fatalf("JobFor = %v; want ErrIgnore (no rule matches)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if j.Attributes[AttrRule] != tt.rule || j.Output != tt.output || j.Ladder != tt.ladder ||
				j.SegmentType != tt.segType || j.SegmentSeconds != tt.segSeconds {
				t.Errorf("got rule %s output %q ladder %q type %q seconds %v\nwant rule %s output %q ladder %q type %q seconds %v",
					j.Attributes[AttrRule], j.Output, j.Ladder, j.SegmentType, j.SegmentSeconds,
					tt.rule, tt.output, tt.ladder, tt.segType, tt.segSeconds)
			}
		})
	}
	if _, err := (Rules{}).JobFor(Event{Bucket: "b", Key: "k"}); !errors.Is(err, ErrIgnore) {
		t.Errorf("empty rules: %v, want ErrIgnore", err)
	}
}

func TestJobForEvent(t *testing.T) {
	at := time.Date(2025, 5, 6, 7, 8, 9, 123e6, time.UTC)
	ev := Event{Bucket: "media", Key: "in/a b.mp4", Size: 1024, ETag: `"abc"`, Sequencer: "0055AED6DCD90281E5",
		VersionID: "v1", Time: at, RawTime: "2025-05-06T07:08:09.123Z", Name: "ObjectCreated:Put",
		Source: "aws:s3", Region: "eu-west-1"}
	j, err := DefaultRules().JobFor(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{AttrBucket: "media", AttrKey: "in/a b.mp4", AttrSize: "1024", AttrETag: "abc",
		AttrSequencer: "0055AED6DCD90281E5", AttrVersionID: "v1", AttrEventTime: "2025-05-06T07:08:09.123Z",
		AttrEventName: "ObjectCreated:Put", AttrEventSource: "aws:s3", AttrRegion: "eu-west-1", AttrRule: "2"}
	if len(j.Attributes) != len(want) {
		t.Errorf("attributes %v, want %v", j.Attributes, want)
	}
	for k, v := range want {
		if j.Attributes[k] != v {
			t.Errorf("attributes[%q] = %q, want %q", k, j.Attributes[k], v)
		}
	}
	if !j.SubmittedAt.Equal(at) || j.ID != ev.ID() || j.Version != Version {
		t.Errorf("submitted %v id %q version %d", j.SubmittedAt, j.ID, j.Version)
	}
	// The ID depends on bucket, key, ETag and sequencer, and on nothing else.
	again := ev
	again.Time, again.Region, again.Size, again.ETag = time.Time{}, "", 5, "abc"
	if again.ID() != ev.ID() {
		t.Error("ID depends on more than bucket, key, ETag and sequencer")
	}
	for _, change := range []func(*Event){
		func(e *Event) { e.Bucket = "media2" },
		func(e *Event) { e.Key = "in/a b.mp5" },
		func(e *Event) { e.ETag = "abd" },
		func(e *Event) { e.Sequencer = "0055AED6DCD90281E6" },
		func(e *Event) { e.Bucket, e.Key = "mediain", "/a b.mp4" },
	} {
		e := ev
		change(&e)
		if e.ID() == ev.ID() {
			t.Errorf("ID ignores a change: %+v", e)
		}
	}
	// No time in the event: now.
	ev.Time = time.Time{}
	if j, err := DefaultRules().JobFor(ev); err != nil || time.Since(j.SubmittedAt) > time.Minute {
		t.Errorf("no event time: %v, %v", err, j)
	}
}

func TestJobForInvalid(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"no bucket", Event{Key: "a.mp4"}, "without a bucket"},
		{"no key", Event{Bucket: "b"}, "without an object key"},
		{"dot-dot key", Event{Bucket: "b", Key: "a/../../etc/x.mp4"}, `".." segment`},
		{"absolute key", Event{Bucket: "b", Key: "/abs.mp4"}, "key starts with '/'"},
		{"control char", Event{Bucket: "b", Key: "a\x00.mp4"}, "control character"},
		{"bad utf-8", Event{Bucket: "b", Key: "a\xff.mp4"}, "not valid UTF-8"},
		{"bad bucket", Event{Bucket: "b/c", Key: "a.mp4"}, `bucket "b/c"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DefaultRules().JobFor(tt.ev)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("JobFor = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func TestRulesValidate(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		want string
	}{
		{"ok", Rule{Output: "s3://{bucket}/{dir}/{name}/{stem}/{key}"}, ""},
		{"ok file", Rule{Output: "file:///srv/{stem}"}, ""},
		{"ok ignore without output", Rule{Prefix: "x/", Ignore: true}, ""},
		{"ok live", Rule{Kind: KindLiveSegment, Output: "s3://b/{stream}/"}, ""},
		{"missing output", Rule{Prefix: "x/"}, "output is missing"},
		{"unknown placeholder", Rule{Output: "s3://{bucket}/{file}"}, "unknown placeholder {file}"},
		{"unclosed", Rule{Output: "s3://{bucket/x"}, "a '{' without '}'"},
		{"unopened", Rule{Output: "s3://b}/x"}, "a '}' without '{'"},
		{"unopened later", Rule{Output: "s3://{bucket}/x}/{key}"}, "a '}' without '{'"},
		{"stream in vod", Rule{Output: "s3://b/{stream}"}, "only live-segment rules"},
		{"bad scheme", Rule{Output: "http://{bucket}/x"}, "does not make a valid URL"},
		{"no bucket", Rule{Output: "s3:///{key}"}, "needs a bucket"},
		{"relative file", Rule{Output: "file://{key}"}, "needs an absolute path"},
		{"bad kind", Rule{Kind: "gif", Output: "s3://b/x"}, `kind "gif"`},
		{"bad bucket", Rule{Bucket: "a b", Output: "s3://b/x"}, `bucket "a b"`},
		{"bad ladder", Rule{Output: "s3://b/x", Ladder: "../x"}, `ladder "../x"`},
		{"bad segment type", Rule{Output: "s3://b/x", SegmentType: "webm"}, `segment_type "webm"`},
		{"bad segment seconds", Rule{Output: "s3://b/x", SegmentSeconds: 61}, "segment_seconds 61"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Rules{tt.rule}.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) ||
				!strings.Contains(err.Error(), "rules[0]") {
				t.Fatalf("Validate = %v, want ErrInvalid containing rules[0] and %q", err, tt.want)
			}
		})
	}
}

func TestParseRules(t *testing.T) {
	rs, err := ParseRules([]byte(`[{"prefix":"hls/","ignore":true},
		{"bucket":"b","prefix":"in/","output":"s3://{bucket}/out/{stem}/","ladder":"mobile","segment_type":"fmp4","segment_seconds":4},
		{"prefix":"live/","kind":"live-segment","output":"s3://{bucket}/live/{stream}/"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || rs[1].Ladder != "mobile" || rs[1].SegmentSeconds != 4 || rs[2].Kind != KindLiveSegment || !rs[0].Ignore {
		t.Errorf("ParseRules = %+v", rs)
	}
	for doc, want := range map[string]string{
		`[{"prefix":"x","outptu":"s3://b/x"}]`: `unknown field "outptu"`,
		`[{"prefix":"x"}]`:                     "output is missing",
		`{"prefix":"x"}`:                       "cannot unmarshal",
		`[] []`:                                "trailing data",
	} {
		if _, err := ParseRules([]byte(doc)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRules(%s) = %v, want ErrInvalid containing %q", doc, err, want)
		}
	}
}

func TestExpandAndTidy(t *testing.T) {
	vars := map[string]string{"bucket": "b", "key": "k", "stem": "s", "dir": "", "name": "n"}
	for tmpl, want := range map[string]string{
		"s3://{bucket}/{dir}/{name}/":  "s3://b/n/",
		"s3://{bucket}//x///{stem}":    "s3://b/x/s",
		"file:///{dir}/{key}":          "file:///k",
		"s3://{bucket}/{key}{key}.out": "s3://b/kk.out",
		"s3://fixed/path":              "s3://fixed/path",
	} {
		got, err := expand(tmpl, vars)
		if err != nil || tidy(got) != want {
			t.Errorf("expand(%q) = %q, %v; tidy %q; want %q", tmpl, got, err, tidy(got), want)
		}
	}
}

func TestLiveRuleWindow(t *testing.T) {
	rs, err := ParseRules([]byte(`[{"prefix":"live/","kind":"live-segment","output":"s3://{bucket}/out/{stream}/","live_window":10,"live_event":true}]`))
	if err != nil {
		t.Fatal(err)
	}
	j, err := rs.JobFor(Event{Bucket: "b", Key: "live/cam/12.ts", Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	if j.Live.Window != 10 || !j.Live.Event || j.Live.Sequence != 12 || j.LiveDedupID() != "cam.12" {
		t.Fatalf("live %+v dedup %q", j.Live, j.LiveDedupID())
	}
	for doc, want := range map[string]string{
		`[{"prefix":"a/","output":"s3://b/{stem}/","live_window":3}]`:                            "live-segment rules only",
		`[{"prefix":"l/","kind":"live-segment","output":"s3://b/{stream}/","live_window":5000}]`: "live_window 5000",
	} {
		if _, err := ParseRules([]byte(doc)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRules(%s) = %v, want ErrInvalid containing %q", doc, err, want)
		}
	}
}
