package ladders

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// bench4JSON is the benchmark ladder exactly as scripts use it.
const bench4JSON = `{"name": "bench4", "segment_seconds": 4, "gop_seconds": 2,
 "video": {"codec": "h264", "preset": "veryfast", "profile": "high"},
 "audio": {"codec": "aac", "bitrate_bps": 128000, "channels": 2},
 "renditions": [
   {"height": 1080, "bitrate_bps": 5000000, "maxrate_bps": 5350000, "bufsize_bits": 7500000},
   {"height": 720,  "bitrate_bps": 3000000, "maxrate_bps": 3210000, "bufsize_bits": 4500000},
   {"height": 480,  "bitrate_bps": 1200000, "maxrate_bps": 1284000, "bufsize_bits": 1800000},
   {"height": 360,  "bitrate_bps": 700000,  "maxrate_bps": 749000,  "bufsize_bits": 1050000}]}
`

// bench4YAML says the same as bench4JSON.
const bench4YAML = `# the benchmark ladder, in YAML
name: bench4
segment_seconds: 4
gop_seconds: 2
video:
  codec: h264
  preset: veryfast
  profile: high
audio: {codec: aac, bitrate_bps: 128000, channels: 2}
renditions:
  - {height: 1080, bitrate_bps: 5000000, maxrate_bps: 5350000, bufsize_bits: 7500000}
  - {height: 720, bitrate_bps: 3000000, maxrate_bps: 3210000, bufsize_bits: 4500000}
  - height: 480
    bitrate_bps: 1200000
    maxrate_bps: 1284000
    bufsize_bits: 1800000
  - height: 360
    bitrate_bps: 700000
    maxrate_bps: 749000
    bufsize_bits: 1050000
`

func TestBench4(t *testing.T) {
	embedded, err := presetFS.ReadFile("presets/bench4.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(embedded) != bench4JSON {
		t.Errorf("presets/bench4.json differs from the benchmark ladder:\n%s", embedded)
	}
	l, err := Parse([]byte(bench4JSON))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &Ladder{
		Name: "bench4", SegmentSeconds: 4, GOPSeconds: 2,
		Video: Video{Codec: "h264", Preset: "veryfast", Profile: "high"},
		Audio: Audio{Codec: "aac", BitrateBPS: 128000, Channels: 2, SampleRate: 48000},
		Renditions: []Rendition{
			{Name: "1080p", Height: 1080, BitrateBPS: 5000000, MaxrateBPS: 5350000, BufsizeBits: 7500000},
			{Name: "720p", Height: 720, BitrateBPS: 3000000, MaxrateBPS: 3210000, BufsizeBits: 4500000},
			{Name: "480p", Height: 480, BitrateBPS: 1200000, MaxrateBPS: 1284000, BufsizeBits: 1800000},
			{Name: "360p", Height: 360, BitrateBPS: 700000, MaxrateBPS: 749000, BufsizeBits: 1050000},
		},
	}
	if !reflect.DeepEqual(l, want) {
		t.Errorf("Parse(bench4)\n got %+v\nwant %+v", l, want)
	}
	y, err := Parse([]byte(bench4YAML))
	if err != nil {
		t.Fatalf("Parse(yaml): %v", err)
	}
	if !reflect.DeepEqual(y, l) {
		t.Errorf("YAML and JSON differ:\nyaml %+v\njson %+v", y, l)
	}
}

