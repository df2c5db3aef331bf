package ladders

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// summary renders an output as "name WxH fps" for compact expectations.
func summary(o Output) string {
	return fmt.Sprintf("%s %dx%d %s", o.Name, o.Width, o.Height, o.FPS)
}

// checkProperties asserts what must hold for every output of every selection.
func checkProperties(t *testing.T, src Source, outs []Output) {
	t.Helper()
	dw, dh, err := displaySize(src)
	if err != nil {
		t.Fatalf("displaySize: %v", err)
	}
	if len(outs) == 0 {
		t.Fatalf("no outputs")
	}
	for i, o := range outs {
		if o.Width%2 != 0 || o.Height%2 != 0 {
			t.Errorf("%s: %dx%d has an odd side", o.Name, o.Width, o.Height)
		}
		if o.Width < 2 || o.Height < 2 || o.Width > maxDimension || o.Height > maxDimension {
			t.Errorf("%s: %dx%d is out of [2, 8192]", o.Name, o.Width, o.Height)
		}
		got, want := float64(o.Width)/float64(o.Height), dw/dh
		if math.Abs(got/want-1) > 0.01 {
			t.Errorf("%s: aspect %.4f (%dx%d) is not within 1%% of display aspect %.4f", o.Name, got, o.Width, o.Height, want)
		}
		if float64(min(o.Width, o.Height)) > min(dw, dh) || float64(max(o.Width, o.Height)) > max(dw, dh) {
			t.Errorf("%s: %dx%d upscales the %.1fx%.1f display", o.Name, o.Width, o.Height, dw, dh)
		}
		if (o.Width > o.Height) != (dw > dh) && o.Width != o.Height && dw != dh {
			t.Errorf("%s: %dx%d does not keep the display orientation %.0fx%.0f", o.Name, o.Width, o.Height, dw, dh)
		}
		if f := o.FPS.Float(); !(f > 0 && f <= 60) {
			t.Errorf("%s: fps %s is not in (0, 60]", o.Name, o.FPS)
		}
		if o.FPS != reduce(o.FPS) {
			t.Errorf("%s: fps %s is not reduced", o.Name, o.FPS)
		}
		if o.BitrateBPS <= 0 || o.MaxrateBPS < o.BitrateBPS || o.BufsizeBits <= 0 {
			t.Errorf("%s: rates %d/%d/%d", o.Name, o.BitrateBPS, o.MaxrateBPS, o.BufsizeBits)
		}
		if o.Codec == "" || o.Profile == "" || o.Preset == "" {
			t.Errorf("%s: unresolved codec settings %q %q %q", o.Name, o.Codec, o.Profile, o.Preset)
		}
		if i > 0 {
			prev := outs[i-1]
			if min(prev.Width, prev.Height) < min(o.Width, o.Height) {
				t.Errorf("outputs not highest first: %s before %s", summary(prev), summary(o))
			}
		}
	}
}

func mustLookup(t *testing.T, name string) *Ladder {
	t.Helper()
	l, err := Lookup(name)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", name, err)
	}
	return l
}

