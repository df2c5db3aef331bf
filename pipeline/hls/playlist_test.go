package hls

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var pdt = time.Date(2024, 5, 1, 12, 0, 0, 250_000_000, time.UTC)

// masters are encoded to golden files and round-tripped.
var masters = map[string]*Master{
	"master_ladder": {
		Version:             3,
		IndependentSegments: true,
		Variants: []Variant{
			{URI: "1080p/index.m3u8", Bandwidth: 6_600_000, AverageBandwidth: 5_100_000, Codecs: []string{"avc1.640028", AACLC}, Width: 1920, Height: 1080, FrameRate: 30},
			{URI: "720p/index.m3u8", Bandwidth: 3_300_000, AverageBandwidth: 2_900_000, Codecs: []string{"avc1.64001f", AACLC}, Width: 1280, Height: 720, FrameRate: 29.97},
			{URI: "480p/index.m3u8", Bandwidth: 1_400_000, Codecs: []string{"avc1.4d401e", AACLC}, Width: 854, Height: 480, FrameRate: 23.976},
		},
	},
	"master_audio_group": {
		Version: 4,
		Media: []Media{
			{Type: "AUDIO", GroupID: "aac", Name: "English", Language: "en", URI: "audio/en.m3u8", Channels: "2", Default: true, AutoSelect: true},
			{Type: "AUDIO", GroupID: "aac", Name: "Deutsch, Stereo", Language: "de", URI: "audio/de.m3u8", Channels: "2"},
		},
		Variants: []Variant{
			{URI: "v/720p.m3u8", Bandwidth: 3_000_000, AverageBandwidth: 2_500_000, Codecs: []string{"hvc1.1.6.L93.B0", AACLC}, Width: 1280, Height: 720, FrameRate: 25, Audio: "aac"},
			{URI: "audio-only.m3u8", Bandwidth: 140_000, Codecs: []string{AACLC}, Audio: "aac"},
		},
	},
	"master_empty": {},
}

// medias are encoded to golden files and round-tripped; their Version and
// TargetDuration are set so that the round trip is exact.
var medias = map[string]*MediaPlaylist{
	"media_vod_ts": {
		Version: 3, TargetDuration: 4, Type: VOD, IndependentSegments: true, EndList: true,
		Segments: []Segment{{URI: "seg0.ts", Duration: 4}, {URI: "seg1.ts", Duration: 4}, {URI: "seg2.ts", Duration: 2.533}},
	},
	"media_vod_fmp4": {
		Version: 6, TargetDuration: 6, Type: VOD, IndependentSegments: true, EndList: true, MapURI: "init.mp4",
		Segments: []Segment{{URI: "seg0.m4s", Duration: 6.006}, {URI: "seg1.m4s", Duration: 5.005}},
	},
	"media_vod_fmp4_maps": {
		Version: 6, TargetDuration: 2, Type: VOD, IndependentSegments: true, EndList: true, MapURI: "../a/init.mp4",
		Segments: []Segment{
			{URI: "../a/seg_00000.m4s", Duration: 2}, {URI: "../a/seg_00001.m4s", Duration: 2},
			{URI: "../b/seg_00002.m4s", Duration: 2, MapURI: "../b/init.mp4"},
			{URI: "../c/seg_00003.m4s", Duration: 1.5, Discontinuity: true, MapURI: "../c/init.mp4"},
		},
	},
	"media_live": {
		Version: 3, TargetDuration: 2, MediaSequence: 1041, DiscontinuitySequence: 3,
		Segments: []Segment{
			{URI: "live/1041.ts", Duration: 2, ProgramDateTime: pdt},
			{URI: "live/1042.ts", Duration: 1.968, Discontinuity: true, ProgramDateTime: pdt.Add(2 * time.Second)},
			{URI: "live/1043.ts", Duration: 2.002},
		},
	},
	"media_event": {
		Version: 3, TargetDuration: 10, Type: Event,
		Segments: []Segment{{URI: "https://cdn.example.com/a.ts?token=x,y", Duration: 9.5}},
	},
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".m3u8")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from golden file:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// normalize makes playlists comparable with reflect.DeepEqual: times in UTC
// and empty slices as nil.
func normalizeMedia(p *MediaPlaylist) {
	for i := range p.Segments {
		if !p.Segments[i].ProgramDateTime.IsZero() {
			p.Segments[i].ProgramDateTime = p.Segments[i].ProgramDateTime.UTC()
		}
	}
	if len(p.Segments) == 0 {
		p.Segments = nil
	}
}

func TestMasterGoldenAndRoundTrip(t *testing.T) {
	for name, m := range masters {
		t.Run(name, func(t *testing.T) {
			enc := m.Encode()
			golden(t, name, enc)
			got, err := ParseMaster(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, m)
			}
		})
	}
}

func TestMediaGoldenAndRoundTrip(t *testing.T) {
	for name, p := range medias {
		t.Run(name, func(t *testing.T) {
			enc := p.Encode()
			golden(t, name, enc)
			got, err := ParseMedia(enc)
			if err != nil {
				t.Fatal(err)
			}
			normalizeMedia(got)
			if !reflect.DeepEqual(got, p) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, p)
			}
		})
	}
}

