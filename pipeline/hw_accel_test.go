package pipeline

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// Fake capability sets: what the probe reports on the machines we meet.
var (
	capsNone = &Caps{Devices: []DeviceCaps{
		{Type: "cuda", Error: "opening the cuda device: Operation not permitted"},
		{Type: "vaapi", Error: "no /dev/dri/renderD* node"},
		{Type: "qsv", Error: "opening the qsv device: Generic error in an external library"},
	}}
	// T4 / A10G / L4: NVDEC and NVENC, a few sessions.
	capsNVENC = &Caps{Devices: []DeviceCaps{{Type: "cuda", Opened: true, Decoders: []string{"h264", "hevc"},
		Encoders: []EncoderCaps{{Codec: "h264", Name: "h264_nvenc", Opened: true, Sessions: 3}, {Codec: "hevc", Name: "hevc_nvenc", Opened: true, Sessions: 3}}}}}
	// H100 / H200 / A100: NVDEC, no NVENC.
	capsH200 = &Caps{Devices: []DeviceCaps{{Type: "cuda", Opened: true, Decoders: []string{"h264", "hevc"},
		Encoders: []EncoderCaps{{Codec: "h264", Name: "h264_nvenc", Error: "OpenEncodeSessionEx failed: unsupported device (2): (no details)"},
			{Codec: "hevc", Name: "hevc_nvenc", Error: "unsupported device"}}}}}
	// NVENC for H.264 only (an old card without HEVC encode).
	capsNVENCh264 = &Caps{Devices: []DeviceCaps{{Type: "cuda", Opened: true, Decoders: []string{"h264"},
		Encoders: []EncoderCaps{{Codec: "h264", Name: "h264_nvenc", Opened: true, Sessions: 8}, {Codec: "hevc", Name: "hevc_nvenc", Error: "unsupported"}}}}}
	capsVAAPI = &Caps{Devices: []DeviceCaps{{Type: "cuda", Error: "no driver"}, {Type: "vaapi", Device: "/dev/dri/renderD128", Opened: true, Decoders: []string{"h264", "hevc"},
		Encoders: []EncoderCaps{{Codec: "h264", Name: "h264_vaapi", Opened: true, Sessions: 16, SessionsCapped: true}}}}}
	capsQSV = &Caps{Devices: []DeviceCaps{{Type: "qsv", Opened: true,
		Encoders: []EncoderCaps{{Codec: "h264", Name: "h264_qsv", Opened: true, Sessions: 16, SessionsCapped: true}}}}}
	// A device that opens but can do nothing.
	capsVAAPIEmpty = &Caps{Devices: []DeviceCaps{{Type: "vaapi", Device: "/dev/dri/renderD128", Opened: true}}}
)

func TestParseAccel(t *testing.T) {
	for _, s := range []string{"auto", "cpu", "nvidia", "vaapi", "qsv", "NVIDIA", " cpu "} {
		if _, err := ParseAccel(s); err != nil {
			t.Errorf("ParseAccel(%q): %v", s, err)
		}
	}
	if a, _ := ParseAccel(""); a != AccelCPU {
		t.Errorf(`ParseAccel("") = %q, want cpu`, a)
	}
	for _, s := range []string{"gpu", "cuda", "nvenc", "hybrid"} {
		if _, err := ParseAccel(s); !errors.Is(err, ErrUnknownAccel) {
			t.Errorf("ParseAccel(%q) = %v, want ErrUnknownAccel", s, err)
		}
	}
}

