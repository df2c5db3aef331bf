package hls

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// AACLC is the CODECS entry for AAC Low Complexity audio.
const AACLC = "mp4a.40.2"

// ErrBitstream is wrapped by errors about H.264/HEVC bitstreams and
// parameter sets that cannot be read.
var ErrBitstream = errors.New("hls: malformed bitstream")

// NAL unit types of the sequence parameter set.
const (
	avcNALSPS  = 7
	hevcNALVPS = 32
	hevcNALSPS = 33
)

// SplitAnnexB returns the NAL units of an Annex-B byte stream, split at
// 3-byte (00 00 01) and 4-byte (00 00 00 01) start codes. Bytes before the
// first start code and trailing zero bytes of each unit are dropped.
func SplitAnnexB(b []byte) [][]byte {
	var nals [][]byte
	start := -1 // start of the current NAL unit's payload
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				nals = appendNAL(nals, b[start:i])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 {
		nals = appendNAL(nals, b[start:])
	}
	return nals
}

// appendNAL appends nal without its trailing zero bytes (the leading zero
// of a 4-byte start code, or trailing_zero_8bits), if anything is left.
func appendNAL(nals [][]byte, nal []byte) [][]byte {
	for len(nal) > 0 && nal[len(nal)-1] == 0 {
		nal = nal[:len(nal)-1]
	}
	if len(nal) > 0 {
		nals = append(nals, nal)
	}
	return nals
}

// isAnnexB reports whether b starts with a start code.
func isAnnexB(b []byte) bool {
	return len(b) >= 3 && b[0] == 0 && b[1] == 0 && (b[2] == 1 || (b[2] == 0 && len(b) >= 4 && b[3] == 1))
}

// ParameterSets returns the sequence parameter sets (H.264 NAL type 7 or
// HEVC NAL type 33, header bytes included) found in an Annex-B stream or
// packet, or in avcC / hvcC extradata (ISO/IEC 14496-15). An Annex-B stream
// is taken for HEVC when it carries an HEVC VPS, and for H.264 otherwise.
func ParameterSets(extradataOrPacket []byte) (sps [][]byte, err error) {
	b := extradataOrPacket
	switch {
	case isAnnexB(b):
		nals := SplitAnnexB(b)
		hevc := false
		for _, n := range nals {
			if len(n) >= 2 && n[0]&0x81 == 0 && (n[0]>>1)&0x3f == hevcNALVPS && n[1]&7 != 0 {
				hevc = true
				break
			}
		}
		for _, n := range nals {
			if hevc && len(n) >= 2 && (n[0]>>1)&0x3f == hevcNALSPS {
				sps = append(sps, n)
			} else if !hevc && len(n) >= 1 && n[0]&0x1f == avcNALSPS {
				sps = append(sps, n)
			}
		}
	case len(b) > 0 && b[0] == 1:
		if sps, err = hvcCSPS(b); err != nil {
			var err2 error
			if sps, err2 = avcCSPS(b); err2 != nil {
				return nil, fmt.Errorf("%w: neither avcC (%v) nor hvcC (%v)", ErrBitstream, err2, err)
			}
		}
	default:
		return nil, fmt.Errorf("%w: neither Annex-B nor avcC/hvcC data", ErrBitstream)
	}
	if len(sps) == 0 {
		return nil, fmt.Errorf("%w: no sequence parameter set found", ErrBitstream)
	}
	return sps, nil
}

// avcCSPS reads the SPS list of an AVCDecoderConfigurationRecord.
func avcCSPS(b []byte) ([][]byte, error) {
	if len(b) < 7 || b[4]&0xfc != 0xfc || b[5]&0xe0 != 0xe0 {
		return nil, errors.New("bad avcC header")
	}
	n := int(b[5] & 0x1f)
	rest := b[6:]
	var out [][]byte
	for range n {
		if len(rest) < 2 {
			return nil, errors.New("truncated avcC")
		}
		l := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 2+l || l == 0 {
			return nil, errors.New("truncated avcC SPS")
		}
		out = append(out, rest[2:2+l])
		rest = rest[2+l:]
	}
	return out, nil
}

