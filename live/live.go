// Package live keeps the HLS playlists of a live stream whose segments are
// transcoded one job at a time, by any number of workers.
//
// The stream's output prefix holds, besides the segments:
//
//	stream.json            the stream's state: every segment published or skipped
//	<rendition>/index.m3u8 the live media playlist (sliding window, or EVENT)
//	master.m3u8            written once, when the first segment is published
//	<rendition>/vod.m3u8   after the end: every segment of the event (VOD)
//	vod.m3u8               after the end: the master of the VOD playlists
//
// Every change is a compare-and-swap on stream.json (storage If-Match on the
// ETag read, If-None-Match for the first write): two workers racing each
// re-read and merge on conflict, so neither loses a segment. Playlists are
// derived from the state and carry its version in a comment line; a playlist
// is replaced only by a newer version, again by compare-and-swap, so a slow
// or zombie worker never puts an older view over a newer one.
//
// Playlists hold the longest run of consecutive sequence numbers from the
// first one. A segment that fails for good is recorded as skipped (Skip),
// and the next one is published after an EXT-X-DISCONTINUITY. A missing
// segment whose successors have waited GapTimeout (for example one that
// went to the dead-letter queue without its job ever running) is marked
// skipped by the next update; End waits up to GapTimeout for missing
// segments, then skips them, appends EXT-X-ENDLIST and writes the VOD
// playlists.
package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/hlsfleet/hlsfleet/pipeline/hls"
	"github.com/hlsfleet/hlsfleet/storage"
)

// Names of the objects under a stream's output prefix.
const (
	StateName    = "stream.json"
	MasterName   = "master.m3u8"
	PlaylistName = "index.m3u8"
	VODName      = "vod.m3u8"
)

// DefaultWindow is the number of segments of a sliding-window playlist.
const DefaultWindow = 6

// MaxWindow bounds Config.Window.
const MaxWindow = 1000

// Errors.
var (
	// ErrEnded is returned for a segment of a stream that has already ended.
	ErrEnded = errors.New("live stream already ended")
	// ErrLate is returned for a segment older than the stream's first
	// published segment, or one already skipped: the playlists have moved on.
	ErrLate = errors.New("live segment arrived after the playlists moved past it")
	// ErrMismatch is returned when a segment's renditions differ from the
	// stream's (another ladder).
	ErrMismatch = errors.New("live segment renditions differ from the stream's")
	// ErrContention is returned when an update lost every compare-and-swap
	// it tried.
	ErrContention = errors.New("live playlist update kept losing races")
)

// Config configures a Stream.
type Config struct {
	// Window is the sliding window length in segments (0 = DefaultWindow).
	// It and Event are taken from the first update of a stream and kept.
	Window int
	// Event makes the live playlists EVENT playlists that keep every segment.
	Event bool
	// SegmentSeconds is the nominal segment duration, the floor of
	// EXT-X-TARGETDURATION; 0 takes the segments' own durations.
	SegmentSeconds float64
	// GapTimeout is how long later segments wait for a missing one before it
	// is skipped (0 = 3 target durations, at least 3 s).
	GapTimeout time.Duration
	// Now and Sleep replace the clock (tests).
	Now   func() time.Time
	Sleep func(context.Context, time.Duration) error
}

// Rendition is one variant of the stream.
type Rendition struct {
	Name             string   `json:"name"`
	Width            int      `json:"width,omitempty"`
	Height           int      `json:"height,omitempty"`
	FrameRate        float64  `json:"frame_rate,omitempty"`
	Codecs           []string `json:"codecs"`
	Bandwidth        int64    `json:"bandwidth_bps"`
	AverageBandwidth int64    `json:"average_bandwidth_bps,omitempty"`
}