func TestResolve(t *testing.T) {
	cases := []struct {
		name string
		req  Accel
		caps *Caps
		want Accel
		err  string // substring of the error; "" = no error
	}{
		{"auto without GPU", AccelAuto, capsNone, AccelCPU, ""},
		{"auto with nil caps", AccelAuto, nil, AccelCPU, ""},
		{"cpu", AccelCPU, capsNVENC, AccelCPU, ""},
		{"auto with NVENC", AccelAuto, capsNVENC, AccelNvidia, ""},
		{"auto on H200 (hybrid)", AccelAuto, capsH200, AccelNvidia, ""},
		{"auto with VAAPI", AccelAuto, capsVAAPI, AccelVAAPI, ""},
		{"auto with QSV", AccelAuto, capsQSV, AccelQSV, ""},
		{"auto with a useless device", AccelAuto, capsVAAPIEmpty, AccelCPU, ""},
		{"nvidia without GPU", AccelNvidia, capsNone, "", "no cuda device: opening the cuda device"},
		{"vaapi without GPU", AccelVAAPI, capsNone, "", "no vaapi device: no /dev/dri/renderD* node"},
		{"qsv on an NVIDIA box", AccelQSV, capsNVENC, "", "no qsv device"},
		{"vaapi without encoders", AccelVAAPI, capsVAAPIEmpty, "", "no H.264 encoder works"},
		{"nvidia on H200", AccelNvidia, capsH200, AccelNvidia, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.req, tc.caps)
			if tc.err != "" {
				if !errors.Is(err, ErrAccelUnavailable) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Resolve = %q, %v; want ErrAccelUnavailable containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Resolve = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	h264x4 := []string{"h264", "h264", "h264", "h264"}
	plain := Input{Codec: "h264", BitDepth: 8, Chroma: "4:2:0"}
	cases := []struct {
		name     string
		accel    Accel
		caps     *Caps
		in       Input
		codecs   []string
		sessions int
		want     Route
		reason   string // substring of one reason; "" = no reasons
	}{
		{name: "cpu", accel: AccelCPU, caps: capsNVENC, in: plain, codecs: h264x4, sessions: -1,
			want: Route{Name: "cpu", Encoders: []Accel{"cpu", "cpu", "cpu", "cpu"}}},
		{name: "full nvidia", accel: AccelNvidia, caps: capsNVENC, in: plain, codecs: h264x4, sessions: -1,
			want: Route{Name: "nvidia", Decode: "cuda", GPUScale: true, Encoders: []Accel{"nvidia", "nvidia", "nvidia", "nvidia"}}},
		{name: "sessions full: spill", accel: AccelNvidia, caps: capsNVENC, in: plain, codecs: h264x4, sessions: 2,
			want:   Route{Name: "nvidia+cpu-spill", Decode: "cuda", GPUScale: true, Encoders: []Accel{"nvidia", "nvidia", "cpu", "cpu"}},
			reason: "encoder sessions full: rendition 2 spilled"},
		{name: "no session left: decode on GPU, encode on CPU", accel: AccelNvidia, caps: capsNVENC, in: plain, codecs: h264x4, sessions: 0,
			want:   Route{Name: "nvidia-hybrid", Decode: "cuda", Encoders: []Accel{"cpu", "cpu", "cpu", "cpu"}},
			reason: "encoder sessions full"},
		{name: "no NVENC: hybrid", accel: AccelNvidia, caps: capsH200, in: plain, codecs: h264x4, sessions: -1,
			want:   Route{Name: "nvidia-hybrid", Decode: "cuda", Encoders: []Accel{"cpu", "cpu", "cpu", "cpu"}},
			reason: "no nvidia h264 encoder"},
		{name: "10-bit to CPU", accel: AccelNvidia, caps: capsNVENC, in: Input{Codec: "hevc", BitDepth: 10, Chroma: "4:2:0"}, codecs: h264x4, sessions: -1,
			want: Route{Name: "cpu", Encoders: []Accel{"cpu", "cpu", "cpu", "cpu"}}, reason: "10-bit input"},
		{name: "4:4:4 to CPU", accel: AccelVAAPI, caps: capsVAAPI, in: Input{Codec: "h264", BitDepth: 8, Chroma: "4:4:4"}, codecs: h264x4, sessions: -1,
			want: Route{Name: "cpu", Encoders: []Accel{"cpu", "cpu", "cpu", "cpu"}}, reason: "4:4:4 input"},
		{name: "vp9 source: CPU decode, NVENC", accel: AccelNvidia, caps: capsNVENC, in: Input{Codec: "vp9", BitDepth: 8, Chroma: "4:2:0"}, codecs: h264x4[:2], sessions: -1,
			want: Route{Name: "nvidia", Encoders: []Accel{"nvidia", "nvidia"}}, reason: "no cuda decoder for vp9"},
		{name: "vp9 source on H200: plain CPU", accel: AccelNvidia, caps: capsH200, in: Input{Codec: "vp9", BitDepth: 8, Chroma: "4:2:0"}, codecs: h264x4[:2], sessions: -1,
			want: Route{Name: "cpu", Encoders: []Accel{"cpu", "cpu"}}, reason: "no cuda decoder for vp9"},
		{name: "rotation: decode on GPU, filter on CPU", accel: AccelNvidia, caps: capsNVENC, in: Input{Codec: "h264", BitDepth: 8, Chroma: "4:2:0", Prep: true}, codecs: h264x4[:2], sessions: -1,
			want: Route{Name: "nvidia", Decode: "cuda", Encoders: []Accel{"nvidia", "nvidia"}}, reason: "frames are filtered on the CPU"},
		{name: "hevc rung without HEVC NVENC", accel: AccelNvidia, caps: capsNVENCh264, in: plain, codecs: []string{"hevc", "h264"}, sessions: -1,
			want: Route{Name: "nvidia+cpu-spill", Decode: "cuda", GPUScale: true, Encoders: []Accel{"cpu", "nvidia"}}, reason: "no nvidia hevc encoder"},
		{name: "vaapi full", accel: AccelVAAPI, caps: capsVAAPI, in: plain, codecs: h264x4[:3], sessions: -1,
			want: Route{Name: "vaapi", Decode: "vaapi", GPUScale: true, Encoders: []Accel{"vaapi", "vaapi", "vaapi"}}},
		{name: "qsv: CPU decode and scale", accel: AccelQSV, caps: capsQSV, in: plain, codecs: h264x4[:2], sessions: -1,
			want: Route{Name: "qsv", Encoders: []Accel{"qsv", "qsv"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Plan(tc.accel, tc.caps, tc.in, tc.codecs, tc.sessions)
			if got.Name != tc.want.Name || got.Decode != tc.want.Decode || got.GPUScale != tc.want.GPUScale || !slices.Equal(got.Encoders, tc.want.Encoders) {
				t.Errorf("Plan = %+v\nwant   %+v", got, tc.want)
			}
			if tc.reason == "" && len(got.Reasons) > 0 {
				t.Errorf("reasons %q, want none", got.Reasons)
			}
			if tc.reason != "" && !slices.ContainsFunc(got.Reasons, func(r string) bool { return strings.Contains(r, tc.reason) }) {
				t.Errorf("reasons %q lack %q", got.Reasons, tc.reason)
			}
		})
	}
}

func TestCapsSummary(t *testing.T) {
	if got := capsNone.Summary(); got != "no GPU: only cpu path" {
		t.Errorf("Summary without GPU = %q", got)
	}
	got := capsH200.Summary()
	if !strings.Contains(got, "cuda: decode h264,hevc, encode none") {
		t.Errorf("H200 summary = %q", got)
	}
	if got := capsVAAPI.Summary(); !strings.Contains(got, "h264_vaapi x16+") || !strings.Contains(got, "/dev/dri/renderD128") {
		t.Errorf("VAAPI summary = %q", got)
	}
	if capsNVENC.Sessions(AccelNvidia, "h264") != 3 || capsH200.Sessions(AccelNvidia, "h264") != 0 {
		t.Error("Sessions do not follow the probe")
	}
}
