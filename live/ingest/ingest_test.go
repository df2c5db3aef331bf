package ingest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

func openBucket(t *testing.T) (*storage.Bucket, string) {
	t.Helper()
	url := "file://" + filepath.ToSlash(t.TempDir()) + "/"
	b, err := storage.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, url
}

func openQueue(t *testing.T) *queue.Local {
	t.Helper()
	q, err := queue.OpenLocal(filepath.Join(t.TempDir(), "q"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// Each segment is written at live/<stream>/<start+index>.ts and its job
// sent (source under the target, group = stream, the push's segment
// seconds, window, EVENT and ladder); END goes last, with its own job.
func TestPusherWritesAndSends(t *testing.T) {
	b, target := openBucket(t)
	q := openQueue(t)
	ctx := context.Background()
	p := &pusher{cfg: Config{Stream: "cam", StartSeq: 7, SegmentSeconds: 1.5, Bucket: b, Queue: q,
		Output: "file:///out/cam", Window: 3, Event: true, Ladder: "mobile", Logger: zaptest.NewLogger(t)},
		target: target[:len(target)-1]}
	for i := range 2 {
		if err := p.segment(ctx, pipeline.CutSegment{Index: i, Data: []byte(fmt.Sprintf("seg%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.end(ctx); err != nil {
		t.Fatal(err)
	}
	if p.n != 2 {
		t.Errorf("%d segments counted, want 2", p.n)
	}
	for key, want := range map[string]string{"live/cam/7.ts": "seg0", "live/cam/8.ts": "seg1", "live/cam/END": ""} {
		if got, err := b.ReadAll(ctx, key); err != nil || string(got) != want {
			t.Errorf("%s: %q %v, want %q", key, got, err, want)
		}
	}
	for _, want := range []struct {
		key string
		seq int64
		end bool
	}{{"7.ts", 7, false}, {"8.ts", 8, false}, {"END", 0, true}} {
		ms, err := q.Receive(ctx, 1, 0, time.Minute)
		if err != nil || len(ms) != 1 {
			t.Fatalf("receive: %d messages, %v", len(ms), err)
		}
		j, err := job.Parse(ms[0].Body)
		if err != nil {
			t.Fatal(err)
		}
		l := j.Live
		if ms[0].GroupID != "cam" || j.Source != target+"live/cam/"+want.key || j.Output != "file:///out/cam" ||
			l.Sequence != want.seq || l.End != want.end || l.Window != 3 || !l.Event || j.SegmentSeconds != 1.5 || j.Ladder != "mobile" {
			t.Errorf("job %+v live %+v group %q, want %s", j, l, ms[0].GroupID, want.key)
		}
		if err := q.Ack(ctx, ms[0]); err != nil {
			t.Fatal(err)
		}
	}
}

// A real push, unpaced: a 3 s clip in 1 s segments gives 3 segments and
// END; a bad input fails as an input fault and writes no END.
func TestPush(t *testing.T) {
	clip := testmedia.Generate(t, testmedia.Spec{Width: 160, Height: 120, Duration: 3, Name: "push"})
	b, target := openBucket(t)
	ctx := context.Background()
	n, err := Push(ctx, Config{Input: clip, Stream: "p", SegmentSeconds: 1, StartSeq: 10, Target: target, Bucket: b})
	if err != nil || n != 3 {
		t.Fatalf("Push: %d segments, %v; want 3", n, err)
	}
	for _, key := range []string{"live/p/10.ts", "live/p/11.ts", "live/p/12.ts", "live/p/END"} {
		if ok, err := b.Exists(ctx, key); !ok || err != nil {
			t.Errorf("%s missing (%v)", key, err)
		}
	}
	_, err = Push(ctx, Config{Input: filepath.Join(t.TempDir(), "missing.mp4"), Stream: "q", SegmentSeconds: 1, Target: target, Bucket: b})
	if !errors.Is(err, pipeline.ErrInput) {
		t.Fatalf("a missing input: %v, want an input fault", err)
	}
	if ok, _ := b.Exists(ctx, "live/q/END"); ok {
		t.Error("a failed push wrote END")
	}
}

// A push whose context ends says how many segments it wrote.
func TestPushStopped(t *testing.T) {
	clip := testmedia.Generate(t, testmedia.Spec{Width: 160, Height: 120, Duration: 3, Name: "stopped"})
	b, target := openBucket(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err := Push(ctx, Config{Input: clip, Stream: "s", SegmentSeconds: 1, Target: target, Bucket: b})
	if !errors.Is(err, context.Canceled) || err.Error() != fmt.Sprintf("live push stopped after %d segments: context canceled", n) {
		t.Fatalf("Push: %d, %v; want stopped with context canceled", n, err)
	}
}
