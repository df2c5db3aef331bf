package jobexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/chunks"
	"github.com/hlsfleet/hlsfleet/storage"
)

// TestPlanVOD: a VOD job longer than two chunks is planned, not
// transcoded; its redelivery finds the same plan, and reports it sent once
// it is; a short one, or one that asks for no chunks, is transcoded in one
// pass.
func TestPlanVOD(t *testing.T) {
	ctx := context.Background()
	long := testmedia.Generate(t, testmedia.Spec{Width: 160, Height: 90, Duration: 12, FPS: "10", Name: "long"})
	out := t.TempDir()
	cfg := Config{Logger: zaptest.NewLogger(t), ChunkSeconds: 4}
	j := job.New("file://"+long, "file://"+out, job.WithID("movie"), job.WithSegmentSeconds(2))
	ev, err := Exec(ctx, cfg, j, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Published || ev.Planned != 3 || ev.Sent || ev.Chunk == nil || ev.Chunk.Count != 3 ||
		fmt.Sprint(ev.Chunk.Pending) != "[0 1 2]" || ev.Chunk.PlanID == "" {
		t.Fatalf("planned event: %+v (chunk %+v)", ev, ev.Chunk)
	}
	b, err := storage.Open(ctx, "file://"+out)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	store := chunks.Open(b)
	doc, err := store.Load(ctx)
	if err != nil || doc.ID != ev.Chunk.PlanID || doc.Parent != "movie" || doc.Plan.ChunkSeconds != 4 ||
		doc.Source.URL != j.Source || doc.Source.Size == 0 || len(doc.Chunks) != 3 {
		t.Fatalf("chunks.json: %v, %+v", err, doc)
	}
	if ok, _ := b.Exists(ctx, job.MasterName); ok {
		t.Error("a planned job published a master")
	}
	// The redelivery: the same plan, not yet sent; then sent.
	again, err := Exec(ctx, cfg, j, nil)
	if err != nil || again.Chunk == nil || again.Chunk.PlanID != doc.ID || again.Sent {
		t.Fatalf("redelivery: %v, %+v", err, again)
	}
	if err := store.MarkSent(ctx, doc.ID, doc.Round); err != nil {
		t.Fatal(err)
	}
	if sent, err := Exec(ctx, cfg, j, nil); err != nil || !sent.Sent || sent.Planned != 3 {
		t.Fatalf("after MarkSent: %v, %+v", err, sent)
	}

	// The job's own chunk_seconds 0, and the Lambda's single pass, never plan.
	for name, tc := range map[string]struct {
		j   *job.Job
		cfg Config
	}{
		"job says never": {job.New("file://"+long, "file://"+t.TempDir(), job.WithSegmentSeconds(2), job.WithChunkSeconds(0)), cfg},
		"single pass":    {job.New("file://"+long, "file://"+t.TempDir(), job.WithSegmentSeconds(2)), Config{Logger: cfg.Logger, ChunkSeconds: 4, SinglePass: true}},
	} {
		ev, err := Exec(ctx, tc.cfg, tc.j, nil)
		if err != nil || !ev.Published || ev.Planned != 0 {
			t.Errorf("%s: %v, %+v", name, err, ev)
		}
		if _, err := readChunks(t, tc.j.Output); !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("%s: chunks.json: %v", name, err)
		}
	}
}

func readChunks(t *testing.T, output string) (*chunks.Doc, error) {
	t.Helper()
	b, err := storage.Open(context.Background(), output)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	return chunks.Open(b).Load(context.Background())
}

