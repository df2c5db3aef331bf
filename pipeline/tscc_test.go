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
