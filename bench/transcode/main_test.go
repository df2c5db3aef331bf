package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/testmedia"
)

func TestLoadBenchLadder(t *testing.T) {
	l, err := loadLadder("../bench4.json")
	if err != nil {
		t.Fatal(err)
	}
	if l.Name != "bench4" || l.SegmentSeconds != 4 || l.GOPSeconds != 2 || len(l.Renditions) != 4 {
		t.Fatalf("ladder %+v", l)
	}
	if l.Video != (VideoParams{"h264", "veryfast", "high"}) || l.Audio != (AudioParams{"aac", 128000, 2}) {
		t.Errorf("codecs %+v %+v", l.Video, l.Audio)
	}
	for _, r := range l.Renditions {
		if math.Abs(float64(r.MaxRate)-1.07*float64(r.BitsPerSecond)) > 1 || r.BufSizeBits*2 != r.BitsPerSecond*3 {
			t.Errorf("rendition %+v: maxrate is not 1.07x or bufsize not 1.5x the bitrate", r)
		}
	}
}

func TestLadderValidate(t *testing.T) {
	good := Ladder{SegmentSeconds: 4, GOPSeconds: 2, Video: VideoParams{Codec: "h264"}, Audio: AudioParams{Codec: "aac"},
		Renditions: []Rendition{{Height: 360, BitsPerSecond: 1}}}
	if err := good.validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*Ladder){
		"no renditions": func(l *Ladder) { l.Renditions = nil },
		"no segment":    func(l *Ladder) { l.SegmentSeconds = 0 },
		"hevc":          func(l *Ladder) { l.Video.Codec = "hevc" },
		"opus":          func(l *Ladder) { l.Audio.Codec = "opus" },
		"odd height":    func(l *Ladder) { l.Renditions = []Rendition{{Height: 361, BitsPerSecond: 1}} },
		"no bitrate":    func(l *Ladder) { l.Renditions = []Rendition{{Height: 360}} },
	} {
		l := good
		mutate(&l)
		if err := l.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestBaselineArgs(t *testing.T) {
	l, err := loadLadder("../bench4.json")
	if err != nil {
		t.Fatal(err)
	}
	args := baselineArgs(l, "src.mp4", "/out", 30)
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"-i src.mp4 -filter_complex [0:v]split=4[s0][s1][s2][s3];[s0]scale=-2:1080[v0];[s1]scale=-2:720[v1];[s2]scale=-2:480[v2];[s3]scale=-2:360[v3] ",
		"-map [v0] -map 0:a:0 -map [v1] -map 0:a:0 -map [v2] -map 0:a:0 -map [v3] -map 0:a:0 ",
		"-c:v libx264 -preset veryfast -profile:v high -g 60 -keyint_min 60 -sc_threshold 0 ",
		"-b:v:0 5000000 -maxrate:v:0 5350000 -bufsize:v:0 7500000 ",
		"-b:v:3 700000 -maxrate:v:3 749000 -bufsize:v:3 1050000 ",
		"-c:a aac -b:a 128000 -ac 2 ",
		"-f hls -hls_time 4 -hls_playlist_type vod ",
		"-master_pl_name master.m3u8 -var_stream_map v:0,a:0 v:1,a:1 v:2,a:2 v:3,a:3 /out/stream_%v/index.m3u8",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("baseline lacks %q:\n%s", want, joined)
		}
	}
	// The stream map is one argument.
	if !slices.Contains(args, "v:0,a:0 v:1,a:1 v:2,a:2 v:3,a:3") {
		t.Error("var_stream_map is split over several arguments")
	}
	// 25 fps gives a 50-frame GOP; defaults derive maxrate and bufsize.
	l.Renditions = []Rendition{{Height: 240, BitsPerSecond: 1000000}}
	joined = strings.Join(baselineArgs(l, "s", "/o", 25), " ")
	for _, want := range []string{"split=1[s0];[s0]scale=-2:240[v0]", "-g 50 -keyint_min 50", "-maxrate:v:0 1070000 -bufsize:v:0 1500000"} {
		if !strings.Contains(joined, want) {
			t.Errorf("baseline lacks %q:\n%s", want, joined)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := slices.Clone(tt.in)
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
		if !slices.Equal(in, tt.in) {
			t.Errorf("median reordered its input to %v", tt.in)
		}
	}
}