func TestSelect(t *testing.T) {
	fps30 := Rational{30, 1}
	tests := []struct {
		name   string
		ladder string
		src    Source
		want   []string
	}{
		{"landscape 1080p", "bench4", Source{Width: 1920, Height: 1080, FPS: fps30},
			[]string{"1080p 1920x1080 30/1", "720p 1280x720 30/1", "480p 854x480 30/1", "360p 640x360 30/1"}},
		{"4K into bench4", "bench4", Source{Width: 3840, Height: 2160, FPS: fps30},
			[]string{"1080p 1920x1080 30/1", "720p 1280x720 30/1", "480p 854x480 30/1", "360p 640x360 30/1"}},
		{"4K into hd-hevc", "hd-hevc", Source{Width: 3840, Height: 2160, FPS: Rational{60, 1}},
			[]string{"2160p 3840x2160 60/1", "1440p 2560x1440 60/1", "1080p 1920x1080 60/1", "720p 1280x720 60/1"}},
		{"1080p into hd-hevc drops 4K and 1440", "hd-hevc", Source{Width: 1920, Height: 1080, FPS: fps30},
			[]string{"1080p 1920x1080 30/1", "720p 1280x720 30/1"}},
		{"landscape 720p", "bench4", Source{Width: 1280, Height: 720, FPS: fps30},
			[]string{"720p 1280x720 30/1", "480p 854x480 30/1", "360p 640x360 30/1"}},
		{"odd 1279x719 drops 720", "bench4", Source{Width: 1279, Height: 719, FPS: fps30},
			[]string{"480p 854x480 30/1", "360p 640x360 30/1"}},
		{"1279x720 keeps 720 without upscaling the width", "bench4", Source{Width: 1279, Height: 720, FPS: fps30},
			[]string{"720p 1278x720 30/1", "480p 852x480 30/1", "360p 640x360 30/1"}},
		{"tiny 320x180 gets one own-size rung", "bench4", Source{Width: 320, Height: 180, FPS: fps30},
			[]string{"180p 320x180 30/1"}},
		{"tiny odd 321x181 rounds down", "bench4", Source{Width: 321, Height: 181, FPS: fps30},
			[]string{"180p 320x180 30/1"}},
		{"portrait phone", "bench4", Source{Width: 1080, Height: 1920, FPS: fps30},
			[]string{"1080p 1080x1920 30/1", "720p 720x1280 30/1", "480p 480x854 30/1", "360p 360x640 30/1"}},
		{"rotated 90", "bench4", Source{Width: 1920, Height: 1080, Rotation: 90, FPS: fps30},
			[]string{"1080p 1080x1920 30/1", "720p 720x1280 30/1", "480p 480x854 30/1", "360p 360x640 30/1"}},
		{"rotated -90 (270)", "bench4", Source{Width: 1920, Height: 1080, Rotation: -90, FPS: fps30},
			[]string{"1080p 1080x1920 30/1", "720p 720x1280 30/1", "480p 480x854 30/1", "360p 360x640 30/1"}},
		{"rotated 180 stays landscape", "bench4", Source{Width: 1920, Height: 1080, Rotation: 180, FPS: fps30},
			[]string{"1080p 1920x1080 30/1", "720p 1280x720 30/1", "480p 854x480 30/1", "360p 640x360 30/1"}},
		{"rotation 448 rounds to 90", "bench4", Source{Width: 1280, Height: 720, Rotation: 448, FPS: fps30},
			[]string{"720p 720x1280 30/1", "480p 480x854 30/1", "360p 360x640 30/1"}},
		{"rotated portrait phone becomes landscape", "bench4", Source{Width: 1080, Height: 1920, Rotation: 270, FPS: fps30},
			[]string{"1080p 1920x1080 30/1", "720p 1280x720 30/1", "480p 854x480 30/1", "360p 640x360 30/1"}},
		{"anamorphic 1440x1080 SAR 4:3", "bench4", Source{Width: 1440, Height: 1080, SAR: Rational{4, 3}, FPS: fps30},
			[]string{"1080p 1920x1080 30/1", "720p 1280x720 30/1", "480p 854x480 30/1", "360p 640x360 30/1"}},
		{"PAL 720x576 SAR 16:15", "bench4", Source{Width: 720, Height: 576, SAR: Rational{16, 15}, FPS: Rational{25, 1}},
			[]string{"480p 640x480 25/1", "360p 480x360 25/1"}},
		{"PAL wide 720x576 SAR 64:45", "bench4", Source{Width: 720, Height: 576, SAR: Rational{64, 45}, FPS: Rational{25, 1}},
			[]string{"480p 854x480 25/1", "360p 640x360 25/1"}},
		{"SAR 0/1 means square", "bench4", Source{Width: 1280, Height: 720, SAR: Rational{0, 1}, FPS: fps30},
			[]string{"720p 1280x720 30/1", "480p 854x480 30/1", "360p 640x360 30/1"}},
		{"SAR 1/0 means square", "bench4", Source{Width: 1280, Height: 720, SAR: Rational{1, 0}, FPS: fps30},
			[]string{"720p 1280x720 30/1", "480p 854x480 30/1", "360p 640x360 30/1"}},
		{"anamorphic portrait", "bench4", Source{Width: 540, Height: 1280, SAR: Rational{4, 3}, FPS: fps30},
			[]string{"720p 720x1280 30/1", "480p 480x854 30/1", "360p 360x640 30/1"}},
		{"4:3 640x480", "bench4", Source{Width: 640, Height: 480, FPS: fps30},
			[]string{"480p 640x480 30/1", "360p 480x360 30/1"}},
		{"square 1080x1080", "default", Source{Width: 1080, Height: 1080, FPS: fps30},
			[]string{"1080p 1080x1080 30/1", "720p 720x720 30/1", "480p 480x480 30/1", "360p 360x360 30/1", "240p 240x240 30/1"}},
		{"default preset 1080p", "default", Source{Width: 1920, Height: 1080, FPS: Rational{24000, 1001}},
			[]string{"1080p 1920x1080 24000/1001", "720p 1280x720 24000/1001", "480p 854x480 24000/1001",
				"360p 640x360 24000/1001", "240p 426x240 24000/1001"}},
		{"mobile caps 60 fps at 30", "mobile", Source{Width: 1920, Height: 1080, FPS: Rational{60, 1}},
			[]string{"720p 1280x720 30/1", "540p 960x540 30/1", "360p 640x360 30/1", "240p 426x240 30/1"}},
		{"mobile caps 59.94 at 29.97", "mobile", Source{Width: 1280, Height: 720, FPS: Rational{60000, 1001}},
			[]string{"720p 1280x720 30000/1001", "540p 960x540 30000/1001", "360p 640x360 30000/1001", "240p 426x240 30000/1001"}},
		{"mobile keeps 25", "mobile", Source{Width: 1280, Height: 720, FPS: Rational{25, 1}},
			[]string{"720p 1280x720 25/1", "540p 960x540 25/1", "360p 640x360 25/1", "240p 426x240 25/1"}},
		{"mobile keeps 23.976", "mobile", Source{Width: 1280, Height: 720, FPS: Rational{24000, 1001}},
			[]string{"720p 1280x720 24000/1001", "540p 960x540 24000/1001", "360p 640x360 24000/1001", "240p 426x240 24000/1001"}},
		{"unknown fps is 30", "mobile", Source{Width: 1280, Height: 720},
			[]string{"720p 1280x720 30/1", "540p 960x540 30/1", "360p 640x360 30/1", "240p 426x240 30/1"}},
		{"120 fps capped at 60 globally", "bench4", Source{Width: 640, Height: 360, FPS: Rational{120, 1}},
			[]string{"360p 640x360 60/1"}},
		{"panorama clamped to 8192, duplicates dropped", "bench4", Source{Width: 40000, Height: 1000, FPS: fps30},
			[]string{"720p 8192x204 30/1"}},
		{"huge source keeps rung sizes", "hd-hevc", Source{Width: 16384, Height: 8640, FPS: fps30},
			[]string{"2160p 4096x2160 30/1", "1440p 2730x1440 30/1", "1080p 2048x1080 30/1", "720p 1366x720 30/1"}},
		{"wide source clamps the long side to 8192", "hd-hevc", Source{Width: 20000, Height: 4000, FPS: fps30},
			[]string{"2160p 8192x1638 30/1", "1440p 7200x1440 30/1", "1080p 5400x1080 30/1", "720p 3600x720 30/1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outs, err := mustLookup(t, tc.ladder).Select(tc.src)
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			var got []string
			for _, o := range outs {
				got = append(got, summary(o))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Select(%+v)\n got %q\nwant %q", tc.src, got, tc.want)
			}
			checkProperties(t, tc.src, outs)
		})
	}
}