// Segment is one entry of the stream's state.
type Segment struct {
	Seq int64 `json:"seq"`
	// URI is the segment's file name in every rendition folder.
	URI      string  `json:"uri,omitempty"`
	Duration float64 `json:"duration,omitempty"`
	// Start is the segment's start on the source timeline, in seconds.
	Start float64 `json:"start,omitempty"`
	// Bytes is the segment's size per rendition, in State.Renditions order.
	Bytes []int64 `json:"bytes,omitempty"`
	// Skipped says why the segment was skipped; "" means published.
	Skipped string    `json:"skipped,omitempty"`
	At      time.Time `json:"at"`
	// CC is, per rendition in State.Renditions order, the MPEG-TS
	// continuity counter the segment ended with on each PID, for the next
	// segment's transcode to run on from (see Continuity). Only the newest
	// segment keeps it.
	CC []map[uint16]uint8 `json:"cc,omitempty"`
}

// Continuity is, per rendition name, the continuity counters a segment
// continues from (pipeline.LiveOptions.Continuity).
type Continuity map[string]map[uint16]uint8

// gap is a missing sequence number with later segments waiting behind it.
type gap struct {
	Seq   int64     `json:"seq"`
	Since time.Time `json:"since"`
}

// State is stream.json.
type State struct {
	Version        int64       `json:"version"`
	Window         int         `json:"window"`
	Event          bool        `json:"event,omitempty"`
	TargetDuration int         `json:"target_duration"`
	FirstSeq       int64       `json:"first_seq"`
	Renditions     []Rendition `json:"renditions"`
	Segments       []Segment   `json:"segments"`
	Gaps           []gap       `json:"gaps,omitempty"`
	Ended          bool        `json:"ended,omitempty"`
	EndedAt        time.Time   `json:"ended_at,omitzero"`
}

// Result says what an update did.
type Result struct {
	Version int64 // the state version written (or read, when nothing changed)
	// Skipped is how many segments this update marked skipped.
	Skipped int
	// Published is how many segments the live playlists now reach (skipped
	// ones counted), from the first.
	Published int
	// Duplicate is true when the segment was already recorded.
	Duplicate bool
}

// Stream updates one stream's state and playlists in a bucket opened on the
// stream's output prefix.
type Stream struct {
	b   *storage.Bucket
	cfg Config
}

// Open returns the Stream of bucket b.
func Open(b *storage.Bucket, cfg Config) *Stream {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	cfg.Window = min(cfg.Window, MaxWindow)
	return &Stream{b: b, cfg: cfg}
}

// gapTimeout is the configured GapTimeout or 3 target durations (>= 3 s).
func (s *Stream) gapTimeout(st *State) time.Duration {
	if s.cfg.GapTimeout > 0 {
		return s.cfg.GapTimeout
	}
	return max(3*time.Second, 3*time.Duration(st.TargetDuration)*time.Second)
}

// Read returns the stream's state; a stream with no state yet gives a zero
// State and no error.
func (s *Stream) Read(ctx context.Context) (*State, error) {
	st, _, err := s.read(ctx)
	return st, err
}

func (s *Stream) read(ctx context.Context) (*State, string, error) {
	data, attrs, err := s.b.ReadAllAttrs(ctx, StateName)
	if errors.Is(err, storage.ErrNotExist) {
		return &State{}, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", StateName, err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, "", fmt.Errorf("%s is damaged: %w", StateName, err)
	}
	return &st, attrs.ETag, nil
}

// Check reports whether segment seq still needs work: nil when it does,
// ErrEnded, ErrLate, or dup when it is recorded. When it needs work, cont
// holds the continuity counters of segment seq-1 if that one is published
// (nil otherwise: the segment starts its counters afresh, as it would after
// a discontinuity).
func (s *Stream) Check(ctx context.Context, seq int64) (dup bool, cont Continuity, err error) {
	st, err := s.Read(ctx)
	if err != nil {
		return false, nil, err
	}
	if st.find(seq) >= 0 {
		return true, nil, nil
	}
	if err := st.accepts(seq); err != nil {
		return false, nil, err
	}
	return false, st.continuityBefore(seq), nil
}

// continuityBefore returns the counters segment seq-1 ended with, or nil.
func (st *State) continuityBefore(seq int64) Continuity {
	i := st.find(seq - 1)
	if i < 0 {
		return nil
	}
	prev := st.Segments[i]
	if prev.Skipped != "" || len(prev.CC) != len(st.Renditions) {
		return nil
	}
	c := Continuity{}
	for j, r := range st.Renditions {
		c[r.Name] = prev.CC[j]
	}
	return c
}