func TestMediaComputedHeader(t *testing.T) {
	tests := []struct {
		name        string
		p           MediaPlaylist
		wantVersion int
		wantTarget  int
	}{
		{"ts", MediaPlaylist{Segments: []Segment{{URI: "a.ts", Duration: 4.4}, {URI: "b.ts", Duration: 3}}}, 3, 4},
		{"fmp4", MediaPlaylist{MapURI: "init.mp4", Segments: []Segment{{URI: "a.m4s", Duration: 4.5}}}, 6, 5},
		{"fmp4 segment map", MediaPlaylist{Segments: []Segment{{URI: "a.ts", Duration: 2}, {URI: "b.m4s", Duration: 2, MapURI: "init.mp4"}}}, 6, 2},
		{"explicit", MediaPlaylist{Version: 7, TargetDuration: 10, Segments: []Segment{{URI: "a.ts", Duration: 2}}}, 7, 10},
		{"empty", MediaPlaylist{}, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMedia(tt.p.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != tt.wantVersion || got.TargetDuration != tt.wantTarget {
				t.Errorf("version %d target %d, want %d %d", got.Version, got.TargetDuration, tt.wantVersion, tt.wantTarget)
			}
		})
	}
}

func TestTargetDuration(t *testing.T) {
	tests := []struct {
		durs []float64
		want int
	}{
		{nil, 1},
		{[]float64{0.2}, 1},
		{[]float64{2, 2, 1.2}, 2},
		{[]float64{4.4999}, 5}, // written as 4.500, which rounds up
		{[]float64{4.4994}, 4}, // written as 4.499
		{[]float64{4.5}, 5},
		{[]float64{6.006, 6.006, 3}, 6},
		{[]float64{2, 10.49, 3}, 10},
	}
	for _, tt := range tests {
		var segs []Segment
		for _, d := range tt.durs {
			segs = append(segs, Segment{Duration: d})
		}
		if got := TargetDuration(segs); got != tt.want {
			t.Errorf("TargetDuration(%v) = %d, want %d", tt.durs, got, tt.want)
		}
	}
}

func TestAppendWindow(t *testing.T) {
	var p MediaPlaylist
	disc := map[int]bool{2: true, 4: true, 5: true}
	for i := range 8 {
		p.AppendWindow(Segment{URI: string(rune('a' + i)), Duration: 2, Discontinuity: disc[i]}, 3)
	}
	// Segments a..h with discontinuities before c, e and f; the window
	// keeps f, g, h, so a..e (5 segments, 2 discontinuity tags) are gone.
	if p.MediaSequence != 5 || p.DiscontinuitySequence != 2 {
		t.Errorf("sequence %d discontinuity %d, want 5 2", p.MediaSequence, p.DiscontinuitySequence)
	}
	var uris []string
	for _, s := range p.Segments {
		uris = append(uris, s.URI)
	}
	if got := strings.Join(uris, ""); got != "fgh" || !p.Segments[0].Discontinuity {
		t.Errorf("window %q (first discontinuity %v), want fgh with a discontinuity first", got, p.Segments[0].Discontinuity)
	}

	var all MediaPlaylist
	for range 5 {
		all.AppendWindow(Segment{URI: "x", Duration: 1, Discontinuity: true}, 0)
	}
	if len(all.Segments) != 5 || all.MediaSequence != 0 || all.DiscontinuitySequence != 0 {
		t.Errorf("window 0 dropped segments: %+v", all)
	}
}

func TestParseTolerant(t *testing.T) {
	master := "\uFEFF#EXTM3U\r\n#EXT-X-VERSION:6\r\n# a comment\r\n#EXT-X-SESSION-DATA:DATA-ID=\"x\",VALUE=\"y\"\r\n\r\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS=\"avc1.42e01e,mp4a.40.2\",RESOLUTION=640x360,CLOSED-CAPTIONS=NONE,HDCP-LEVEL=NONE\r\n" +
		"low.m3u8\r\n"
	m, err := ParseMaster([]byte(master))
	if err != nil {
		t.Fatal(err)
	}
	want := &Master{Version: 6, Variants: []Variant{{URI: "low.m3u8", Bandwidth: 800000, Codecs: []string{"avc1.42e01e", AACLC}, Width: 640, Height: 360}}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %+v, want %+v", m, want)
	}

	media := "#EXTM3U\r\n#EXT-X-TARGETDURATION:6\r\n#EXT-X-ALLOW-CACHE:NO\r\n#EXT-X-MAP:URI=\"init.mp4\",BYTERANGE=\"100@0\"\r\n" +
		"#EXTINF:5.5,title, with comma\r\n#EXT-X-BYTERANGE:100@0\r\nseg0.m4s\r\n#EXT-X-ENDLIST\r\n"
	p, err := ParseMedia([]byte(media))
	if err != nil {
		t.Fatal(err)
	}
	wantP := &MediaPlaylist{TargetDuration: 6, MapURI: "init.mp4", EndList: true, Segments: []Segment{{URI: "seg0.m4s", Duration: 5.5}}}
	if !reflect.DeepEqual(p, wantP) {
		t.Errorf("got %+v, want %+v", p, wantP)
	}
}

