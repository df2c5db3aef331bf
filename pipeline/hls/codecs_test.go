package hls

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

func TestSplitAnnexB(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want [][]byte
	}{
		{"empty", nil, nil},
		{"no start code", []byte{1, 2, 3}, nil},
		{"3-byte", []byte{0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3}, [][]byte{{0x67, 1, 2}, {0x68, 3}}},
		{"4-byte", []byte{0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 9}, [][]byte{{0x67, 1}, {0x68, 3}, {0x65, 9}}},
		{"mixed with leading junk and trailing zeros", []byte{9, 9, 0, 0, 1, 0x67, 0, 0, 3, 1, 0, 0, 0, 0, 1, 0x68, 0, 0}, [][]byte{{0x67, 0, 0, 3, 1}, {0x68}}},
		{"empty NAL skipped", []byte{0, 0, 1, 0, 0, 1, 0x09, 0xf0}, [][]byte{{0x09, 0xf0}}},
	}
	for _, tt := range tests {
		if got := SplitAnnexB(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %x, want %x", tt.name, got, tt.want)
		}
	}
}

func TestCodecStringsFromBytes(t *testing.T) {
	// High@4.0, constraint flags 0.
	if s, err := AVCCodecString([]byte{0x67, 0x64, 0x00, 0x28, 0xac}); err != nil || s != "avc1.640028" {
		t.Errorf("AVCCodecString = %q, %v", s, err)
	}
	// Constrained Baseline@3.0.
	if s, err := AVCCodecString([]byte{0x27, 0x42, 0xe0, 0x1e}); err != nil || s != "avc1.42e01e" {
		t.Errorf("AVCCodecString = %q, %v", s, err)
	}
	// HEVC Main, main tier, level 3.1 (93), progressive+frame-only
	// constraints (0xB0): compatibility flags 0x60000000 reverse to 0x6.
	// An emulation-prevention byte sits in the zero constraint bytes.
	sps := []byte{0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0xb0, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x5d, 0xa0}
	if s, err := HEVCCodecString(sps); err != nil || s != "hvc1.1.6.L93.B0" {
		t.Errorf("HEVCCodecString = %q, %v", s, err)
	}
	// Main 10, high tier, profile space 1, level 5.1 (153).
	sps = []byte{0x42, 0x01, 0x01, 0x62, 0x20, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x01, 0x99}
	if s, err := HEVCCodecString(sps); err != nil || s != "hvc1.A2.4.H153.90.0.0.0.0.1" {
		t.Errorf("HEVCCodecString = %q, %v", s, err)
	}
	for name, f := range map[string]func([]byte) (string, error){"avc": AVCCodecString, "hevc": HEVCCodecString} {
		for _, bad := range [][]byte{nil, {0x68, 1, 2, 3}, {0x67}, {0x42, 0x01, 0x01}} {
			if _, err := f(bad); !errors.Is(err, ErrBitstream) {
				t.Errorf("%s(%x): err = %v, want ErrBitstream", name, bad, err)
			}
		}
	}
	if _, err := ParameterSets([]byte{0x05, 1, 2}); !errors.Is(err, ErrBitstream) {
		t.Errorf("ParameterSets(garbage): err = %v", err)
	}
	if _, err := ParameterSets([]byte{0, 0, 1, 0x68, 1}); !errors.Is(err, ErrBitstream) {
		t.Errorf("ParameterSets(no SPS): err = %v", err)
	}
}

// avcC builds an AVCDecoderConfigurationRecord around sps and pps.
func avcC(sps, pps []byte) []byte {
	b := []byte{1, sps[1], sps[2], sps[3], 0xff, 0xe1}
	b = binary.BigEndian.AppendUint16(b, uint16(len(sps)))
	b = append(b, sps...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pps)))
	return append(b, pps...)
}

// hvcC builds an HEVCDecoderConfigurationRecord with arrays of the NAL
// units given (their types taken from their headers).
func hvcC(nals ...[]byte) []byte {
	b := make([]byte, 23)
	b[0] = 1
	b[13], b[15], b[16], b[17], b[18], b[21] = 0xf0, 0xfc, 0xfd, 0xf8, 0xf8, 0x0f
	b[22] = byte(len(nals))
	for _, n := range nals {
		b = append(b, 0x80|(n[0]>>1)&0x3f, 0, 1)
		b = binary.BigEndian.AppendUint16(b, uint16(len(n)))
		b = append(b, n...)
	}
	return b
}

type probeStream struct {
	CodecName string `json:"codec_name"`
	Profile   string `json:"profile"`
	Level     int    `json:"level"`
}