// accepts reports why seq cannot be added to st, or nil.
func (st *State) accepts(seq int64) error {
	switch {
	case st.Ended:
		return ErrEnded
	case st.Version > 0 && seq < st.FirstSeq:
		return fmt.Errorf("%w: segment %d is before the stream's first segment %d", ErrLate, seq, st.FirstSeq)
	}
	return nil
}

// find returns the index of seq in st.Segments, or -1.
func (st *State) find(seq int64) int {
	i := sort.Search(len(st.Segments), func(i int) bool { return st.Segments[i].Seq >= seq })
	if i < len(st.Segments) && st.Segments[i].Seq == seq {
		return i
	}
	return -1
}

// insert adds seg in sequence order; seg.Seq must not be present.
func (st *State) insert(seg Segment) {
	i := sort.Search(len(st.Segments), func(i int) bool { return st.Segments[i].Seq >= seg.Seq })
	st.Segments = append(st.Segments, Segment{})
	copy(st.Segments[i+1:], st.Segments[i:])
	st.Segments[i] = seg
	for j, g := range st.Gaps {
		if g.Seq == seg.Seq {
			st.Gaps = append(st.Gaps[:j], st.Gaps[j+1:]...)
			break
		}
	}
}

// keepNewestCC drops the continuity counters of every segment but the
// newest: only the next segment needs them, and stream.json stays small.
func (st *State) keepNewestCC() {
	for i := range len(st.Segments) - 1 {
		st.Segments[i].CC = nil
	}
}

// run is the published run: consecutive sequence numbers from FirstSeq.
// It returns the segments to list with their discontinuity flags and the
// index in st.Segments where the run stops.
func (st *State) run() (segs []Segment, disc []bool, stop int) {
	next := st.FirstSeq
	pendingDisc := false
	for i, seg := range st.Segments {
		if seg.Seq < next {
			continue
		}
		if seg.Seq != next {
			return segs, disc, i
		}
		next++
		if seg.Skipped != "" {
			pendingDisc = len(segs) > 0
			continue
		}
		segs = append(segs, seg)
		disc = append(disc, pendingDisc)
		pendingDisc = false
	}
	return segs, disc, len(st.Segments)
}

// published counts the sequence numbers the run covers.
func (st *State) published() int {
	_, _, stop := st.run()
	n := 0
	for _, seg := range st.Segments[:stop] {
		if seg.Seq >= st.FirstSeq {
			n++
		}
	}
	return n
}

// resolveGaps records when each missing sequence number below the newest
// segment was first seen missing, and skips those that waited timeout (all
// of them when force is set). It returns how many it skipped.
func (st *State) resolveGaps(now time.Time, timeout time.Duration, force bool) int {
	if len(st.Segments) == 0 {
		st.Gaps = nil
		return 0
	}
	since := map[int64]time.Time{}
	for _, g := range st.Gaps {
		since[g.Seq] = g.Since
	}
	var missing []int64
	next := st.FirstSeq
	for _, seg := range st.Segments {
		for ; next < seg.Seq; next++ {
			missing = append(missing, next)
		}
		if seg.Seq >= next {
			next = seg.Seq + 1
		}
	}
	st.Gaps = nil
	skipped := 0
	for _, seq := range missing {
		t, ok := since[seq]
		if !ok {
			t = now
		}
		if force || now.Sub(t) >= timeout {
			why := fmt.Sprintf("no segment arrived within %s while later ones waited", timeout)
			if force {
				why = "no segment arrived before the end of the stream"
			}
			st.insert(Segment{Seq: seq, Skipped: why, At: now})
			skipped++
			continue
		}
		st.Gaps = append(st.Gaps, gap{Seq: seq, Since: t})
	}
	return skipped
}

// oldestGap returns when the oldest gap was first seen, or the zero time.
func (st *State) oldestGap() time.Time {
	var t time.Time
	for _, g := range st.Gaps {
		if t.IsZero() || g.Since.Before(t) {
			t = g.Since
		}
	}
	return t
}