func TestSelectRates(t *testing.T) {
	outs, err := mustLookup(t, "bench4").Select(Source{Width: 1920, Height: 1080, FPS: Rational{30, 1}})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ br, mr, bs int64 }{
		{5000000, 5350000, 7500000}, {3000000, 3210000, 4500000}, {1200000, 1284000, 1800000}, {700000, 749000, 1050000},
	}
	for i, o := range outs {
		if o.BitrateBPS != want[i].br || o.MaxrateBPS != want[i].mr || o.BufsizeBits != want[i].bs {
			t.Errorf("%s: rates %d/%d/%d, want %v", o.Name, o.BitrateBPS, o.MaxrateBPS, o.BufsizeBits, want[i])
		}
		if o.Codec != "h264" || o.Profile != "high" || o.Preset != "veryfast" {
			t.Errorf("%s: codec %s/%s/%s", o.Name, o.Codec, o.Profile, o.Preset)
		}
	}
}

func TestSelectFallbackBitrate(t *testing.T) {
	tests := []struct {
		name       string
		src        Source
		wantName   string
		w, h       int
		br, mr, bs int64
	}{
		// 320x180 is a quarter of the 640x360 lowest rung: 700000/4.
		{"quarter", Source{Width: 320, Height: 180}, "180p", 320, 180, 175000, 187250, 262500},
		// 160x90 would be 43750: floored at 100 kb/s, proportions kept.
		{"floor", Source{Width: 160, Height: 90}, "90p", 160, 90, 100000, 107000, 150000},
		// 1x1 still gives an even 2x2 output.
		{"one pixel", Source{Width: 1, Height: 1}, "2p", 2, 2, 100000, 107000, 150000},
		{"portrait tiny", Source{Width: 180, Height: 320, FPS: Rational{60, 1}}, "180p", 180, 320, 175000, 187250, 262500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outs, err := mustLookup(t, "bench4").Select(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if len(outs) != 1 {
				t.Fatalf("got %d outputs, want 1", len(outs))
			}
			o := outs[0]
			if o.Name != tc.wantName || o.Width != tc.w || o.Height != tc.h ||
				o.BitrateBPS != tc.br || o.MaxrateBPS != tc.mr || o.BufsizeBits != tc.bs {
				t.Errorf("got %s %dx%d %d/%d/%d, want %s %dx%d %d/%d/%d", o.Name, o.Width, o.Height,
					o.BitrateBPS, o.MaxrateBPS, o.BufsizeBits, tc.wantName, tc.w, tc.h, tc.br, tc.mr, tc.bs)
			}
			if tc.w > 2 {
				checkProperties(t, tc.src, outs)
			}
		})
	}

	// A lowest rung below the floor is not raised above its own bitrate.
	l := &Ladder{Renditions: []Rendition{{Height: 360, BitrateBPS: 64000}}}
	outs, err := l.Select(Source{Width: 160, Height: 90})
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].BitrateBPS != 64000 {
		t.Errorf("bitrate %d, want 64000", outs[0].BitrateBPS)
	}
}

