package pipeline

import (
	"errors"
	"io"
)

// MPEG-TS packet layout used here (ISO/IEC 13818-1 2.4.3.2).
const (
	tsPacketSize = 188
	tsSyncByte   = 0x47
	tsNullPID    = 0x1fff
)

// errPartialTSPacket reports a segment that did not end on a packet boundary.
var errPartialTSPacket = errors.New("mpegts: segment does not end on a 188-byte packet boundary")

// tsContinuity keeps each PID's continuity_counter running across the
// segments of one rendition. Every segment comes from a fresh mpegts muxer
// (so each starts with PAT/PMT and a constant timestamp rule), which would
// restart the counters at 0; a player or validator reading the segments as
// one stream then sees a continuity error at every boundary. The counters
// are rewritten as the bytes stream out, so segment 0 is unchanged.
type tsContinuity struct {
	last map[uint16]byte // last counter written per PID
}

func newTSContinuity() *tsContinuity { return &tsContinuity{last: map[uint16]byte{}} }

// writer returns a writer that rewrites the counters of what the muxer
// writes to w. Its Close reports a trailing partial packet; it does not
// close w.
func (c *tsContinuity) writer(w io.Writer) *tsCCWriter { return &tsCCWriter{c: c, w: w} }

type tsCCWriter struct {
	c   *tsContinuity
	w   io.Writer
	buf [tsPacketSize]byte
	n   int
}

func (t *tsCCWriter) Write(p []byte) (int, error) {
	written := len(p)
	for len(p) > 0 {
		k := copy(t.buf[t.n:], p)
		t.n += k
		p = p[k:]
		if t.n < tsPacketSize {
			break
		}
		t.c.fix(t.buf[:])
		if _, err := t.w.Write(t.buf[:]); err != nil {
			return 0, err
		}
		t.n = 0
	}
	return written, nil
}

// Close checks that the segment ended on a packet boundary.
func (t *tsCCWriter) Close() error {
	if t.n != 0 {
		return errPartialTSPacket
	}
	return nil
}

// fix sets the continuity_counter of one packet: the PID's next value when
// the packet carries a payload, the PID's current value when it carries
// only an adaptation field (the counter does not advance then).
func (c *tsContinuity) fix(pkt []byte) {
	if pkt[0] != tsSyncByte {
		return // not a packet start: leave the bytes as they are
	}
	pid := uint16(pkt[1]&0x1f)<<8 | uint16(pkt[2])
	if pid == tsNullPID {
		return
	}
	afc := (pkt[3] >> 4) & 0x3
	last, seen := c.last[pid]
	var cc byte
	switch {
	case afc&0x1 == 0: // no payload
		if !seen {
			return
		}
		cc = last
	case !seen:
		cc = pkt[3] & 0x0f // the muxer's own first value: segment 0 stays as written
	default:
		cc = (last + 1) & 0x0f
	}
	pkt[3] = pkt[3]&0xf0 | cc
	c.last[pid] = cc
}