// maxAttempts bounds the compare-and-swap retries of one update.
const maxAttempts = 64

// update applies change to the latest state with compare-and-swap, retrying
// on conflict, then brings the playlists up to the version written. change
// returns false when there is nothing to write.
func (s *Stream) update(ctx context.Context, change func(st *State, now time.Time) (bool, error)) (*State, Result, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		st, etag, err := s.read(ctx)
		if err != nil {
			return nil, Result{}, err
		}
		now := s.cfg.Now().UTC()
		first := st.Version == 0
		if first {
			st.Window, st.Event = s.cfg.Window, s.cfg.Event
			st.TargetDuration = max(1, int(math.Ceil(s.cfg.SegmentSeconds-0.0005)))
			if s.cfg.SegmentSeconds <= 0 {
				st.TargetDuration = 0 // from the segments, below
			}
		}
		before := countSkipped(st)
		changed, err := change(st, now)
		if err != nil {
			return st, Result{Version: st.Version}, err
		}
		res := Result{}
		if !changed {
			res.Version, res.Published = st.Version, st.published()
			return st, res, s.writePlaylists(ctx, st)
		}
		for _, seg := range st.Segments {
			if seg.Skipped == "" {
				st.TargetDuration = max(st.TargetDuration, int(math.Round(math.Round(seg.Duration*1000)/1000)))
			}
		}
		st.TargetDuration = max(st.TargetDuration, 1)
		st.resolveGaps(now, s.gapTimeout(st), st.Ended)
		res.Skipped = countSkipped(st) - before
		st.Version++
		data, err := json.MarshalIndent(st, "", " ")
		if err != nil {
			return nil, Result{}, err
		}
		opts := storage.WriterOptions{ContentType: "application/json"}
		if first {
			opts.IfNoneMatch = true
		} else {
			opts.IfMatch = etag
		}
		err = s.b.WriteAll(ctx, StateName, data, opts)
		if errors.Is(err, storage.ErrPrecondition) || errors.Is(err, storage.ErrExists) {
			// Someone else wrote first: re-read, merge, try again.
			if err := s.cfg.Sleep(ctx, time.Duration(rand.IntN(20)+1)*time.Millisecond); err != nil {
				return nil, Result{}, err
			}
			continue
		}
		if err != nil {
			return nil, Result{}, fmt.Errorf("writing %s: %w", StateName, err)
		}
		res.Version, res.Published = st.Version, st.published()
		return st, res, s.writePlaylists(ctx, st)
	}
	return nil, Result{}, ErrContention
}

func countSkipped(st *State) int {
	n := 0
	for _, seg := range st.Segments {
		if seg.Skipped != "" {
			n++
		}
	}
	return n
}

// Publish records a transcoded segment (its files already written) and
// updates the playlists. renditions must match the stream's (the first
// segment sets them). A segment already recorded gives Duplicate; one of an
// ended stream ErrEnded; one before the first segment ErrLate.
func (s *Stream) Publish(ctx context.Context, seg Segment, renditions []Rendition) (Result, error) {
	if len(seg.Bytes) != len(renditions) {
		return Result{}, fmt.Errorf("segment %d: %d sizes for %d renditions", seg.Seq, len(seg.Bytes), len(renditions))
	}
	dup := false
	_, res, err := s.update(ctx, func(st *State, now time.Time) (bool, error) {
		dup = false
		if st.find(seg.Seq) >= 0 {
			dup = true
			return false, nil
		}
		if err := st.accepts(seg.Seq); err != nil {
			return false, err
		}
		if st.Version == 0 {
			st.FirstSeq = seg.Seq
		}
		switch {
		case len(st.Renditions) == 0: // the first published segment (earlier ones may have been skipped)
			st.Renditions = renditions
		case !sameRenditions(st.Renditions, renditions):
			return false, ErrMismatch
		}
		if seg.CC != nil && len(seg.CC) != len(renditions) {
			return false, fmt.Errorf("segment %d: continuity counters for %d renditions, want %d", seg.Seq, len(seg.CC), len(renditions))
		}
		seg.Skipped, seg.At = "", now
		st.insert(seg)
		st.keepNewestCC()
		return true, nil
	})
	res.Duplicate = dup
	return res, err
}