func TestParseErrors(t *testing.T) {
	masterTests := map[string]string{
		"empty":             "",
		"no EXTM3U":         "#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n",
		"bad bandwidth":     "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=12k\na.m3u8\n",
		"no bandwidth":      "#EXTM3U\n#EXT-X-STREAM-INF:CODECS=\"avc1.640028\"\na.m3u8\n",
		"bad resolution":    "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=1280*720\na.m3u8\n",
		"bad frame rate":    "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,FRAME-RATE=fast\na.m3u8\n",
		"unterminated":      "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1\na.m3u8\n",
		"missing uri":       "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n",
		"media playlist":    "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n",
		"bad version":       "#EXTM3U\n#EXT-X-VERSION:three\n",
		"bad DEFAULT":       "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"x\",DEFAULT=maybe\n",
		"media without id":  "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,NAME=\"x\"\n",
		"uri without inf":   "#EXTM3U\na.m3u8\n",
		"duplicate attr":    "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,BANDWIDTH=2\na.m3u8\n",
		"negative bitrate":  "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=-1\na.m3u8\n",
		"junk after quotes": "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"a\"b\na.m3u8\n",
	}
	for name, in := range masterTests {
		if _, err := ParseMaster([]byte(in)); !errors.Is(err, ErrParse) {
			t.Errorf("ParseMaster(%s): err = %v, want ErrParse", name, err)
		}
	}
	mediaTests := map[string]string{
		"empty":           "",
		"no EXTM3U":       "#EXTINF:2,\na.ts\n",
		"bad extinf":      "#EXTM3U\n#EXTINF:two,\na.ts\n",
		"bad target":      "#EXTM3U\n#EXT-X-TARGETDURATION:2.5\n",
		"bad sequence":    "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:x\n",
		"bad disc seq":    "#EXTM3U\n#EXT-X-DISCONTINUITY-SEQUENCE:-2\n",
		"bad type":        "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:LIVE\n",
		"bad pdt":         "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n#EXTINF:2,\na.ts\n",
		"map without uri": "#EXTM3U\n#EXT-X-MAP:BYTERANGE=\"1@0\"\n",
		"uri without inf": "#EXTM3U\n#EXT-X-TARGETDURATION:2\na.ts\n",
		"dangling inf":    "#EXTM3U\n#EXTINF:2,\n",
		"master playlist": "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n",
	}
	for name, in := range mediaTests {
		if _, err := ParseMedia([]byte(in)); !errors.Is(err, ErrParse) {
			t.Errorf("ParseMedia(%s): err = %v, want ErrParse", name, err)
		}
	}
}

func TestEncodeAttributeQuoting(t *testing.T) {
	m := &Master{Variants: []Variant{{URI: "a.m3u8", Bandwidth: 1000, AverageBandwidth: 900, Codecs: []string{"avc1.640028", AACLC}, Width: 1280, Height: 720, FrameRate: 30, Audio: "aud"}}}
	want := `#EXT-X-STREAM-INF:BANDWIDTH=1000,AVERAGE-BANDWIDTH=900,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO="aud"`
	if got := string(m.Encode()); !strings.Contains(got, want+"\na.m3u8\n") {
		t.Errorf("got\n%s\nwant a line\n%s", got, want)
	}
	p := &MediaPlaylist{MapURI: "init.mp4", Segments: []Segment{{URI: "s.m4s", Duration: 4}}}
	for _, line := range []string{`#EXT-X-MAP:URI="init.mp4"`, "#EXTINF:4.000,\ns.m4s\n"} {
		if got := string(p.Encode()); !strings.Contains(got, line) {
			t.Errorf("got\n%s\nwant %q", got, line)
		}
	}
}

// TestSegmentMap: a segment's MapURI is an EXT-X-MAP before it, read back
// onto the same segment; one on the first segment is the playlist's.
func TestSegmentMap(t *testing.T) {
	p := &MediaPlaylist{Segments: []Segment{{URI: "a.m4s", Duration: 2, MapURI: "i0.mp4"}, {URI: "b.m4s", Duration: 2, MapURI: "i1.mp4"}}}
	enc := string(p.Encode())
	want := "#EXT-X-MAP:URI=\"i0.mp4\"\n#EXTINF:2.000,\na.m4s\n#EXT-X-MAP:URI=\"i1.mp4\"\n#EXTINF:2.000,\nb.m4s\n"
	if !strings.Contains(enc, want) || !strings.Contains(enc, "#EXT-X-VERSION:6\n") {
		t.Fatalf("got\n%swant version 6 and\n%s", enc, want)
	}
	got, err := ParseMedia([]byte(enc))
	if err != nil {
		t.Fatal(err)
	}
	if got.MapURI != "i0.mp4" || got.Segments[0].MapURI != "" || got.Segments[1].MapURI != "i1.mp4" {
		t.Errorf("parsed map %q, segment maps %q %q; want i0.mp4 on the playlist, i1.mp4 on segment 1",
			got.MapURI, got.Segments[0].MapURI, got.Segments[1].MapURI)
	}
}
