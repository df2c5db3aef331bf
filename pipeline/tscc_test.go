package pipeline

import (
	"bytes"
	"errors"
	"testing"
)

// tsPacket builds one packet of pid with the given adaptation_field_control
// and continuity counter.
func tsPacket(pid uint16, afc, cc byte) []byte {
	p := make([]byte, tsPacketSize)
	p[0] = tsSyncByte
	p[1] = byte(pid>>8) & 0x1f
	p[2] = byte(pid)
	p[3] = afc<<4 | cc
	return p
}

func ccs(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b)%tsPacketSize != 0 {
		t.Fatalf("%d bytes is not whole packets", len(b))
	}
	var out []byte
	for i := 0; i < len(b); i += tsPacketSize {
		out = append(out, b[i+3]&0x0f)
	}
	return out
}

func TestTSContinuityAcrossSegments(t *testing.T) {
	c := newTSContinuity()
	// Each fresh muxer starts every PID at 0; payload-less packets
	// (afc 2) keep the counter.
	segment := func() []byte {
		var b []byte
		for _, p := range [][]byte{tsPacket(0, 1, 0), tsPacket(0x100, 1, 0), tsPacket(0x100, 3, 1),
			tsPacket(0x100, 2, 1), tsPacket(0x101, 1, 0), tsPacket(0x1fff, 1, 7), tsPacket(0x100, 1, 2)} {
			b = append(b, p...)
		}
		return b
	}
	var got [][]byte
	for range 3 {
		var out bytes.Buffer
		w := c.writer(&out)
		seg := segment()
		// Odd chunk sizes, as an I/O buffer may flush them.
		for len(seg) > 0 {
			n := min(len(seg), 77)
			if k, err := w.Write(seg[:n]); err != nil || k != n {
				t.Fatalf("Write = %d, %v", k, err)
			}
			seg = seg[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got = append(got, ccs(t, out.Bytes()))
	}
	want := [][]byte{
		{0, 0, 1, 1, 0, 7, 2}, // segment 0 as the muxer wrote it
		{1, 3, 4, 4, 1, 7, 5}, // PAT 1, video runs on from 2, the null packet untouched
		{2, 6, 7, 7, 2, 7, 8},
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("segment %d counters %v, want %v", i, got[i], want[i])
		}
	}

	w := c.writer(&bytes.Buffer{})
	if _, err := w.Write(tsPacket(0x100, 1, 0)[:100]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, errPartialTSPacket) {
		t.Errorf("Close after half a packet = %v, want errPartialTSPacket", err)
	}
}

// TestTSContinuityJoin: a chunk's first segment puts an adaptation-field-
// only packet with the discontinuity indicator before each PID's first
// packet, its counter one before that packet's (the same for a packet
// without payload); later packets and segments are as without the join.
func TestTSContinuityJoin(t *testing.T) {
	c := newTSContinuity()
	c.join = true
	var out bytes.Buffer
	w := c.writer(&out)
	for _, p := range [][]byte{tsPacket(0, 1, 0), tsPacket(0x100, 3, 0), tsPacket(0x100, 1, 1),
		tsPacket(0x101, 2, 5), tsPacket(0x1fff, 1, 7), tsPacket(0, 1, 1)} {
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := out.Bytes()
	type want struct {
		pid   uint16
		afc   byte
		cc    byte
		disco bool
	}
	wants := []want{{0, 2, 15, true}, {0, 1, 0, false}, {0x100, 2, 15, true}, {0x100, 3, 0, false}, {0x100, 1, 1, false},
		{0x101, 2, 5, true}, {0x101, 2, 5, false}, {0x1fff, 1, 7, false}, {0, 1, 1, false}}
	if len(b) != len(wants)*tsPacketSize {
		t.Fatalf("%d bytes out, want %d packets", len(b), len(wants))
	}
	for i, w := range wants {
		p := b[i*tsPacketSize : (i+1)*tsPacketSize]
		pid := uint16(p[1]&0x1f)<<8 | uint16(p[2])
		disco := p[3]&0x20 != 0 && p[4] > 0 && p[5]&0x80 != 0
		if pid != w.pid || p[3]>>4&3 != w.afc || p[3]&0x0f != w.cc || disco != w.disco {
			t.Errorf("packet %d: pid %#x afc %d cc %d discontinuity %v, want %+v", i, pid, p[3]>>4&3, p[3]&0x0f, disco, w)
		}
		if w.disco && (p[4] != tsPacketSize-5 || p[1]&0xe0 != 0 || !bytes.Equal(p[6:], bytes.Repeat([]byte{0xff}, tsPacketSize-6))) {
			t.Errorf("packet %d: not a plain stuffing packet: % x", i, p[:8])
		}
	}
}