// Skip records that segment seq failed for good, so the playlists go on
// past it (with a discontinuity) instead of waiting.
func (s *Stream) Skip(ctx context.Context, seq int64, reason string) (Result, error) {
	if reason == "" {
		reason = "failed"
	}
	dup := false
	_, res, err := s.update(ctx, func(st *State, now time.Time) (bool, error) {
		dup = false
		if st.find(seq) >= 0 {
			dup = true
			return false, nil
		}
		if err := st.accepts(seq); err != nil {
			return false, err
		}
		if st.Version == 0 {
			st.FirstSeq = seq
		}
		st.insert(Segment{Seq: seq, Skipped: reason, At: now})
		return true, nil
	})
	res.Duplicate = dup
	return res, err
}

// End ends the stream: it waits up to GapTimeout for missing segments, skips
// those still missing, appends EXT-X-ENDLIST to the live playlists and
// writes the VOD playlists. Ending an ended stream rewrites nothing new.
func (s *Stream) End(ctx context.Context) (Result, error) {
	for {
		st, err := s.Read(ctx)
		if err != nil {
			return Result{}, err
		}
		if st.Ended {
			break
		}
		// Record the gaps (a no-op write when there are none).
		probe := *st
		probe.Segments = append([]Segment(nil), st.Segments...)
		timeout := s.gapTimeout(st)
		probe.resolveGaps(s.cfg.Now().UTC(), timeout, false)
		oldest := probe.oldestGap()
		if oldest.IsZero() {
			break
		}
		wait := timeout - s.cfg.Now().Sub(oldest)
		if wait <= 0 {
			break
		}
		if len(st.Gaps) == 0 { // make the gap's start durable before waiting on it
			if _, _, err := s.update(ctx, func(*State, time.Time) (bool, error) { return true, nil }); err != nil {
				return Result{}, err
			}
		}
		if err := s.cfg.Sleep(ctx, min(wait, time.Second)); err != nil {
			return Result{}, err
		}
	}
	st, res, err := s.update(ctx, func(st *State, now time.Time) (bool, error) {
		if st.Ended {
			return false, nil
		}
		st.Ended, st.EndedAt = true, now
		return true, nil
	})
	if err != nil {
		return res, err
	}
	return res, s.writeVOD(ctx, st)
}

func sameRenditions(a, b []Rendition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Width != b[i].Width || a[i].Height != b[i].Height {
			return false
		}
	}
	return true
}

// versionPrefix starts the comment line that carries the state version of
// a playlist (a '#' line that is not a tag is a comment, RFC 8216 4.1).
const versionPrefix = "# hlsfleet-state-version: "

// playlistVersion reads the state version a playlist was made from, or -1.
func playlistVersion(data []byte) int64 {
	for line := range bytes.Lines(data) {
		if rest, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte(versionPrefix)); ok {
			if v, err := strconv.ParseInt(string(rest), 10, 64); err == nil {
				return v
			}
		}
	}
	return -1
}

// MediaPlaylist returns rendition ri's live playlist for st.
func (st *State) MediaPlaylist(ri int) *hls.MediaPlaylist {
	segs, disc, _ := st.run()
	p := &hls.MediaPlaylist{Type: hls.Live, IndependentSegments: true, EndList: st.Ended, TargetDuration: st.TargetDuration}
	if st.Event {
		p.Type = hls.Event
	}
	for i, seg := range segs {
		p.AppendWindow(hls.Segment{URI: seg.URI, Duration: seg.Duration, Discontinuity: disc[i]}, st.windowFor())
	}
	return p
}

func (st *State) windowFor() int {
	if st.Event {
		return 0
	}
	return st.Window
}

// VODPlaylist returns rendition ri's full playlist of the whole event and
// its segments' sizes.
func (st *State) VODPlaylist(ri int) (*hls.MediaPlaylist, []int64) {
	segs, disc, _ := st.run()
	p := &hls.MediaPlaylist{Type: hls.VOD, IndependentSegments: true, EndList: true, TargetDuration: st.TargetDuration}
	var sizes []int64
	for i, seg := range segs {
		p.Segments = append(p.Segments, hls.Segment{URI: seg.URI, Duration: seg.Duration, Discontinuity: disc[i]})
		if ri < len(seg.Bytes) {
			sizes = append(sizes, seg.Bytes[ri])
		} else {
			sizes = append(sizes, 0)
		}
	}
	return p, sizes
}

