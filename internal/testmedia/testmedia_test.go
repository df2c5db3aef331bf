package testmedia

import (
	"math"
	"os"
	"strings"
	"testing"
)

// want is what a generated clip must show under ffprobe; empty fields are
// not checked.
type want struct {
	format     string // substring of format_name
	video      string // codec_name; "" = no video stream expected
	pixFmt     string
	profile    string
	width      int
	height     int
	fieldOrder string // prefix of field_order
	sar        string
	rotation   int
	rFrameRate string
	vfr        bool
	audio      string // codec_name of every audio stream; "" = none expected
	tracks     int
}

func TestGenerate(t *testing.T) {
	skipWithoutFFmpeg(t)
	if !haveFFprobe() {
		t.Skip("testmedia: skipping: ffprobe is not on PATH")
	}
	tests := []struct {
		name string
		spec Spec
		want want
	}{
		{"defaults", Spec{Duration: 1},
			want{format: "mp4", video: "h264", pixFmt: "yuv420p", width: 320, height: 240, fieldOrder: "progressive", rFrameRate: "30/1", audio: "aac", tracks: 1}},
		{"h264-ntsc-rate-ts", Spec{Duration: 1.5, Width: 256, Height: 144, FPS: "30000/1001", Container: "ts"},
			want{format: "mpegts", video: "h264", width: 256, height: 144, rFrameRate: "30000/1001", audio: "aac", tracks: 1}},
		{"hevc10", Spec{Duration: 1, Video: VideoHEVC10},
			want{format: "mp4", video: "hevc", pixFmt: "yuv420p10le", profile: "Main 10", audio: "aac", tracks: 1}},
		{"vp9-webm", Spec{Duration: 1, Container: "webm"},
			want{format: "webm", video: "vp9", pixFmt: "yuv420p", audio: "opus", tracks: 1}},
		{"vp9-mp4", Spec{Duration: 1, Video: VideoVP9},
			want{format: "mp4", video: "vp9", audio: "aac", tracks: 1}},
		{"mpeg2-interlaced-ts", Spec{Duration: 1, Video: VideoMPEG2Interlaced, Container: "ts", FPS: "25"},
			want{format: "mpegts", video: "mpeg2video", fieldOrder: "t", rFrameRate: "25/1", audio: "aac", tracks: 1}},
		{"h264-interlaced", Spec{Duration: 1, Video: VideoH264Interlaced},
			want{format: "mp4", video: "h264", fieldOrder: "t", rFrameRate: "30/1", audio: "aac", tracks: 1}},
		{"rotate-90", Spec{Duration: 1, Rotate: 90},
			want{format: "mp4", video: "h264", width: 320, height: 240, rotation: 90, audio: "aac", tracks: 1}},
		{"rotate-180-mov", Spec{Duration: 1, Rotate: 180, Container: "mov"},
			want{format: "mov", video: "h264", rotation: 180, audio: "aac", tracks: 1}},
		{"rotate-270", Spec{Duration: 1, Rotate: 270},
			want{format: "mp4", video: "h264", rotation: 270, audio: "aac", tracks: 1}},
		{"anamorphic-mkv", Spec{Duration: 1, Width: 480, Height: 360, SAR: "4:3", Container: "mkv"},
			want{format: "matroska", video: "h264", sar: "4:3", audio: "aac", tracks: 1}},
		{"vfr", Spec{Duration: 2, VFR: true},
			want{format: "mp4", video: "h264", vfr: true, audio: "aac", tracks: 1}},
		{"yuv444p", Spec{Duration: 1, PixFmt: "yuv444p"},
			want{format: "mp4", video: "h264", pixFmt: "yuv444p", profile: "High 4:4:4 Predictive", audio: "aac", tracks: 1}},
		{"noise", Spec{Duration: 1, Noise: true},
			want{format: "mp4", video: "h264", audio: "aac", tracks: 1}},
		{"opus-mkv", Spec{Duration: 1, Audio: AudioOpus, Container: "mkv"},
			want{format: "matroska", video: "h264", audio: "opus", tracks: 1}},
		{"mp3", Spec{Duration: 1, Audio: AudioMP3},
			want{format: "mp4", video: "h264", audio: "mp3", tracks: 1}},
		{"three-tracks-mkv", Spec{Duration: 1, AudioTracks: 3, Container: "mkv"},
			want{format: "matroska", video: "h264", audio: "aac", tracks: 3}},
		{"video-only", Spec{Duration: 1, Audio: AudioNone},
			want{format: "mp4", video: "h264"}},
		{"audio-only", Spec{Duration: 1, Video: VideoNone},
			want{format: "mp4", audio: "aac", tracks: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := Generate(t, tt.spec)
			if !strings.HasSuffix(path, tt.spec.FileName()) {
				t.Errorf("path %s does not end in %s", path, tt.spec.FileName())
			}
			info, err := Probe(path)
			if err != nil {
				t.Fatal(err)
			}
			checkInfo(t, path, tt.spec.withDefaults(), info, tt.want)
		})
	}
}

