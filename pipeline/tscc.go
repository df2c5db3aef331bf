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
	// join is set for a chunk's first segment (chunk.go): it follows the
	// previous chunk's last segment, made by another process whose counters
	// this one cannot know. Before the first packet of each PID the writer
	// then puts a packet with only an adaptation field whose
	// discontinuity_indicator is set (joinPacket), so a reader of the
	// joined segments takes the counter jump there as announced and counts
	// on from it.
	join bool
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
		if t.c.join {
			if pre, ok := t.c.joinPacket(t.buf[:]); ok {
				if _, err := t.w.Write(pre); err != nil {
					return 0, err
				}
			}
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

// joinPacket returns, for the first packet of a PID, the packet to put
// before it: the same PID, adaptation field only (no payload, so it does
// not count), discontinuity_indicator 1, the rest stuffing, and the counter
// that makes pkt's own counter the expected next one (ISO/IEC 13818-1
// 2.4.3.5: with the discontinuity state true, the counter may be
// discontinuous in that packet). On the PCR PID the indicator also
// announces a new time base; the PCRs and timestamps that follow continue
// the previous chunk's, so a receiver re-locks to the same clock.
func (c *tsContinuity) joinPacket(pkt []byte) ([]byte, bool) {
	if pkt[0] != tsSyncByte {
		return nil, false
	}
	pid := uint16(pkt[1]&0x1f)<<8 | uint16(pkt[2])
	if _, seen := c.last[pid]; seen || pid == tsNullPID {
		return nil, false
	}
	cc := pkt[3] & 0x0f
	if pkt[3]&0x10 != 0 { // pkt has a payload: its counter is one more
		cc = (cc + 15) & 0x0f
	}
	pre := make([]byte, tsPacketSize)
	pre[0] = tsSyncByte
	pre[1] = pkt[1] & 0x1f
	pre[2] = pkt[2]
	pre[3] = 0x20 | cc // adaptation field only
	pre[4] = tsPacketSize - 5
	pre[5] = 0x80 // discontinuity_indicator
	for i := 6; i < tsPacketSize; i++ {
		pre[i] = 0xff
	}
	c.last[pid] = cc
	return pre, true
}