func ffprobeStream(t *testing.T, path string) probeStream {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,profile,level", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var r struct{ Streams []probeStream }
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) != 1 {
		t.Fatalf("ffprobe %s: %v %s", path, err, out)
	}
	return r.Streams[0]
}

// encode writes a tiny clip with the ffmpeg CLI and returns its path and bytes.
func encode(t *testing.T, name string, args ...string) (string, []byte) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	path := filepath.Join(t.TempDir(), name)
	cmd := append([]string{"-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x96:r=25:d=0.4"}, args...)
	if out, err := exec.Command("ffmpeg", append(cmd, path)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

// avcProfile is ffprobe's name of an H.264 profile_idc and constraint byte.
func avcProfile(profileIDC, constraints byte) string {
	switch profileIDC {
	case 66:
		if constraints&0x40 != 0 {
			return "Constrained Baseline"
		}
		return "Baseline"
	case 77:
		return "Main"
	case 100:
		return "High"
	}
	return fmt.Sprintf("profile_idc %d", profileIDC)
}

func TestAVCCodecStringFromEncoder(t *testing.T) {
	tests := []struct{ profile, level, want string }{
		{"high", "4.0", "avc1.640028"},
		{"main", "3.1", "avc1.4d401f"},
		{"baseline", "3.0", "avc1.42c01e"},
		{"high", "1.3", "avc1.64000d"},
	}
	for _, tt := range tests {
		t.Run(tt.profile+"@"+tt.level, func(t *testing.T) {
			path, data := encode(t, "clip.h264", "-c:v", "libx264", "-profile:v", tt.profile, "-level:v", tt.level, "-pix_fmt", "yuv420p", "-f", "h264")
			sps, err := ParameterSets(data)
			if err != nil || len(sps) != 1 {
				t.Fatalf("ParameterSets: %d, %v", len(sps), err)
			}
			got, err := AVCCodecString(sps[0])
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("AVCCodecString = %q, want %q", got, tt.want)
			}
			// Cross-check with what ffprobe reads from the same stream.
			ps := ffprobeStream(t, path)
			var pidc, cons, lidc byte
			fmt.Sscanf(got, "avc1.%02x%02x%02x", &pidc, &cons, &lidc)
			if want := avcProfile(pidc, cons); ps.CodecName != "h264" || ps.Profile != want || ps.Level != int(lidc) {
				t.Errorf("%s: ffprobe says %+v, codec string says %s level %d", got, ps, want, lidc)
			}
			// The same SPS comes back out of avcC extradata.
			var pps []byte
			for _, n := range SplitAnnexB(data) {
				if n[0]&0x1f == 8 {
					pps = n
					break
				}
			}
			fromAvcC, err := ParameterSets(avcC(sps[0], pps))
			if err != nil || len(fromAvcC) != 1 || !bytes.Equal(fromAvcC[0], sps[0]) {
				t.Errorf("ParameterSets(avcC) = %x, %v; want %x", fromAvcC, err, sps[0])
			}
		})
	}
}

func TestHEVCCodecStringFromEncoder(t *testing.T) {
	tests := []struct {
		pixFmt, profile, want string
	}{
		{"yuv420p", "Main", "hvc1.1.6.L"},
		{"yuv420p10le", "Main 10", "hvc1.2.4.L"},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			path, data := encode(t, "clip.hevc", "-c:v", "libx265", "-pix_fmt", tt.pixFmt, "-x265-params", "log-level=error", "-f", "hevc")
			sps, err := ParameterSets(data)
			if err != nil || len(sps) != 1 {
				t.Fatalf("ParameterSets: %d, %v", len(sps), err)
			}
			got, err := HEVCCodecString(sps[0])
			if err != nil {
				t.Fatal(err)
			}
			ps := ffprobeStream(t, path)
			if ps.CodecName != "hevc" || ps.Profile != tt.profile {
				t.Errorf("ffprobe says %+v, want %s", ps, tt.profile)
			}
			// x265 marks its streams progressive and frame-only: constraint byte 0x90.
			if want := fmt.Sprintf("%s%d.90", tt.want, ps.Level); got != want {
				t.Errorf("HEVCCodecString = %q, want %q (ffprobe level %d)", got, want, ps.Level)
			}
			var vps []byte
			for _, n := range SplitAnnexB(data) {
				if (n[0]>>1)&0x3f == 32 {
					vps = n
				}
			}
			fromHvcC, err := ParameterSets(hvcC(vps, sps[0]))
			if err != nil || len(fromHvcC) != 1 || !bytes.Equal(fromHvcC[0], sps[0]) {
				t.Errorf("ParameterSets(hvcC) = %x, %v; want %x", fromHvcC, err, sps[0])
			}
		})
	}
}