func TestSelectOverrides(t *testing.T) {
	l, err := Parse([]byte(`{"video": {"codec": "h264", "profile": "high", "preset": "veryfast"},
		"renditions": [
			{"height": 1080, "bitrate_bps": 4000000, "codec": "hevc"},
			{"height": 720, "bitrate_bps": 3000000, "profile": "main", "preset": "fast", "fps_max": 30},
			{"height": 480, "bitrate_bps": 1000000, "width": 848},
			{"name": "low", "height": 480, "bitrate_bps": 500000}]}`))
	if err != nil {
		t.Fatal(err)
	}
	src := Source{Width: 1920, Height: 1080, FPS: Rational{50, 1}}
	outs, err := l.Select(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"1080p 1920x1080 50/1 hevc/main/veryfast 4000000",
		"720p 1280x720 25/1 h264/main/fast 3000000",
		"480p 848x480 50/1 h264/high/veryfast 1000000",
		"low 854x480 50/1 h264/high/veryfast 500000",
	}
	for i, o := range outs {
		got := fmt.Sprintf("%s %s/%s/%s %d", summary(o), o.Codec, o.Profile, o.Preset, o.BitrateBPS)
		if i >= len(want) || got != want[i] {
			t.Errorf("output %d = %q, want %q", i, got, want[min(i, len(want)-1)])
		}
	}
	if len(outs) != len(want) {
		t.Errorf("got %d outputs, want %d", len(outs), len(want))
	}
	checkProperties(t, src, outs)

	// The explicit 848 does not fit a 4:3 source nor a source narrower than 848.
	for _, src := range []Source{{Width: 640, Height: 480}, {Width: 1440, Height: 1080}, {Width: 846, Height: 480}} {
		outs, err := l.Select(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			if o.Name == "480p" && o.Width == 848 {
				t.Errorf("%+v: explicit width 848 kept: %s", src, summary(o))
			}
		}
		checkProperties(t, src, outs)
	}

	// Select does not reorder or change the caller's ladder.
	if l.Renditions[0].Height != 1080 || l.Renditions[3].Name != "low" {
		t.Errorf("Select changed the ladder: %+v", l.Renditions)
	}
}