func TestPresets(t *testing.T) {
	names := Names()
	if want := []string{"bench4", "default", "hd-hevc", "live", "mobile"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("Names() = %q, want %q", names, want)
	}
	type rung struct {
		height int
		fpsMax float64
	}
	want := map[string]struct {
		codec, profile string
		audio          int64
		rungs          []rung
		segment        float64
	}{
		"bench4":  {"h264", "high", 128000, []rung{{1080, 0}, {720, 0}, {480, 0}, {360, 0}}, 4},
		"default": {"h264", "high", 128000, []rung{{1080, 0}, {720, 0}, {480, 0}, {360, 0}, {240, 0}}, 4},
		"mobile":  {"h264", "main", 96000, []rung{{720, 30}, {540, 30}, {360, 30}, {240, 30}}, 4},
		"hd-hevc": {"hevc", "main", 128000, []rung{{2160, 0}, {1440, 0}, {1080, 0}, {720, 0}}, 4},
		"live":    {"h264", "high", 128000, []rung{{720, 0}, {480, 0}, {360, 0}}, 2},
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			l := mustLookup(t, name)
			w := want[name]
			if l.Name != name {
				t.Errorf("Name = %q", l.Name)
			}
			if l.Video.Codec != w.codec || l.Video.Profile != w.profile || l.Audio.BitrateBPS != w.audio {
				t.Errorf("video %+v audio %+v", l.Video, l.Audio)
			}
			if l.SegmentSeconds != w.segment || l.GOPSeconds != 2 || l.Audio.Channels != 2 || l.Audio.Codec != "aac" {
				t.Errorf("segment %v gop %v audio %+v", l.SegmentSeconds, l.GOPSeconds, l.Audio)
			}
			var got []rung
			for _, r := range l.Renditions {
				got = append(got, rung{r.Height, r.FPSMax})
				if r.Name != strconv.Itoa(r.Height)+"p" {
					t.Errorf("rendition %d named %q", r.Height, r.Name)
				}
				if math.Abs(float64(r.MaxrateBPS)/float64(r.BitrateBPS)-1.07) > 0.001 ||
					math.Abs(float64(r.BufsizeBits)/float64(r.BitrateBPS)-1.5) > 0.001 {
					t.Errorf("%s: maxrate %d bufsize %d for bitrate %d", r.Name, r.MaxrateBPS, r.BufsizeBits, r.BitrateBPS)
				}
			}
			if !reflect.DeepEqual(got, w.rungs) {
				t.Errorf("rungs %v, want %v", got, w.rungs)
			}
			for i := 1; i < len(l.Renditions); i++ {
				if l.Renditions[i].BitrateBPS >= l.Renditions[i-1].BitrateBPS {
					t.Errorf("bitrates not decreasing at %d", i)
				}
			}
			// Lookup hands out a fresh copy each time.
			l.Renditions[0].Height = 1
			l.Name = "changed"
			if again := mustLookup(t, name); again.Renditions[0].Height != w.rungs[0].height || again.Name != name {
				t.Errorf("Lookup returned shared state")
			}
			// Load finds presets by name too.
			if ld, err := Load(name); err != nil || ld.Name != name {
				t.Errorf("Load(%q) = %v, %v", name, ld, err)
			}
		})
	}
	for _, bad := range []string{"", "nope", "Default", "presets/default", "default.json"} {
		l, err := Lookup(bad)
		if !errors.Is(err, ErrUnknownLadder) || l != nil {
			t.Errorf("Lookup(%q) = %v, %v; want ErrUnknownLadder", bad, l, err)
		}
	}
	if _, err := Lookup("nope"); err == nil || !strings.Contains(err.Error(), "bench4, default, hd-hevc, live, mobile") {
		t.Errorf("unknown preset error does not list presets: %v", err)
	}
}