// checkInfo compares ffprobe's report on a generated clip with w.
func checkInfo(t *testing.T, path string, s Spec, info Info, w want) {
	t.Helper()
	if !strings.Contains(info.Format.FormatName, w.format) {
		t.Errorf("format %q, want %q", info.Format.FormatName, w.format)
	}
	if d := info.Format.Seconds(); math.Abs(d-s.Duration) > 0.1 {
		t.Errorf("duration %.3f s, want %.3f ± 0.1 s", d, s.Duration)
	}

	videos := info.OfType("video")
	switch {
	case w.video == "" && len(videos) != 0:
		t.Errorf("%d video streams, want none", len(videos))
	case w.video != "" && len(videos) != 1:
		t.Errorf("%d video streams, want 1", len(videos))
	case w.video != "":
		v := videos[0]
		if v.CodecName != w.video {
			t.Errorf("video codec %q, want %q", v.CodecName, w.video)
		}
		if w.pixFmt != "" && v.PixFmt != w.pixFmt {
			t.Errorf("pix_fmt %q, want %q", v.PixFmt, w.pixFmt)
		}
		if w.profile != "" && v.Profile != w.profile {
			t.Errorf("profile %q, want %q", v.Profile, w.profile)
		}
		if w.width != 0 && (v.Width != w.width || v.Height != w.height) {
			t.Errorf("size %dx%d, want %dx%d", v.Width, v.Height, w.width, w.height)
		}
		if w.fieldOrder != "" && !strings.HasPrefix(v.FieldOrder, w.fieldOrder) {
			t.Errorf("field_order %q, want %q…", v.FieldOrder, w.fieldOrder)
		}
		if w.sar != "" && v.SampleAspectRatio != w.sar {
			t.Errorf("sample_aspect_ratio %q, want %q", v.SampleAspectRatio, w.sar)
		}
		if got := v.Rotation(); ((got-w.rotation)%360+360)%360 != 0 {
			t.Errorf("display rotation %d, want %d (mod 360); side data %+v", got, w.rotation, v.SideData)
		}
		if w.rotation != 0 && v.Rotation() == 0 {
			t.Errorf("no display matrix side data, want rotation %d", w.rotation)
		}
		if w.rFrameRate != "" && v.RFrameRate != w.rFrameRate {
			t.Errorf("r_frame_rate %q, want %q", v.RFrameRate, w.rFrameRate)
		}
		checkTiming(t, path, w.vfr, v)
	}

	audios := info.OfType("audio")
	if len(audios) != w.tracks {
		t.Errorf("%d audio streams, want %d", len(audios), w.tracks)
	}
	for _, a := range audios {
		if a.CodecName != w.audio {
			t.Errorf("audio stream %d codec %q, want %q", a.Index, a.CodecName, w.audio)
		}
		if a.Channels != 2 || a.SampleRate != "48000" {
			t.Errorf("audio stream %d is %d ch at %s Hz, want 2 ch at 48000 Hz", a.Index, a.Channels, a.SampleRate)
		}
	}
}

// checkTiming checks the frame intervals: several distinct ones and an
// average rate below the nominal one when vfr, a single one otherwise.
func checkTiming(t *testing.T, path string, vfr bool, v Stream) {
	t.Helper()
	pts, err := VideoPTS(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) < 2 {
		t.Fatalf("%d video packets", len(pts))
	}
	deltas := map[int64]int{} // interval in ms -> count
	for i := 1; i < len(pts); i++ {
		deltas[int64(math.Round((pts[i]-pts[i-1])*1000))]++
	}
	if vfr {
		if len(deltas) < 2 {
			t.Errorf("VFR clip has regular frame intervals %v", deltas)
		}
		if v.RFrameRate == v.AvgFrameRate {
			t.Errorf("VFR clip has r_frame_rate = avg_frame_rate = %s", v.RFrameRate)
		}
		return
	}
	// 30000/1001 rounds to 33 or 34 ms.
	if len(deltas) > 2 {
		t.Errorf("CFR clip has irregular frame intervals (ms: count) %v", deltas)
	}
}