func encodeVersioned(p *hls.MediaPlaylist, version int64) []byte {
	return append(p.Encode(), []byte(versionPrefix+strconv.FormatInt(version, 10)+"\n")...)
}

// writePlaylists brings every rendition's live playlist up to st, then
// creates the master if there is none.
func (s *Stream) writePlaylists(ctx context.Context, st *State) error {
	segs, _, _ := st.run()
	if len(segs) == 0 || len(st.Renditions) == 0 {
		return nil // nothing playable yet
	}
	for ri, r := range st.Renditions {
		key := r.Name + "/" + PlaylistName
		if err := s.writeVersioned(ctx, key, encodeVersioned(st.MediaPlaylist(ri), st.Version), st.Version); err != nil {
			return err
		}
	}
	m := &hls.Master{Version: 3, IndependentSegments: true}
	for _, r := range st.Renditions {
		m.Variants = append(m.Variants, hls.Variant{
			URI: r.Name + "/" + PlaylistName, Bandwidth: r.Bandwidth, AverageBandwidth: r.AverageBandwidth,
			Codecs: r.Codecs, Width: r.Width, Height: r.Height, FrameRate: r.FrameRate,
		})
	}
	err := s.b.WriteAll(ctx, MasterName, m.Encode(), storage.WriterOptions{IfNoneMatch: true})
	if err != nil && !errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("writing %s: %w", MasterName, err)
	}
	return nil
}

// writeVersioned replaces key with data only while the stored playlist was
// made from an older state version, by compare-and-swap.
func (s *Stream) writeVersioned(ctx context.Context, key string, data []byte, version int64) error {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		old, attrs, err := s.b.ReadAllAttrs(ctx, key)
		opts := storage.WriterOptions{}
		switch {
		case errors.Is(err, storage.ErrNotExist):
			opts.IfNoneMatch = true
		case err != nil:
			return fmt.Errorf("reading %s: %w", key, err)
		default:
			if playlistVersion(old) >= version {
				return nil // a newer (or the same) view is already there
			}
			opts.IfMatch = attrs.ETag
		}
		err = s.b.WriteAll(ctx, key, data, opts)
		if errors.Is(err, storage.ErrPrecondition) || errors.Is(err, storage.ErrExists) {
			continue
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", key, err)
		}
		return nil
	}
	return fmt.Errorf("%w: %s", ErrContention, key)
}

// writeVOD writes each rendition's VOD playlist and the VOD master, with
// bandwidths measured over the whole event.
func (s *Stream) writeVOD(ctx context.Context, st *State) error {
	if st == nil || !st.Ended || len(st.Renditions) == 0 {
		return nil
	}
	if segs, _, _ := st.run(); len(segs) == 0 {
		return nil
	}
	m := &hls.Master{Version: 3, IndependentSegments: true}
	for ri, r := range st.Renditions {
		p, sizes := st.VODPlaylist(ri)
		key := r.Name + "/" + VODName
		if err := s.b.WriteAll(ctx, key, p.Encode(), storage.WriterOptions{}); err != nil {
			return fmt.Errorf("writing %s: %w", key, err)
		}
		peak, _ := hls.PeakBitrate(p.Segments, sizes)
		m.Variants = append(m.Variants, hls.Variant{
			URI: key, Bandwidth: int64(math.Ceil(peak)), AverageBandwidth: int64(math.Ceil(hls.AverageBitrate(p.Segments, sizes))),
			Codecs: r.Codecs, Width: r.Width, Height: r.Height, FrameRate: r.FrameRate,
		})
	}
	if err := s.b.WriteAll(ctx, VODName, m.Encode(), storage.WriterOptions{}); err != nil {
		return fmt.Errorf("writing %s: %w", VODName, err)
	}
	return nil
}