// TestExecChunkNothingToDo: the cases in which a chunk job does no work.
func TestExecChunkNothingToDo(t *testing.T) {
	ctx := context.Background()
	parent := job.New("file:///nonexistent/long.mp4", "file:///x", job.WithID("movie"))
	plan, err := job.PlanChunks(300, 6, 60)
	if err != nil {
		t.Fatal(err)
	}
	setup := func(t *testing.T, change func(s *chunks.Store, d *chunks.Doc, b *storage.Bucket)) *job.Job {
		dir := t.TempDir()
		b, err := storage.Open(ctx, "file://"+dir)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		p := parent.Clone()
		p.Output = "file://" + filepath.ToSlash(dir)
		s := chunks.Open(b)
		d := chunks.New(p, chunks.Source{URL: p.Source, Size: 1}, *plan)
		if _, _, err := s.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		change(s, d, b)
		return job.ChunkJob(p, 2, len(plan.Chunks))
	}
	done := func(s *chunks.Store, d *chunks.Doc, i int) {
		if _, err := s.MarkDone(ctx, d.ID, i, "aaaaaaaaaa", "w", json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{Logger: zaptest.NewLogger(t)}
	for _, tc := range []struct {
		name   string
		change func(s *chunks.Store, d *chunks.Doc, b *storage.Bucket)
		result string
		done   int
	}{
		{"published", func(_ *chunks.Store, _ *chunks.Doc, b *storage.Bucket) {
			_ = b.WriteAll(ctx, job.MasterName, []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/ffffffffff/index.m3u8\n"), storage.WriterOptions{})
		}, job.ChunkSkipped, 0},
		{"plan failed", func(s *chunks.Store, d *chunks.Doc, _ *storage.Bucket) {
			_, _ = s.MarkFailed(ctx, d.ID, 4, "chunk 4 of 5: corrupt")
		}, job.ChunkSkipped, 0},
		{"plan replaced by one of another count", func(_ *chunks.Store, _ *chunks.Doc, b *storage.Bucket) {
			p2, _ := job.PlanChunks(600, 6, 60)
			d2 := chunks.New(parent, chunks.Source{URL: parent.Source, Size: 2}, *p2)
			data, _ := json.Marshal(d2)
			_ = b.WriteAll(ctx, chunks.Name, data, storage.WriterOptions{})
		}, job.ChunkSkipped, 0},
		{"chunk done already", func(s *chunks.Store, d *chunks.Doc, _ *storage.Bucket) {
			done(s, d, 2)
			done(s, d, 0)
		}, job.ChunkDuplicate, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cj := setup(t, tc.change)
			ev, err := Exec(ctx, cfg, cj, nil)
			if err != nil || ev.Published || ev.Chunk == nil || ev.Chunk.Result != tc.result || ev.Chunk.Done != tc.done ||
				ev.Chunk.Index != 2 || ev.Chunk.Count != 5 {
				t.Errorf("Exec = %v, %+v (chunk %+v); want %s with %d done", err, ev, ev.Chunk, tc.result, tc.done)
			}
		})
	}
	t.Run("its own failure, redriven", func(t *testing.T) {
		cj := setup(t, func(s *chunks.Store, d *chunks.Doc, _ *storage.Bucket) {
			done(s, d, 0)
			_, _ = s.MarkFailed(ctx, d.ID, 2, "chunk 2 of 5: corrupt")
			_ = s.MarkSent(ctx, d.ID, 0)
		})
		ev, err := Exec(ctx, cfg, cj, nil)
		if err != nil || ev.Planned != 5 || ev.Sent || ev.Chunk == nil || ev.Chunk.Round != 1 ||
			fmt.Sprint(ev.Chunk.Pending) != "[1 2 3 4]" || ev.Chunk.Done != 1 {
			t.Fatalf("Exec = %v, %+v (chunk %+v); want the plan re-opened in round 1", err, ev, ev.Chunk)
		}
		doc, _ := readChunks(t, cj.Output)
		if len(doc.Failed) != 0 || doc.Round != 1 || doc.Sent {
			t.Errorf("re-opened plan: %+v", doc)
		}
	})
	t.Run("no plan", func(t *testing.T) {
		cj := job.ChunkJob(parent, 2, 5)
		cj.Output = "file://" + filepath.ToSlash(t.TempDir())
		_, err := Exec(ctx, cfg, cj, nil)
		if !errors.Is(err, job.ErrPermanent) {
			t.Errorf("a chunk job without chunks.json: %v, want a permanent error", err)
		}
	})
}