// hvcCSPS reads the SPS NAL units of an HEVCDecoderConfigurationRecord.
func hvcCSPS(b []byte) ([][]byte, error) {
	if len(b) < 23 || b[13]&0xf0 != 0xf0 || b[15]&0xfc != 0xfc || b[16]&0xfc != 0xfc ||
		b[17]&0xf8 != 0xf8 || b[18]&0xf8 != 0xf8 {
		return nil, errors.New("bad hvcC header")
	}
	arrays := int(b[22])
	rest := b[23:]
	var out [][]byte
	for range arrays {
		if len(rest) < 3 {
			return nil, errors.New("truncated hvcC array")
		}
		typ := rest[0] & 0x3f
		n := int(binary.BigEndian.Uint16(rest[1:]))
		rest = rest[3:]
		for range n {
			if len(rest) < 2 {
				return nil, errors.New("truncated hvcC")
			}
			l := int(binary.BigEndian.Uint16(rest))
			if len(rest) < 2+l || l == 0 {
				return nil, errors.New("truncated hvcC NAL unit")
			}
			if typ == hevcNALSPS {
				out = append(out, rest[2:2+l])
			}
			rest = rest[2+l:]
		}
	}
	return out, nil
}

// unescapeRBSP removes emulation-prevention bytes: 00 00 03 becomes 00 00.
func unescapeRBSP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

// AVCCodecString returns the RFC 6381 codec string "avc1.PPCCLL" of an
// H.264 SPS NAL unit (header byte included): profile_idc, the constraint
// flags byte and level_idc in hex, e.g. "avc1.640028" for High@4.0.
func AVCCodecString(sps []byte) (string, error) {
	if len(sps) < 1 || sps[0]&0x1f != avcNALSPS {
		return "", fmt.Errorf("%w: not an H.264 SPS NAL unit", ErrBitstream)
	}
	r := unescapeRBSP(sps[1:])
	if len(r) < 3 {
		return "", fmt.Errorf("%w: H.264 SPS too short", ErrBitstream)
	}
	return fmt.Sprintf("avc1.%02x%02x%02x", r[0], r[1], r[2]), nil
}

// HEVCCodecString returns the codec string of an HEVC SPS NAL unit (2-byte
// header included) per ISO/IEC 14496-15 Annex E:
// "hvc1.[A-C]<profile_idc>.<compatibility flags, bit-reversed, hex>.<L|H><level_idc>[.<constraint byte>...]",
// e.g. "hvc1.1.6.L93.B0" for Main, level 3.1, main tier. Trailing zero
// constraint bytes are omitted.
func HEVCCodecString(sps []byte) (string, error) {
	if len(sps) < 2 || (sps[0]>>1)&0x3f != hevcNALSPS {
		return "", fmt.Errorf("%w: not an HEVC SPS NAL unit", ErrBitstream)
	}
	r := unescapeRBSP(sps[2:])
	// byte 0: sps_video_parameter_set_id, sps_max_sub_layers_minus1,
	// temporal_id_nesting; then profile_tier_level's general part, byte
	// aligned: space/tier/profile (1), compatibility flags (4), constraint
	// flags (6), level_idc (1).
	if len(r) < 13 {
		return "", fmt.Errorf("%w: HEVC SPS too short", ErrBitstream)
	}
	space := r[1] >> 6
	tier := "L"
	if r[1]&0x20 != 0 {
		tier = "H"
	}
	profile := r[1] & 0x1f
	compat := bits.Reverse32(binary.BigEndian.Uint32(r[2:6]))
	constraints := r[6:12]
	level := r[12]

	var s strings.Builder
	s.WriteString("hvc1.")
	if space > 0 {
		s.WriteByte("ABC"[space-1])
	}
	s.WriteString(strconv.Itoa(int(profile)))
	s.WriteString("." + strings.ToUpper(strconv.FormatUint(uint64(compat), 16)))
	s.WriteString("." + tier + strconv.Itoa(int(level)))
	last := len(constraints) - 1
	for last >= 0 && constraints[last] == 0 {
		last--
	}
	for _, c := range constraints[:last+1] {
		s.WriteString("." + strings.ToUpper(strconv.FormatUint(uint64(c), 16)))
	}
	return s.String(), nil
}
