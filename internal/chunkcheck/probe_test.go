package chunkcheck

import (
	"slices"
	"testing"

	"github.com/hlsfleet/hlsfleet/job"
)

func TestIsIDR(t *testing.T) {
	tests := []struct {
		name  string
		codec string
		au    []byte
		idr   bool
		types []int
	}{
		{"annexb-idr", "h264", []byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 0x64, 0, 0, 1, 0x68, 0xee, 0, 0, 1, 0x65, 0x88}, true, []int{9, 7, 8, 5}},
		{"annexb-recovery-point-i", "h264", []byte{0, 0, 0, 1, 0x06, 0x06, 0, 0, 1, 0x41, 0x9a}, false, []int{6, 1}},
		{"avcc-idr", "h264", []byte{0, 0, 0, 2, 0x06, 0x05, 0, 0, 0, 2, 0x65, 0x88}, true, []int{6, 5}},
		{"avcc-p", "h264", []byte{0, 0, 0, 2, 0x41, 0x9a}, false, []int{1}},
		{"hevc-idr", "hevc", []byte{0, 0, 0, 1, 0x40, 0x01, 0, 0, 1, 0x26, 0x01}, true, []int{32, 19}},
		{"hevc-cra", "hevc", []byte{0, 0, 0, 1, 0x2a, 0x01}, false, []int{21}},
		{"garbage", "h264", []byte{0xff, 0xff, 0xff, 0xff, 1}, false, nil},
	}
	for _, tt := range tests {
		idr, types := isIDR(tt.codec, tt.au)
		if idr != tt.idr || !slices.Equal(types, tt.types) {
			t.Errorf("%s: idr %v types %v, want %v %v", tt.name, idr, types, tt.idr, tt.types)
		}
	}
}

func TestHexDump(t *testing.T) {
	dump := "\n00000000: 0000 0001 09f0 0000 0001 6764 001e acd9  ..........gd....\n00000010: 40a0 2f                                  @./\n"
	want := []byte{0, 0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x67, 0x64, 0, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f}
	if got := hexDump(dump); !slices.Equal(got, want) {
		t.Errorf("hexDump = % x, want % x", got, want)
	}
}

func TestAttr(t *testing.T) {
	list := `URI="../k3x7q2abcd/init.mp4",BYTERANGE="720@0"`
	if got := attr(list, "URI"); got != "../k3x7q2abcd/init.mp4" {
		t.Errorf("URI %q", got)
	}
	if got := attr(list, "BYTERANGE"); got != "720@0" {
		t.Errorf("BYTERANGE %q", got)
	}
	if got := attr("A=1,URI=x", "URI"); got != "x" {
		t.Errorf("unquoted URI %q", got)
	}
	if got := attr(list, "NONE"); got != "" {
		t.Errorf("absent %q", got)
	}
}

func TestPlanJoins(t *testing.T) {
	p, err := job.PlanChunks(180, 4, 60)
	if err != nil || p == nil {
		t.Fatal(p, err)
	}
	if got := PlanJoins(*p); !slices.Equal(got, []float64{60, 120}) {
		t.Errorf("PlanJoins %v", got)
	}
}

func TestAttemptJoins(t *testing.T) {
	r := &rend{segs: []seg{
		{path: "/o/720p/a/seg_00000.ts", dur: 4}, {path: "/o/720p/a/seg_00001.ts", dur: 4},
		{path: "/o/720p/b/seg_00002.ts", dur: 4}, {path: "/o/720p/c/seg_00003.ts", dur: 3.5}, {path: "/o/720p/c/seg_00004.ts", dur: 1},
	}}
	if got := attemptJoins(r); !slices.Equal(got, []float64{8, 12}) {
		t.Errorf("attemptJoins %v", got)
	}
	for uri, want := range map[string]string{"720p/k3x7q2abcd/index.m3u8": "720p", "index.m3u8": "index.m3u8", "../x/index.m3u8": "../x/index.m3u8"} {
		if got := name(uri); got != want {
			t.Errorf("name(%q) = %q, want %q", uri, got, want)
		}
	}
}