// TestSourceGOP checks that keyframes come every 37 frames, aligned with no
// common segment length.
func TestSourceGOP(t *testing.T) {
	path := Generate(t, Spec{Duration: 3, Audio: AudioNone})
	keys, err := KeyframePTS(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0, 37.0 / 30, 74.0 / 30}
	if len(keys) != len(want) {
		t.Fatalf("keyframes at %v, want %v", keys, want)
	}
	for i := range keys {
		if math.Abs(keys[i]-want[i]) > 0.001 {
			t.Errorf("keyframe %d at %.3f s, want %.3f s", i, keys[i], want[i])
		}
	}
}

func TestGarbage(t *testing.T) {
	path := Garbage(t, 4096)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 4096 {
		t.Fatalf("%d bytes, want 4096", len(data))
	}
	again, err := os.ReadFile(Garbage(t, 4096))
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(data) {
		t.Error("garbage differs between calls")
	}
	if !haveFFprobe() {
		t.Skip("testmedia: skipping the ffprobe check: ffprobe is not on PATH")
	}
	if _, err := Probe(path); err == nil {
		t.Error("ffprobe accepted the garbage")
	}
}

func TestEmpty(t *testing.T) {
	fi, err := os.Stat(Empty(t))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 0 || !fi.Mode().IsRegular() {
		t.Errorf("empty file is %v with %d bytes", fi.Mode(), fi.Size())
	}
}

func TestTruncate(t *testing.T) {
	src := Generate(t, Spec{Duration: 1, Container: "ts"})
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []float64{0, 0.5, 1} {
		got, err := os.ReadFile(Truncate(t, src, f))
		if err != nil {
			t.Fatal(err)
		}
		n := int(float64(len(orig)) * f)
		if len(got) != n || string(got) != string(orig[:n]) {
			t.Errorf("fraction %v: %d bytes, want the first %d of %d", f, len(got), n, len(orig))
		}
	}
	if _, err := truncateTo(t.TempDir(), src, 1.5); err == nil {
		t.Error("fraction 1.5 accepted")
	}
	// A truncated MP4 has its moov atom (written last) cut off.
	mp4 := Generate(t, Spec{Duration: 1})
	if _, err := Probe(Truncate(t, mp4, 0.5)); err == nil {
		t.Error("ffprobe accepted an MP4 cut in half")
	}
}

func TestOversize(t *testing.T) {
	path := Oversize(t)
	info, err := Probe(path)
	if err != nil {
		t.Fatal(err)
	}
	v := info.OfType("video")
	if len(v) != 1 || v[0].Width != OversizeWidth || v[0].Height != OversizeHeight || v[0].CodecName != "ffv1" {
		t.Fatalf("streams %+v, want one %dx%d ffv1 video", info.Streams, OversizeWidth, OversizeHeight)
	}
	if pts, err := VideoPTS(path); err != nil || len(pts) != 2 {
		t.Errorf("%d frames (%v), want 2", len(pts), err)
	}
}

func TestValidate(t *testing.T) {
	bad := []Spec{
		{Width: 321},
		{Duration: -1},
		{FPS: "thirty"},
		{FPS: "30/0"},
		{Container: "avi"},
		{Video: "av1"},
		{Audio: "flac"},
		{Video: VideoNone, Audio: AudioNone},
		{Rotate: 45},
		{Rotate: 90, Container: "mkv"},
		{SAR: "wide"},
		{AudioTracks: -1},
	}
	for _, s := range bad {
		if err := s.withDefaults().validate(); err == nil {
			t.Errorf("%+v accepted", s)
		}
		if _, err := GenerateTo(t.TempDir(), s); err == nil {
			t.Errorf("GenerateTo(%+v) succeeded", s)
		}
	}
	if err := (Spec{}).withDefaults().validate(); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}

func TestFFmpegArgs(t *testing.T) {
	s := Spec{Video: VideoH264Interlaced, FPS: "30000/1001", Noise: true, VFR: true, SAR: "4:3", AudioTracks: 2}.withDefaults()
	args := strings.Join(ffmpegArgs(s, "out.mp4"), " ")
	for _, want := range []string{
		"testsrc2=size=320x240:rate=60000/1001:duration=2",
		"sine=frequency=440:", "sine=frequency=660:",
		"-map 0:v -map 1:a -map 2:a",
		"-vf noise=alls=30:allf=t+u,select='eq(n,0)+gte(random(0),0.3)',tinterlace=mode=merge,setfield=tff,setsar=4/3",
		"-fps_mode vfr", "-g 37", "-flags +ildct+ilme", "-c:a aac",
		"-t 2 -f mp4 out.mp4",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("args lack %q:\n%s", want, args)
		}
	}
	light := strings.Join(ffmpegArgs(Spec{Noise: true, NoiseStrength: 10}.withDefaults(), "out.mp4"), " ")
	if !strings.Contains(light, "-vf noise=alls=10:allf=t+u") {
		t.Errorf("NoiseStrength 10 not applied:\n%s", light)
	}
}