func TestParseDefaults(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want Ladder
	}{
		{"minimal JSON", `{"renditions": [{"height": 720, "bitrate_bps": 3000000}]}`, Ladder{
			SegmentSeconds: 4, GOPSeconds: 2,
			Video:      Video{Codec: "h264", Preset: "veryfast", Profile: "high"},
			Audio:      Audio{Codec: "aac", BitrateBPS: 128000, Channels: 2, SampleRate: 48000},
			Renditions: []Rendition{{Name: "720p", Height: 720, BitrateBPS: 3000000, MaxrateBPS: 3210000, BufsizeBits: 4500000}},
		}},
		{"hevc gets main", "video: {codec: hevc}\nrenditions:\n  - {height: 2160, bitrate_bps: 12345678}\n", Ladder{
			SegmentSeconds: 4, GOPSeconds: 2,
			Video:      Video{Codec: "hevc", Preset: "veryfast", Profile: "main"},
			Audio:      Audio{Codec: "aac", BitrateBPS: 128000, Channels: 2, SampleRate: 48000},
			Renditions: []Rendition{{Name: "2160p", Height: 2160, BitrateBPS: 12345678, MaxrateBPS: 13209875, BufsizeBits: 18518517}},
		}},
		{"explicit values kept", `{"name": "x", "segment_seconds": 6, "gop_seconds": 3,
			"video": {"codec": "h264", "preset": "slow", "profile": "baseline"},
			"audio": {"codec": "aac", "bitrate_bps": 64000, "channels": 1, "sample_rate": 44100},
			"renditions": [{"name": "sd", "height": 480, "width": 848, "bitrate_bps": 1000000,
				"maxrate_bps": 2000000, "bufsize_bits": 500000, "codec": "h264", "profile": "main",
				"preset": "fast", "fps_max": 25}]}`, Ladder{
			Name: "x", SegmentSeconds: 6, GOPSeconds: 3,
			Video: Video{Codec: "h264", Preset: "slow", Profile: "baseline"},
			Audio: Audio{Codec: "aac", BitrateBPS: 64000, Channels: 1, SampleRate: 44100},
			Renditions: []Rendition{{Name: "sd", Height: 480, Width: 848, BitrateBPS: 1000000, MaxrateBPS: 2000000,
				BufsizeBits: 500000, Codec: "h264", Profile: "main", Preset: "fast", FPSMax: 25}},
		}},
		{"BOM and blank lines", "\ufeff\n\n  " + `{"renditions": [{"height": 720, "bitrate_bps": 3000000}]}`, Ladder{
			SegmentSeconds: 4, GOPSeconds: 2,
			Video:      Video{Codec: "h264", Preset: "veryfast", Profile: "high"},
			Audio:      Audio{Codec: "aac", BitrateBPS: 128000, Channels: 2, SampleRate: 48000},
			Renditions: []Rendition{{Name: "720p", Height: 720, BitrateBPS: 3000000, MaxrateBPS: 3210000, BufsizeBits: 4500000}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(*l, tc.want) {
				t.Errorf("\n got %+v\nwant %+v", *l, tc.want)
			}
		})
	}
}