func TestSelectUnsorted(t *testing.T) {
	l := &Ladder{Renditions: []Rendition{
		{Height: 360, BitrateBPS: 700000}, {Height: 1080, BitrateBPS: 5000000}, {Height: 720, BitrateBPS: 3000000},
	}}
	outs, err := l.Select(Source{Width: 1920, Height: 1080, FPS: Rational{30, 1}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range outs {
		got = append(got, fmt.Sprintf("%s %d/%d/%d", o.Name, o.BitrateBPS, o.MaxrateBPS, o.BufsizeBits))
	}
	want := []string{"1080p 5000000/5350000/7500000", "720p 3000000/3210000/4500000", "360p 700000/749000/1050000"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if l.Renditions[0].Height != 360 || l.Renditions[0].MaxrateBPS != 0 {
		t.Errorf("Select changed the caller's ladder: %+v", l.Renditions[0])
	}
}

func TestSelectErrors(t *testing.T) {
	good := mustLookup(t, "bench4")
	bad := mustLookup(t, "bench4")
	bad.Renditions[0].Height = 9000
	tests := []struct {
		name   string
		ladder *Ladder
		src    Source
		want   string
	}{
		{"zero size", good, Source{}, "source size 0x0"},
		{"zero height", good, Source{Width: 1920}, "source size 1920x0"},
		{"negative width", good, Source{Width: -2, Height: 2}, "source size -2x2"},
		{"negative SAR", good, Source{Width: 1920, Height: 1080, SAR: Rational{-1, 1}}, "sample aspect ratio -1/1"},
		{"invalid ladder", bad, Source{Width: 1920, Height: 1080}, "renditions[0].height: 9000 is above 8192"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outs, err := tc.ladder.Select(tc.src)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if outs != nil {
				t.Errorf("outputs %v with an error", outs)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestOutputFPS(t *testing.T) {
	unknown := Rational{}
	tests := []struct {
		src    Rational
		fpsMax float64
		want   Rational
	}{
		{Rational{60, 1}, 30, Rational{30, 1}},
		{Rational{60000, 1001}, 30, Rational{30000, 1001}},
		{Rational{25, 1}, 30, Rational{25, 1}},
		{Rational{50, 1}, 30, Rational{25, 1}},
		{Rational{24000, 1001}, 30, Rational{24000, 1001}},
		{Rational{30000, 1001}, 0, Rational{30000, 1001}},
		{Rational{2997, 100}, 0, Rational{2997, 100}},
		{Rational{120, 2}, 0, Rational{60, 1}},                // reduced
		{Rational{120, 1}, 0, Rational{60, 1}},                // global cap
		{Rational{240, 1}, 0, Rational{60, 1}},                // global cap
		{Rational{100, 1}, 0, Rational{50, 1}},                // global cap
		{Rational{144, 1}, 0, Rational{48, 1}},                // global cap, n=3
		{Rational{60, 1}, 100, Rational{60, 1}},               // fps_max above 60 is 60
		{Rational{120, 1}, 100, Rational{60, 1}},              // fps_max above 60 is 60
		{Rational{60000, 1001}, 24, Rational{20000, 1001}},    // n=3
		{Rational{120, 1}, 12.5, Rational{12, 1}},             // n=10
		{Rational{45, 1}, 30, Rational{45, 2}},                // n=2
		{Rational{3002, 100}, 30, Rational{30, 1}},            // within 5%: the cap, not 15.01
		{Rational{31, 1}, 30, Rational{30, 1}},                // within 5%
		{Rational{60, 1}, 59.94, Rational{60000, 1001}},       // within 5%: the cap as an NTSC rational
		{Rational{60000, 1001}, 59.94, Rational{60000, 1001}}, // equal to the cap
		{Rational{30, 1}, 29.97, Rational{30000, 1001}},
		{Rational{25, 1}, 12.5, Rational{25, 2}},
		{unknown, 0, Rational{30, 1}},
		{unknown, 30, Rational{30, 1}},
		{unknown, 60, Rational{30, 1}},
		{unknown, 24, Rational{24, 1}},
		{unknown, 29.97, Rational{30000, 1001}},
		{unknown, 12.5, Rational{25, 2}},
		{Rational{30, 0}, 0, Rational{30, 1}},  // unknown
		{Rational{-30, 1}, 0, Rational{30, 1}}, // unknown
		{Rational{1 << 40, 1 << 35}, 0, Rational{32, 1}},
	}
	for _, tc := range tests {
		got := outputFPS(tc.src, tc.fpsMax)
		if got != tc.want {
			t.Errorf("outputFPS(%s, %v) = %s, want %s", tc.src, tc.fpsMax, got, tc.want)
		}
		limit := tc.fpsMax
		if limit <= 0 || limit > 60 {
			limit = 60
		}
		if got.Float() > limit*1.0001 {
			t.Errorf("outputFPS(%s, %v) = %s is above the cap", tc.src, tc.fpsMax, got)
		}
	}
}

func TestNormRotation(t *testing.T) {
	tests := map[int]int{0: 0, 90: 90, 180: 180, 270: 270, 360: 0, -90: 270, -180: 180, -270: 90,
		44: 0, 45: 90, 134: 90, 136: 180, 315: 0, 314: 270, 450: 90, -45: 0, -46: 270, 720: 0}
	for in, want := range tests {
		if got := normRotation(in); got != want {
			t.Errorf("normRotation(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestRational(t *testing.T) {
	if f := (Rational{30000, 1001}).Float(); math.Abs(f-29.97003) > 1e-5 {
		t.Errorf("Float = %v", f)
	}
	if f := (Rational{30, 0}).Float(); f != 0 {
		t.Errorf("Float of x/0 = %v, want 0", f)
	}
	if f := (Rational{}).Float(); f != 0 {
		t.Errorf("Float of zero = %v, want 0", f)
	}
	if s := (Rational{24000, 1001}).String(); s != "24000/1001" {
		t.Errorf("String = %q", s)
	}
}