func TestSummary(t *testing.T) {
	cli := []Measurement{
		{Wall: 10 * time.Second, CPU: 19 * time.Second, MaxRSSBytes: 600e6},
		{Wall: 12 * time.Second, CPU: 20 * time.Second, MaxRSSBytes: 650e6},
		{Wall: 11 * time.Second, CPU: 21 * time.Second, MaxRSSBytes: 700e6},
	}
	fleet := []Measurement{
		{Wall: 9 * time.Second, CPU: 17 * time.Second, MaxRSSBytes: 500e6},
		{Wall: 30 * time.Second, CPU: 18 * time.Second, MaxRSSBytes: 900e6},
		{Wall: 9.5e9, CPU: 18 * time.Second, MaxRSSBytes: 520e6},
	}
	s := summarize(cli, fleet, 2)
	if s.CLIWall != 11 || s.FleetWall != 9.5 || s.CLIRSS != 650e6 || s.FleetRSS != 520e6 {
		t.Fatalf("summary %+v", s)
	}
	if r := s.WallRatio(); math.Abs(r-9.5/11) > 1e-9 {
		t.Errorf("wall ratio %v", r)
	}
	if r := s.RSSRatio(); math.Abs(r-0.8) > 1e-9 {
		t.Errorf("RSS ratio %v", r)
	}
	if u := s.utilisation(s.CLICPU, s.CLIWall); math.Abs(u-100*20.0/11/2) > 1e-9 {
		t.Errorf("CLI utilisation %v", u)
	}
	if got := cli[0].cpuPercent(2); got != 95 {
		t.Errorf("cpuPercent = %v, want 95", got)
	}
	report := strings.Join(s.Lines(), "\n")
	if strings.Count(report, "PASS") != 2 || strings.Contains(report, "MISS") {
		t.Errorf("report:\n%s", report)
	}
	if v := verdict(0.95, targetWallRatio); v != "MISS" {
		t.Errorf("verdict(0.95) = %s", v)
	}
	if v := verdict(math.NaN(), 1); v != "MISS" {
		t.Errorf("verdict(NaN) = %s", v)
	}
	if r := summarize(nil, nil, 2).WallRatio(); !math.IsNaN(r) {
		t.Errorf("ratio of nothing = %v", r)
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 5}
	b.Write([]byte("abc"))
	b.Write([]byte("defgh"))
	if got := b.String(); got != "defgh" {
		t.Errorf("tail %q", got)
	}
}

// TestRunWithStandIn runs the whole harness on a tiny source and ladder,
// with a shell script standing in for the hlsfleet binary.
func TestRunWithStandIn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ffmpeg several times")
	}
	if !testmedia.HaveFFmpeg() {
		t.Skip("ffmpeg is not on PATH")
	}
	dir := t.TempDir()
	ladder := filepath.Join(dir, "tiny.json")
	err := os.WriteFile(ladder, []byte(`{"name": "tiny", "segment_seconds": 1, "gop_seconds": 1,
 "video": {"codec": "h264", "preset": "ultrafast", "profile": "high"},
 "audio": {"codec": "aac", "bitrate_bps": 64000, "channels": 2},
 "renditions": [{"height": 180, "bitrate_bps": 300000}, {"height": 144, "bitrate_bps": 200000}]}`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "keep")
	var out bytes.Buffer
	c := config{hlsfleet: "testdata/fake-hlsfleet.sh", ladder: ladder, runs: 2, keep: keep,
		seconds: 2, width: 320, height: 180, timeout: time.Minute}
	if err := run(c, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	for _, want := range []string{"ffmpeg-cli", "hlsfleet", "hlsfleet+extras", "medians of 2 run(s)", "wall time", "peak RSS", "extras      storyboard"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, p := range []string{"ffmpeg-cli-1/master.m3u8", "ffmpeg-cli-2/stream_1/index.m3u8", "hlsfleet-2/master.m3u8", "bench-source.mp4"} {
		if _, err := os.Stat(filepath.Join(keep, p)); err != nil {
			t.Error(err)
		}
	}

	// A binary that writes no master playlist is an error.
	c.hlsfleet, c.runs, c.src = "/bin/true", 1, filepath.Join(keep, "bench-source.mp4")
	if err := run(c, &out); err == nil || !strings.Contains(err.Error(), "no master playlist") {
		t.Errorf("run with /bin/true: %v", err)
	}
}

func TestExtrasLine(t *testing.T) {
	ms := func(walls ...float64) []Measurement {
		var out []Measurement
		for _, w := range walls {
			d := time.Duration(w * float64(time.Second))
			out = append(out, Measurement{Wall: d, CPU: 2 * d})
		}
		return out
	}
	got := extrasLine(ms(10, 11, 9), ms(12, 11.5, 13))
	if !strings.Contains(got, "add 20.0% wall (10.00 s -> 12.00 s), 20.0% CPU") {
		t.Errorf("extrasLine = %q", got)
	}
	if got := extrasLine(nil, ms(1)); !strings.Contains(got, "not measured") {
		t.Errorf("extrasLine without a plain run = %q", got)
	}
}