func TestParseStrict(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // substring of the error
	}{
		{"unknown top-level field", `{"name": "x", "segments": 4, "renditions": []}`, `unknown field "segments"`},
		{"unknown rendition field", `{"renditions": [{"height": 720, "bitrate": 3000000}]}`, `unknown field "renditions[0].bitrate"`},
		{"unknown video field", `{"video": {"codec": "h264", "crf": 23}, "renditions": []}`, `unknown field "video.crf"`},
		{"object for a list", `{"renditions": {"height": 720}}`, "renditions: object is not a valid []ladders.Rendition"},
		{"misspelt case", `{"Renditions": [{"height": 720, "bitrate_bps": 3000000}]}`, `unknown field "Renditions" (field names are case-sensitive)`},
		{"nested case", `{"renditions": [{"height": 720, "Bitrate_BPS": 3000000}]}`, `unknown field "renditions[0].Bitrate_BPS"`},
		{"field path", `{"renditions": [{"height": 720, "bitrate_bps": 1}, {"height": 720, "fps": 30}]}`, `unknown field "renditions[1].fps"`},
		{"duplicate key", `{"name": "a", "name": "b", "renditions": []}`, `duplicate field "name"`},
		{"YAML duplicate key", "name: a\nname: b\nrenditions: []\n", `"name" already defined`},
		{"bad JSON", "{\"name\": \"x\",\n \"renditions\": [}", "line 2"},
		{"truncated JSON", `{"name": "x"`, "unexpected end"},
		{"trailing data", `{"renditions": [{"height": 720, "bitrate_bps": 3000000}]} {}`, "data after"},
		{"wrong type", `{"renditions": [{"height": "720p", "bitrate_bps": 3000000}]}`, "renditions.height: string is not a valid int"},
		{"float for an integer", `{"renditions": [{"height": 720.5, "bitrate_bps": 3000000}]}`, "renditions.height: number 720.5 is not a valid int"},
		{"empty", "  \n\t", "empty"},
		{"YAML unknown field", "renditions:\n  - height: 720\n    bitrate_bps: 3000000\n    bogus: 1\n", "line 4: field bogus not found"},
		{"YAML unknown fields", "renditions:\n  - {height: 720, bitrate_bps: 1, bogus: 1}\n  - {heigth: 3}\n",
			"unmarshal errors: line 2: field bogus not found in type ladders.Rendition; line 3: field heigth not found"},
		{"YAML unknown top-level field", "segment: 4\nrenditions: []\n", "field segment not found"},
		{"YAML bad syntax", "renditions: [\n", "yaml"},
		{"YAML wrong type", "renditions: {height: 720}\n", "yaml"},
		{"YAML two documents", "renditions:\n  - {height: 720, bitrate_bps: 3000000}\n---\nname: x\n", "more than one document"},
		{"YAML comment only", "# nothing\n", "empty"},
		{"YAML scalar", "just text\n", "yaml"},
		{"validation runs", `{"renditions": [{"height": 9000, "bitrate_bps": 3000000}]}`, "renditions[0].height: 9000 is above 8192"},
		{"validation runs for YAML", "renditions: []\n", "at least one rendition"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", l)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if l != nil {
				t.Errorf("ladder %+v returned with an error", l)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(l *Ladder)
		want   []string // one substring per expected problem, in order
	}{
		{"no renditions", func(l *Ladder) { l.Renditions = nil }, []string{"renditions: at least one rendition is required"}},
		{"height above 8192", func(l *Ladder) { l.Renditions[2].Height = 9000 }, []string{"renditions[2].height: 9000 is above 8192"}},
		{"height below 16", func(l *Ladder) { l.Renditions[0].Height = 8 }, []string{"renditions[0].height: 8 is below 16"}},
		{"negative height", func(l *Ladder) { l.Renditions[1].Height = -720 }, []string{"renditions[1].height: -720 is below 16"}},
		{"duplicate name", func(l *Ladder) { l.Renditions[1].Name = "1080p" }, []string{`renditions[1].name: "1080p" is already used by renditions[0]`}},
		{"empty name", func(l *Ladder) { l.Renditions[0].Name = "" }, []string{`renditions[0].name: "" is empty`}},
		{"name with a slash", func(l *Ladder) { l.Renditions[0].Name = "../x" }, []string{`renditions[0].name: "../x" must not start with`}},
		{"name with a space", func(l *Ladder) { l.Renditions[0].Name = "hd 1" }, []string{`renditions[0].name: "hd 1" may hold only`}},
		{"long name", func(l *Ladder) { l.Renditions[0].Name = strings.Repeat("a", 65) }, []string{`renditions[0].name: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" is longer than 64 bytes`}},
		{"odd width", func(l *Ladder) { l.Renditions[0].Width = 1919 }, []string{"renditions[0].width: 1919 is not a positive even number"}},
		{"negative width", func(l *Ladder) { l.Renditions[0].Width = -2 }, []string{"renditions[0].width: -2 is not a positive even number"}},
		{"width above 8192", func(l *Ladder) { l.Renditions[0].Width = 8194 }, []string{"renditions[0].width: 8194 is above 8192"}},
		{"width below height", func(l *Ladder) { l.Renditions[0].Width = 1000 }, []string{"renditions[0].width: 1000 is below height 1080"}},
		{"zero bitrate", func(l *Ladder) { l.Renditions[3].BitrateBPS = 0 }, []string{"renditions[3].bitrate_bps: 0 is not above 0"}},
		{"negative bitrate", func(l *Ladder) { l.Renditions[3].BitrateBPS = -1 }, []string{"renditions[3].bitrate_bps: -1 is not above 0"}},
		{"absurd bitrate", func(l *Ladder) { l.Renditions[0].BitrateBPS = 2e9; l.Renditions[0].MaxrateBPS = 2e9 },
			[]string{"renditions[0].bitrate_bps: 2000000000 is above 1000000000"}},
		{"absurd maxrate", func(l *Ladder) { l.Renditions[0].MaxrateBPS = 3e9 }, []string{"renditions[0].maxrate_bps: 3000000000 is above 2000000000"}},
		{"maxrate below bitrate", func(l *Ladder) { l.Renditions[0].MaxrateBPS = 4000000 },
			[]string{"renditions[0].maxrate_bps: 4000000 is below bitrate_bps 5000000"}},
		{"zero bufsize", func(l *Ladder) { l.Renditions[1].BufsizeBits = 0 }, []string{"renditions[1].bufsize_bits: 0 is not above 0"}},
		{"negative fps_max", func(l *Ladder) { l.Renditions[0].FPSMax = -1 }, []string{"renditions[0].fps_max: -1 is not"}},
		{"infinite fps_max", func(l *Ladder) { l.Renditions[0].FPSMax = math.Inf(1) }, []string{"renditions[0].fps_max: +Inf is not"}},
		{"NaN fps_max", func(l *Ladder) { l.Renditions[0].FPSMax = math.NaN() }, []string{"renditions[0].fps_max: NaN is not"}},
		{"unknown codec", func(l *Ladder) { l.Video.Codec = "vp9" }, []string{`video.codec: "vp9" is not one of h264, hevc`}},
		{"empty codec", func(l *Ladder) { l.Video.Codec = "" }, []string{`video.codec: "" is not one of`}},
		{"hevc with high", func(l *Ladder) { l.Video.Codec = "hevc" }, []string{`video.profile: "high" is not valid for hevc (want one of main)`}},
		{"h264 with high10", func(l *Ladder) { l.Video.Profile = "high10" }, []string{`video.profile: "high10" is not valid for h264`}},
		{"unknown preset", func(l *Ladder) { l.Video.Preset = "turbo" }, []string{`video.preset: "turbo" is not one of ultrafast,`}},
		{"rung codec", func(l *Ladder) { l.Renditions[1].Codec = "av1" }, []string{`renditions[1].codec: "av1" is not one of h264, hevc`}},
		{"rung profile", func(l *Ladder) { l.Renditions[1].Profile = "main10" }, []string{`renditions[1].profile: "main10" is not valid for h264`}},
		{"rung hevc profile", func(l *Ladder) { l.Renditions[1].Codec = "hevc"; l.Renditions[1].Profile = "high" },
			[]string{`renditions[1].profile: "high" is not valid for hevc`}},
		{"rung preset", func(l *Ladder) { l.Renditions[2].Preset = "p7" }, []string{`renditions[2].preset: "p7" is not one of`}},
		{"bad ladder preset reported once", func(l *Ladder) { l.Video.Preset = "x"; l.Renditions[0].Profile = "main" },
			[]string{`video.preset: "x"`}},
		{"zero segment", func(l *Ladder) { l.SegmentSeconds = 0 }, []string{"segment_seconds: 0 is not in [1, 20]", "gop_seconds: 2 is above segment_seconds 0"}},
		{"long segment", func(l *Ladder) { l.SegmentSeconds = 21 }, []string{"segment_seconds: 21 is not in [1, 20]"}},
		{"sub-second segment", func(l *Ladder) { l.SegmentSeconds, l.GOPSeconds = 1e-9, 1e-9 }, []string{"segment_seconds: 1e-09 is not in [1, 20]"}},
		{"fps_max above 120", func(l *Ladder) { l.Renditions[0].FPSMax = 1e9 }, []string{"renditions[0].fps_max: 1e+09 is not in [0, 120]"}},
		{"17 renditions", func(l *Ladder) {
			for len(l.Renditions) < 17 {
				r := l.Renditions[len(l.Renditions)-1]
				r.Name = fmt.Sprintf("r%d", len(l.Renditions))
				l.Renditions = append(l.Renditions, r)
			}
		}, []string{"renditions: 17 renditions: at most 16"}},
		{"NaN segment", func(l *Ladder) { l.SegmentSeconds = math.NaN() }, []string{"segment_seconds: NaN is not in [1, 20]"}},
		{"zero gop", func(l *Ladder) { l.GOPSeconds = 0 }, []string{"gop_seconds: 0 is not above 0"}},
		{"negative gop", func(l *Ladder) { l.GOPSeconds = -2 }, []string{"gop_seconds: -2 is not above 0"}},
		{"gop above segment", func(l *Ladder) { l.GOPSeconds = 6 }, []string{"gop_seconds: 6 is above segment_seconds 4"}},
		{"audio codec", func(l *Ladder) { l.Audio.Codec = "mp3" }, []string{`audio.codec: "mp3" is not aac`}},
		{"audio channels", func(l *Ladder) { l.Audio.Channels = 6 }, []string{"audio.channels: 6 is not 1 or 2"}},
		{"audio no channels", func(l *Ladder) { l.Audio.Channels = 0 }, []string{"audio.channels: 0 is not 1 or 2"}},
		{"audio bitrate low", func(l *Ladder) { l.Audio.BitrateBPS = 8000 }, []string{"audio.bitrate_bps: 8000 is not in [16000, 512000]"}},
		{"audio bitrate high", func(l *Ladder) { l.Audio.BitrateBPS = 640000 }, []string{"audio.bitrate_bps: 640000 is not in [16000, 512000]"}},
		{"audio sample rate", func(l *Ladder) { l.Audio.SampleRate = 44000 }, []string{"audio.sample_rate: 44000 is not an AAC sample rate"}},
		{"everything at once", func(l *Ladder) {
			l.SegmentSeconds = 90
			l.Audio.Channels = 3
			l.Renditions[0].Height = 4
			l.Renditions[2].BitrateBPS = 0
			l.Renditions[3].Name = "720p"
		}, []string{"segment_seconds: 90", "audio.channels: 3", "renditions[0].height: 4", "renditions[2].bitrate_bps: 0",
			`renditions[3].name: "720p" is already used by renditions[1]`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := mustLookup(t, "bench4")
			tc.mutate(l)
			err := l.Validate()
			if err == nil {
				t.Fatalf("Validate passed")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%v does not wrap ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), `invalid ladder "bench4": `) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line naming the ladder: %q", err)
			}
			joined, ok := err.(interface{ Unwrap() []error })
			if !ok {
				t.Fatalf("%T does not list its problems", err)
			}
			problems := joined.Unwrap()
			if len(problems) != len(tc.want) {
				t.Errorf("got %d problems, want %d: %v", len(problems), len(tc.want), err)
			}
			for i, p := range problems {
				if !errors.Is(p, ErrInvalid) {
					t.Errorf("problem %q does not wrap ErrInvalid", p)
				}
				if i < len(tc.want) && !strings.Contains(p.Error(), tc.want[i]) {
					t.Errorf("problem %d = %q, want it to contain %q", i, p, tc.want[i])
				}
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(l *Ladder)
	}{
		{"unchanged", func(l *Ladder) {}},
		{"rung switches to hevc and gets main", func(l *Ladder) { l.Renditions[0].Codec = "hevc" }},
		{"rung repeats the ladder codec", func(l *Ladder) { l.Renditions[0].Codec = "h264" }},
		{"hevc ladder, h264 rung gets high", func(l *Ladder) {
			l.Video.Codec, l.Video.Profile = "hevc", "main"
			l.Renditions[1].Codec = "h264"
		}},
		{"every x264 preset", func(l *Ladder) {
			for i, p := range []string{"ultrafast", "placebo", "medium", "slow"} {
				l.Renditions[i].Preset = p
			}
		}},
		{"bounds", func(l *Ladder) {
			l.SegmentSeconds, l.GOPSeconds = 20, 20
			l.Audio.BitrateBPS, l.Audio.Channels = 16000, 1
			l.Renditions[0].Height, l.Renditions[0].Width = 8192, 8192
			l.Renditions[3].Height = 16
			l.Renditions[3].MaxrateBPS = l.Renditions[3].BitrateBPS
			l.Renditions[2].FPSMax = 0.5
		}},
		{"same height, different names", func(l *Ladder) { l.Renditions[1].Height = 1080 }},
		{"fractional gop", func(l *Ladder) { l.SegmentSeconds, l.GOPSeconds = 2.002, 1.001 }},
		{"baseline", func(l *Ladder) { l.Video.Profile = "baseline" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := mustLookup(t, "bench4")
			tc.mutate(l)
			if err := l.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	// A rung that switches codec gets that codec's default profile in Select.
	l := mustLookup(t, "bench4")
	l.Renditions[0].Codec = "hevc"
	outs, err := l.Select(Source{Width: 1920, Height: 1080})
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Codec != "hevc" || outs[0].Profile != "main" || outs[1].Codec != "h264" || outs[1].Profile != "high" {
		t.Errorf("resolved %+v / %+v", outs[0], outs[1])
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	jsonPath := write("bench.json", bench4JSON)
	yamlPath := write("bench.yaml", bench4YAML)
	ymlPath := write("bench.yml", bench4YAML)
	unnamed := write("my-ladder.yaml", "renditions:\n  - {height: 480, bitrate_bps: 1000000}\n")
	invalid := write("bad.json", `{"renditions": [{"height": 720, "bitrate_bps": 0}]}`)
	unknownField := write("typo.yaml", "renditons: []\n")
	shadow := write("default", `{"name": "from-file", "renditions": [{"height": 480, "bitrate_bps": 1000000}]}`)

	want := mustLookup(t, "bench4")
	for _, p := range []string{jsonPath, yamlPath, ymlPath} {
		l, err := Load(p)
		if err != nil {
			t.Errorf("Load(%s): %v", p, err)
			continue
		}
		if !reflect.DeepEqual(l, want) {
			t.Errorf("Load(%s) = %+v, want %+v", p, l, want)
		}
	}

	if l, err := Load(unnamed); err != nil || l.Name != "my-ladder" || l.Renditions[0].Name != "480p" {
		t.Errorf("Load(unnamed) = %+v, %v; want it named my-ladder", l, err)
	}

	for _, p := range []string{invalid, unknownField} {
		l, err := Load(p)
		if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnknownLadder) || l != nil {
			t.Errorf("Load(%s) = %v, %v; want ErrInvalid", p, l, err)
		} else if !strings.Contains(err.Error(), p) {
			t.Errorf("Load error %q does not name the file", err)
		}
	}
	if _, err := Load(invalid); err == nil || !strings.Contains(err.Error(), "renditions[0].bitrate_bps") {
		t.Errorf("Load(invalid) error %v does not name the field", err)
	}
	if _, err := Load(unknownField); err == nil || !strings.Contains(err.Error(), "renditons") {
		t.Errorf("Load(typo) error %v does not name the field", err)
	}

	// A preset name wins over a file of the same name; the path reaches the file.
	if l, err := Load("default"); err != nil || l.Name != "default" {
		t.Errorf("Load(default) = %v, %v", l, err)
	}
	if l, err := Load(shadow); err != nil || l.Name != "from-file" {
		t.Errorf("Load(%s) = %v, %v", shadow, l, err)
	}

	for _, missing := range []string{filepath.Join(dir, "missing.json"), "no-such-ladder", ""} {
		l, err := Load(missing)
		if !errors.Is(err, ErrUnknownLadder) || l != nil {
			t.Errorf("Load(%q) = %v, %v; want ErrUnknownLadder", missing, l, err)
			continue
		}
		for _, name := range Names() {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("Load(%q) error %q does not list preset %s", missing, err, name)
			}
		}
	}

	// A directory is neither unknown nor invalid: it is an I/O error.
	if _, err := Load(dir); err == nil || errors.Is(err, ErrUnknownLadder) || errors.Is(err, ErrInvalid) {
		t.Errorf("Load(dir) = %v", err)
	}
}

func TestNamesSorted(t *testing.T) {
	if n := Names(); !slices.IsSorted(n) || len(n) < 4 {
		t.Errorf("Names() = %q", n)
	}
}

func TestExtrasFields(t *testing.T) {
	base := `{"name": "x", "renditions": [{"height": 720, "bitrate_bps": 3000000}, {"name": "small", "height": 360, "bitrate_bps": 800000}]`
	for _, c := range []struct {
		extra string
		ok    bool
	}{
		{`, "mp4_rendition": "720p"`, true},
		{`, "mp4_rendition": "720"`, true},
		{`, "mp4_rendition": "small"`, true},
		{`, "mp4_rendition": "1080"`, false},
		{`, "quality_gate": {"min_ssim_gain": 0.005}`, true},
		{`, "quality_gate": {"min_ssim_gain": 0}`, false},
		{`, "quality_gate": {"min_ssim_gain": 1.5}`, false},
	} {
		l, err := Parse([]byte(base + c.extra + "}"))
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.extra, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v does not wrap ErrInvalid", c.extra, err)
		}
		if err == nil && strings.Contains(c.extra, "quality_gate") && (l.QualityGate == nil || l.QualityGate.MinSSIMGain != 0.005) {
			t.Errorf("%s: parsed %+v", c.extra, l.QualityGate)
		}
	}
}

func TestChunkSeconds(t *testing.T) {
	base := `{"name": "x", "segment_seconds": 6, "renditions": [{"height": 720, "bitrate_bps": 3000000}]`
	for _, c := range []struct {
		extra string
		want  *float64 // nil: absent
		err   string   // "": parses
	}{
		{``, nil, ""},
		{`, "chunk_seconds": 60`, ptrTo(60.0), ""},
		{`, "chunk_seconds": 0`, ptrTo(0.0), ""},     // never chunk
		{`, "chunk_seconds": 62.5`, ptrTo(62.5), ""}, // not whole segments: rounded up when planned
		{`, "chunk_seconds": -1`, nil, "chunk_seconds: -1 is not 0 (never chunk) or in (0, 3600]"},
		{`, "chunk_seconds": 7200`, nil, "chunk_seconds: 7200"},
		{`, "chunk_seconds": "60"`, nil, "chunk_seconds: string is not a valid float64"},
		{`, "chunk_second": 60`, nil, `unknown field "chunk_second"`},
	} {
		l, err := Parse([]byte(base + c.extra + "}"))
		switch {
		case c.err != "":
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want one wrapping ErrInvalid with %q", c.extra, err, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.extra, err)
		case (l.ChunkSeconds == nil) != (c.want == nil) || c.want != nil && *l.ChunkSeconds != *c.want:
			t.Errorf("%s: chunk_seconds %v, want %v", c.extra, l.ChunkSeconds, c.want)
		}
	}
	y, err := Parse([]byte("segment_seconds: 4\nchunk_seconds: 40\nrenditions: [{height: 720, bitrate_bps: 3000000}]\n"))
	if err != nil || y.ChunkSeconds == nil || *y.ChunkSeconds != 40 {
		t.Fatalf("YAML chunk_seconds: %v, %+v", err, y)
	}
	for _, n := range Names() {
		if l, err := Lookup(n); err != nil || l.ChunkSeconds != nil {
			t.Errorf("preset %s: %v, chunk_seconds %v (presets leave it to the worker)", n, err, l.ChunkSeconds)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestResolveJob: a queued job names a preset or a file in the worker's
// --ladder-dir, never a path (issue N: `creds.env` once put a secret's
// first line into the failure reason).
func TestResolveJob(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "creds.env"), []byte("DB_PASS=hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := `{"name": "ours", "renditions": [{"height": 360, "bitrate_bps": 800000}]}`
	if err := os.WriteFile(filepath.Join(dir, "ours.json"), []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir) // a job's name must not be read from the working directory either
	if l, err := ResolveJob("mobile", "", 0); err != nil || l.Name != "mobile" {
		t.Errorf("preset: %v, %v", l, err)
	}
	for _, name := range []string{"creds.env", "ours.json", "../creds.env", ".creds", "sub/ours.json"} {
		_, err := ResolveJob(name, "", 0)
		if !errors.Is(err, ErrUnknownLadder) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ResolveJob(%q) without --ladder-dir: %v; want ErrUnknownLadder naming no content", name, err)
		}
	}
	if l, err := ResolveJob("ours.json", dir, 0); err != nil || l.Name != "ours" {
		t.Errorf("ResolveJob(ours.json, dir): %v, %v", l, err)
	}
	if _, err := ResolveJob("../"+filepath.Base(dir)+"/ours.json", dir, 0); !errors.Is(err, ErrUnknownLadder) {
		t.Errorf("a path out of --ladder-dir: %v", err)
	}
}
