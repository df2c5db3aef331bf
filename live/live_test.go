package live

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/pipeline/hls"
	"github.com/hlsfleet/hlsfleet/storage"
)

var rends = []Rendition{
	{Name: "720p", Width: 1280, Height: 720, FrameRate: 30, Codecs: []string{"avc1.64001f", "mp4a.40.2"}, Bandwidth: 3_400_000, AverageBandwidth: 3_128_000},
	{Name: "360p", Width: 640, Height: 360, FrameRate: 30, Codecs: []string{"avc1.64001e", "mp4a.40.2"}, Bandwidth: 900_000, AverageBandwidth: 828_000},
}

func seg(seq int64) Segment {
	return Segment{Seq: seq, URI: fmt.Sprintf("%d.ts", seq), Duration: 2, Start: 10 + 2*float64(seq), Bytes: []int64{800_000, 200_000}}
}

// fakeClock is a clock whose Sleep advances it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return nil
}

func (c *fakeClock) Advance(d time.Duration) { _ = c.Sleep(context.Background(), d) }

func open(t *testing.T, cfg Config) (*Stream, *storage.Bucket) {
	t.Helper()
	b, err := storage.Open(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if cfg.SegmentSeconds == 0 {
		cfg.SegmentSeconds = 2
	}
	return Open(b, cfg), b
}

func media(t *testing.T, b *storage.Bucket, key string) *hls.MediaPlaylist {
	t.Helper()
	data, err := b.ReadAll(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := hls.ParseMedia(data)
	if err != nil {
		t.Fatalf("%s: %v\n%s", key, err, data)
	}
	return p
}

func uris(p *hls.MediaPlaylist) string {
	var s []string
	for _, seg := range p.Segments {
		u := seg.URI
		if seg.Discontinuity {
			u = "|" + u
		}
		s = append(s, u)
	}
	return strings.Join(s, " ")
}

func TestWindowEndAndVOD(t *testing.T) {
	ctx := context.Background()
	s, b := open(t, Config{Window: 6})
	for seq := int64(0); seq < 10; seq++ {
		res, err := s.Publish(ctx, seg(seq), rends)
		if err != nil {
			t.Fatal(err)
		}
		if res.Published != int(seq+1) {
			t.Fatalf("after %d: published %d", seq, res.Published)
		}
		if seq == 0 {
			if ok, _ := b.Exists(ctx, MasterName); !ok {
				t.Fatal("no master after the first segment")
			}
		}
		p := media(t, b, "360p/index.m3u8")
		if want := max(0, seq+1-6); p.MediaSequence != want {
			t.Fatalf("after %d: media sequence %d, want %d", seq, p.MediaSequence, want)
		}
		if p.EndList || p.Type != hls.Live {
			t.Fatalf("live playlist type %q endlist %v", p.Type, p.EndList)
		}
	}
	res, err := s.Publish(ctx, seg(3), rends)
	if err != nil || !res.Duplicate {
		t.Fatalf("republishing 3: %+v %v, want a duplicate", res, err)
	}
	if _, err := s.End(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range rends {
		p := media(t, b, r.Name+"/index.m3u8")
		if got, want := uris(p), "4.ts 5.ts 6.ts 7.ts 8.ts 9.ts"; got != want || !p.EndList || p.MediaSequence != 4 {
			t.Fatalf("%s live after end: %q endlist %v seq %d", r.Name, got, p.EndList, p.MediaSequence)
		}
		v := media(t, b, r.Name+"/vod.m3u8")
		if got, want := uris(v), "0.ts 1.ts 2.ts 3.ts 4.ts 5.ts 6.ts 7.ts 8.ts 9.ts"; got != want || v.Type != hls.VOD || !v.EndList {
			t.Fatalf("%s vod: %q type %q", r.Name, got, v.Type)
		}
	}
	data, err := b.ReadAll(ctx, VODName)
	if err != nil {
		t.Fatal(err)
	}
	m, err := hls.ParseMaster(data)
	if err != nil || len(m.Variants) != 2 || m.Variants[0].URI != "720p/vod.m3u8" || m.Variants[0].Bandwidth != 3_200_000 {
		t.Fatalf("vod master %+v %v", m, err)
	}
	if _, err := s.Publish(ctx, seg(10), rends); !errors.Is(err, ErrEnded) {
		t.Fatalf("segment after the end: %v, want ErrEnded", err)
	}
}

func TestEventKeepsEverySegment(t *testing.T) {
	ctx := context.Background()
	s, b := open(t, Config{Event: true, Window: 3})
	for seq := int64(5); seq < 12; seq++ {
		if _, err := s.Publish(ctx, seg(seq), rends); err != nil {
			t.Fatal(err)
		}
	}
	p := media(t, b, "720p/index.m3u8")
	if p.Type != hls.Event || p.MediaSequence != 0 || len(p.Segments) != 7 || p.Segments[0].URI != "5.ts" {
		t.Fatalf("event playlist %q type %q seq %d", uris(p), p.Type, p.MediaSequence)
	}
	if _, err := s.Publish(ctx, seg(4), rends); !errors.Is(err, ErrLate) {
		t.Fatalf("a segment before the first: %v, want ErrLate", err)
	}
}

// Workers racing on one stream, in any order, never lose a segment: each
// lost compare-and-swap re-reads and merges.
func TestRacingWorkersLoseNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const n = 40
	seqs := rand.Perm(n)
	// Segment 0 first, so it is the stream's first; the rest race.
	for i, v := range seqs {
		if v == 0 {
			seqs[0], seqs[i] = seqs[i], seqs[0]
		}
	}
	b0, err := storage.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b0.Close()
	if _, err := Open(b0, Config{Event: true, SegmentSeconds: 2, GapTimeout: time.Hour}).Publish(ctx, seg(0), rends); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			b, err := storage.Open(ctx, "file://"+dir) // one bucket per worker, like separate processes
			if err != nil {
				errs <- err
				return
			}
			defer b.Close()
			s := Open(b, Config{Event: true, SegmentSeconds: 2, GapTimeout: time.Hour})
			for i := 1 + w; i < n; i += 4 {
				if _, err := s.Publish(ctx, seg(int64(seqs[i])), rends); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, err := Open(b0, Config{}).Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Segments) != n || st.Version != n {
		t.Fatalf("state has %d segments at version %d, want %d", len(st.Segments), st.Version, n)
	}
	p := media(t, b0, "720p/index.m3u8")
	if len(p.Segments) != n {
		t.Fatalf("playlist lists %d of %d segments: %s", len(p.Segments), n, uris(p))
	}
	for i, sg := range p.Segments {
		if sg.URI != fmt.Sprintf("%d.ts", i) {
			t.Fatalf("segment %d is %s", i, sg.URI)
		}
	}
}

// A zombie's older view never replaces a newer playlist.
func TestOlderViewNeverClobbers(t *testing.T) {
	ctx := context.Background()
	s, b := open(t, Config{})
	for seq := int64(0); seq < 3; seq++ {
		if _, err := s.Publish(ctx, seg(seq), rends); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := *st
	old.Segments = old.Segments[:1]
	old.Version = 1
	if err := s.writePlaylists(ctx, &old); err != nil {
		t.Fatal(err)
	}
	if p := media(t, b, "720p/index.m3u8"); len(p.Segments) != 3 {
		t.Fatalf("an older view replaced the playlist: %s", uris(p))
	}
	data, _ := b.ReadAll(ctx, "720p/index.m3u8")
	if v := playlistVersion(data); v != 3 {
		t.Fatalf("playlist version %d, want 3", v)
	}
}

func TestSkipAddsDiscontinuity(t *testing.T) {
	ctx := context.Background()
	s, b := open(t, Config{Window: 10})
	for seq := int64(0); seq < 8; seq++ {
		var res Result
		var err error
		if seq == 4 {
			res, err = s.Skip(ctx, seq, "corrupt input")
		} else {
			res, err = s.Publish(ctx, seg(seq), rends)
		}
		if err != nil {
			t.Fatal(err)
		}
		if seq == 4 && res.Skipped != 1 {
			t.Fatalf("skip counted %d", res.Skipped)
		}
	}
	p := media(t, b, "720p/index.m3u8")
	if got, want := uris(p), "0.ts 1.ts 2.ts 3.ts |5.ts 6.ts 7.ts"; got != want {
		t.Fatalf("playlist %q, want %q", got, want)
	}
}

// A missing segment holds the playlist back until GapTimeout, then is
// skipped by the next update; End skips what is still missing.
func TestGapTimeout(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, b := open(t, Config{Window: 10, GapTimeout: 6 * time.Second, Now: clk.Now, Sleep: clk.Sleep})
	for _, seq := range []int64{0, 1, 3} {
		if _, err := s.Publish(ctx, seg(seq), rends); err != nil {
			t.Fatal(err)
		}
		clk.Advance(2 * time.Second)
	}
	if got := uris(media(t, b, "720p/index.m3u8")); got != "0.ts 1.ts" {
		t.Fatalf("with 2 missing: %q", got)
	}
	if _, err := s.Publish(ctx, seg(4), rends); err != nil { // 2 s after 3: not yet
		t.Fatal(err)
	}
	if got := uris(media(t, b, "720p/index.m3u8")); got != "0.ts 1.ts" {
		t.Fatalf("before the timeout: %q", got)
	}
	clk.Advance(4 * time.Second)
	res, err := s.Publish(ctx, seg(6), rends) // 6 s after 2 was first missed
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 1 {
		t.Fatalf("skipped %d, want 1", res.Skipped)
	}
	if got := uris(media(t, b, "720p/index.m3u8")); got != "0.ts 1.ts |3.ts 4.ts" {
		t.Fatalf("after the timeout: %q", got)
	}
	// 5 is missing; End waits for it (the fake clock moves), then skips it.
	start := clk.Now()
	res, err = s.End(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 1 || clk.Now().Sub(start) < 6*time.Second {
		t.Fatalf("end skipped %d after %v", res.Skipped, clk.Now().Sub(start))
	}
	p := media(t, b, "720p/index.m3u8")
	if got := uris(p); got != "0.ts 1.ts |3.ts 4.ts |6.ts" || !p.EndList {
		t.Fatalf("after end: %q endlist %v", got, p.EndList)
	}
}

// A stream whose very first segment fails goes on from the next one.
func TestFirstSegmentSkipped(t *testing.T) {
	ctx := context.Background()
	s, b := open(t, Config{})
	if _, err := s.Skip(ctx, 0, "corrupt"); err != nil {
		t.Fatal(err)
	}
	for seq := int64(1); seq < 4; seq++ {
		if _, err := s.Publish(ctx, seg(seq), rends); err != nil {
			t.Fatalf("segment %d after a skipped first one: %v", seq, err)
		}
	}
	if got := uris(media(t, b, "720p/index.m3u8")); got != "1.ts 2.ts 3.ts" {
		t.Fatalf("playlist %q", got)
	}
	if ok, _ := b.Exists(ctx, MasterName); !ok {
		t.Fatal("no master")
	}
}

// The continuity counters a segment ended with reach the next segment's job
// through Check; only the newest segment keeps them in stream.json, and a
// segment after a skipped one (a discontinuity) starts afresh.
func TestContinuityCarriedToNextSegment(t *testing.T) {
	s, b := open(t, Config{})
	ctx := context.Background()
	withCC := func(seq int64) Segment {
		g := seg(seq)
		g.CC = []map[uint16]uint8{{0: uint8(seq), 0x100: 7}, {0: uint8(seq), 0x100: 3}}
		return g
	}
	if _, cont, err := s.Check(ctx, 0); err != nil || cont != nil {
		t.Fatalf("Check(0) on a new stream = %v, %v; want no counters", cont, err)
	}
	for seq := range int64(3) {
		if _, err := s.Publish(ctx, withCC(seq), rends); err != nil {
			t.Fatal(err)
		}
	}
	dup, cont, err := s.Check(ctx, 3)
	if err != nil || dup {
		t.Fatalf("Check(3) = %v, %v", dup, err)
	}
	if cont["720p"][0] != 2 || cont["720p"][0x100] != 7 || cont["360p"][0x100] != 3 || len(cont) != 2 {
		t.Errorf("Check(3) counters %v, want segment 2's per rendition", cont)
	}
	if dup, cont, err := s.Check(ctx, 2); !dup || cont != nil || err != nil {
		t.Errorf("Check(2) = %v, %v, %v; want a duplicate", dup, cont, err)
	}
	st, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range st.Segments {
		if (g.CC != nil) != (g.Seq == 2) {
			t.Errorf("segment %d keeps counters %v; only the newest should", g.Seq, g.CC)
		}
	}
	raw, err := b.ReadAll(ctx, StateName)
	if err != nil || strings.Count(string(raw), `"cc"`) != 1 {
		t.Errorf("stream.json holds %d cc fields (%v), want 1", strings.Count(string(raw), `"cc"`), err)
	}

	if _, err := s.Skip(ctx, 3, "bad input"); err != nil {
		t.Fatal(err)
	}
	if _, cont, err := s.Check(ctx, 4); err != nil || cont != nil {
		t.Errorf("Check(4) after a skipped segment = %v, %v; want fresh counters", cont, err)
	}
	bad := withCC(4)
	bad.CC = bad.CC[:1]
	if _, err := s.Publish(ctx, bad, rends); err == nil {
		t.Error("Publish took counters for one rendition of two")
	}
}
